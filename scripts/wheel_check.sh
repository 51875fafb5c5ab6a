#!/usr/bin/env bash
# Builds the project's wheel, installs it with its pinned dependencies into a clean virtual environment, and runs
# the commands from there, in a directory outside the checkout, as someone who ran `pip install engops-bot` would:
# `engops --help`, `engops manifest`, `engops check`, `engops db upgrade`, `engops audit verify`, and
# `engops sandbox` started, used over HTTP and stopped with Ctrl-C (SIGINT). Stops at the first failure.
# Dependencies come from the registry through pip's cache, which makes every run after the first quicker. KEEP_WHEEL_CHECK=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
work=$(mktemp -d -t engops-wheel-check.XXXXXX)
if [ "${KEEP_WHEEL_CHECK:-}" = 1 ]; then echo "== keeping $work"; else trap 'rm -rf "$work"' EXIT; fi
step() { echo "== wheel check [${SECONDS}s]: $*"; }
fail() { echo "wheel check FAILED: $*" >&2; exit 1; }

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || fail "Python 3.11+ is required"
git -C "$checkout" rev-parse --is-inside-work-tree >/dev/null 2>&1 || fail "not a git checkout: cannot tell its files"

step "build the wheel from the checkout's files (tracked and new, not ignored; links kept as links)"
# From a copy: setuptools would leave build/ in the checkout, and a stale build/lib could hide a file the wheel misses.
mkdir "$work/src"
git -C "$checkout" ls-files -z --cached --others --exclude-standard \
  | tar -C "$checkout" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$work/src" -xf -
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$work/src" \
  || fail "the wheel did not build"
wheel=$(ls "$work"/dist/engops_bot-*.whl)

step "install $(basename "$wheel") and its pinned dependencies into that clean virtual environment"
# --no-compile: byte-compiling every dependency is most of an install's time; Python compiles what it imports.
"$work/venv/bin/python" -m pip install --quiet --no-compile "$wheel" || fail "the wheel did not install"

# From here on: the installed console script, in an empty directory, with none of this shell's settings.
mkdir "$work/home"
cd "$work/home"
run() {
  env -i PATH="$work/venv/bin:/usr/bin:/bin" HOME="$work/home" LANG=C.UTF-8 \
    DATABASE_URL="sqlite:///$work/home/engops.db" "$@"
}
engops="$work/venv/bin/engops"

step "engops --help"
run "$engops" --help >/dev/null || fail "engops --help"
installed=$(run "$work/venv/bin/python" -c 'import engops; print(engops.__file__)')
case "$installed" in "$work/venv/"*) ;; *) fail "engops was imported from $installed, not from the wheel" ;; esac

step "engops manifest"
run "$engops" manifest --url https://engops.example.com >manifest.json || fail "engops manifest"

step "engops check, with the example policy shipped in the wheel copied to ./policy.yaml"
run "$work/venv/bin/python" -c \
  'from importlib import resources; print(resources.files("engops.sandbox").joinpath("policy.example.yaml").read_text(), end="")' \
  >policy.yaml || fail "the wheel has no engops/sandbox/policy.example.yaml"
run "$engops" check || fail "engops check"

step "engops db upgrade, engops audit verify (migrations shipped in the wheel)"
run "$engops" db upgrade || fail "engops db upgrade"
run "$engops" audit verify || fail "engops audit verify"

step "engops sandbox: start, wait until the console and the bot answer, Ctrl-C, exit"
run "$work/venv/bin/python" - "$engops" "$work/home/sandbox" <<'PY' || fail "engops sandbox"
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

START_DEADLINE = 120.0  # seconds; the sandbox is ready in about ten
EXIT_DEADLINE = 10.0  # the README's promise: Ctrl-C stops everything

engops, data_dir = sys.argv[1], sys.argv[2]
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
log = open("sandbox.log", "w+")
sandbox = subprocess.Popen(
    [engops, "sandbox", "--port", str(port), "--data-dir", data_dir], stdout=log, stderr=subprocess.STDOUT
)


def give_up(why: str) -> None:
    if sandbox.poll() is None:
        sandbox.kill()
        sandbox.wait()
    log.seek(0)
    sys.exit(f"{why}\n--- engops sandbox said:\n{log.read()[-4000:]}")


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


console = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + START_DEADLINE
while get(f"{console}/api/workspace") != 200:  # 503 while the stack starts
    if sandbox.poll() is not None:
        give_up(f"engops sandbox exited with {sandbox.returncode} before it was ready")
    if time.monotonic() > deadline:
        give_up(f"engops sandbox was not ready after {START_DEADLINE:.0f} s")
    time.sleep(0.2)
if get(console + "/") != 200 or get(console + "/static/app.js") != 200:
    give_up("the console's page or scripts are missing from the wheel")
log.seek(0)
bot = next((line.split()[2] for line in log if line.strip().startswith("the bot")), None)
if bot is None or get(bot.replace("/slack/events", "/readyz")) != 200:
    give_up(f"the bot does not answer /readyz ({bot})")
while "Ctrl-C stops everything" not in open("sandbox.log").read():  # its signal handlers come right after
    time.sleep(0.1)
started = time.monotonic()
sandbox.send_signal(signal.SIGINT)
try:
    sandbox.wait(timeout=EXIT_DEADLINE)
except subprocess.TimeoutExpired:
    give_up(f"engops sandbox was still running {EXIT_DEADLINE:.0f} s after SIGINT")
if sandbox.returncode != 0:
    give_up(f"engops sandbox exited with {sandbox.returncode} after SIGINT")
print(f"   ready, answered, stopped {time.monotonic() - started:.1f} s after SIGINT")
PY

step "passed"
