"""Browser tests: the sandbox console driven by Playwright in Debian's Chromium.

Each test gets a fresh sandbox (`start_sandbox`, exactly what `engops sandbox` runs, on a free
port) and a fresh browser page. Chromium comes from the distribution (`apt-get install chromium`),
never from `playwright install`. Without it the tests are skipped locally and fail in CI.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from engops.sandbox.run import RunningSandbox, start_sandbox

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
T = TypeVar("T")
SEND_TRIES = 4
WAIT_MS = 90_000  # the bot's work after an ack runs in its worker; the console polls for it. Only bounds a hang:
# the waits end as soon as the page shows the answer, and the bot's own retries may take this long under load


def command_registered(module: str) -> bool:
    """Whether `commands/<module>.py` exists and `register_all` registers it."""
    import commands

    return importlib.util.find_spec(f"commands.{module}") is not None and (
        f"{module}.register(" in inspect.getsource(commands.register_all)
    )


def _browser_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install playwright)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")  # not longer: while Playwright runs, this thread has a running asyncio loop,
def browser() -> Iterator[Any]:  # and tests that start a stack here (DBOS) would fail after the browser tests
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _off_the_loop(work: Callable[[], T]) -> T:
    """Run `work` in a fresh thread: Playwright's sync API keeps an asyncio loop running in this one,
    and DBOS refuses to launch (or register queues) while a loop runs in the calling thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[RunningSandbox]:
    running = _off_the_loop(lambda: start_sandbox(port=0, data_dir=tmp_path / "sandbox"))
    try:
        yield running
    finally:
        _off_the_loop(running.stop)


@dataclass
class Console:
    """A person at the console: what they do, in the words of the page."""

    page: Any  # playwright Page
    sandbox: RunningSandbox

    # --- where and who -----------------------------------------------------------------------------
    def open(self, who: str, where: str = "general") -> None:
        self.page.goto(f"{self.sandbox.url}/?as={who}&c={where}")
        self.expect(self.page.locator("#who")).to_have_value(self.slack_id(who))
        self.page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page

    def be(self, who: str) -> None:
        self.page.select_option("#who", value=self.slack_id(who))

    def slack_id(self, who: str) -> str:
        return self.sandbox.stack.slack.user(who).id

    def channel(self, name: str) -> None:
        self.page.click(f'#sidebar [data-conv="{name}"]')

    def dm(self) -> None:
        self.page.click('#sidebar [data-conv="dm"]')
        self.page.click('[data-tab="messages"]')

    def home(self) -> None:
        self.page.click('#sidebar [data-conv="dm"]')
        self.page.click('[data-tab="home"]')

    def same_document(self) -> bool:
        return bool(self.page.evaluate("window.__sameDocument === true"))

    # --- typing and clicking -------------------------------------------------------------------------
    def send_once(self, text: str) -> None:
        """Type `text` and press Enter, whatever comes of it (for what the console is meant to refuse)."""
        self.page.fill("#composer", text)
        self.page.press("#composer", "Enter")

    def send(self, text: str) -> None:
        """Type `text` and press Enter; told it did not go through (the console's toast: e.g. Slack's "operation
        timed out" when the bot's first ack is slow on a loaded machine), or before the page could send, send it
        again, as a person would."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        action = "command" if text.startswith("/") else "post"
        for _ in range(SEND_TRIES):
            self.page.fill("#composer", text)
            try:
                with self.page.expect_response(lambda r: r.url.endswith(f"/api/{action}"), timeout=15_000) as sent:
                    self.page.press("#composer", "Enter")
            except PlaywrightTimeoutError:
                continue  # the page was not ready to send yet
            if sent.value.json().get("ok"):
                return
        raise AssertionError(f"the console never sent {text!r}")

    def send_for_modal(self, command: str) -> None:
        """Send a slash command that opens a modal; when none opens (the bot was too slow for Slack's 3-second
        trigger on a loaded machine, and said so), send it again, as a person would."""
        from playwright.sync_api import expect

        for attempt in range(SEND_TRIES):
            self.send(command)
            try:
                expect(self.modal).to_have_count(1, timeout=15_000)
                return
            except AssertionError:
                if attempt == SEND_TRIES - 1:
                    raise

    @property
    def modal(self) -> Any:
        return self.page.locator("#modal")

    def field(self, label: str) -> Any:
        return self.modal.locator(".bk-input").filter(has=self.page.locator(".bk-label", has_text=label))

    def fill(self, label: str, text: str) -> None:
        self.field(label).locator("input:not(.hidden), textarea").first.fill(text)

    def type_ahead(self, label: str, query: str, option: str) -> None:
        field = self.field(label)
        field.locator(".typeahead-input").fill(query)
        field.locator(".typeahead-option", has_text=option).first.click()
        self.expect(field.locator(".chip", has_text=option)).to_be_visible()

    def submit(self) -> None:
        self.modal.locator(".modal-submit").click()

    def close_modal(self) -> None:
        self.modal.locator(".modal-close").click()
        self.expect(self.modal).to_have_count(0)

    def message(self, text: str) -> Any:
        """The newest message on screen containing `text`."""
        return self.page.locator("#messages > .msg", has_text=text).last

    def click(self, label: str, within: Any) -> None:
        within.locator(".bk-button", has_text=label).first.click()

    def shortcut(self, text: str, callback_id: str) -> None:
        """Run a message shortcut from the ⋯ menu of the newest message containing `text`. The console re-renders
        as it polls, which closes an open menu; then open it again, as a person would."""
        from playwright.sync_api import Error as PlaywrightError

        for attempt in range(SEND_TRIES):
            message = self.message(text)
            try:
                message.locator(":scope > .msg-body > .msg-head").hover()  # not a reply in its thread
                actions = message.locator(":scope > .msg-actions")
                actions.locator('.msg-more[title="More actions"]').click(timeout=5_000)  # not the 🙂 beside it
                actions.locator(f'[data-shortcut="{callback_id}"]').click(timeout=5_000)
                return
            except PlaywrightError:
                if attempt == SEND_TRIES - 1:
                    raise

    def react(self, text: str, emoji: str) -> None:
        """React with `emoji` (its Slack name) from the 🙂 button of the newest message containing `text`. The
        console re-renders as it polls, which closes an open picker; then open it again, as a person would."""
        from playwright.sync_api import Error as PlaywrightError

        for attempt in range(SEND_TRIES):
            message = self.message(text)
            try:
                message.locator(":scope > .msg-body > .msg-head").hover()  # not a reply in its thread
                actions = message.locator(":scope > .msg-actions")
                actions.locator(".msg-react").click(timeout=5_000)
                actions.locator(f'.emoji-picker [data-emoji="{emoji}"]').click(timeout=5_000)
                return
            except PlaywrightError:
                if attempt == SEND_TRIES - 1:
                    raise

    # --- the stand-ins panel -------------------------------------------------------------------------
    @property
    def panel(self) -> Any:
        return self.page.locator("#panel")

    def tracker(self, project: str) -> Any:
        return self.panel.locator(f'[data-project="{project}"]')

    # --- evidence ------------------------------------------------------------------------------------
    def screenshot(self, name: str, *show: Any) -> None:
        """Save docs/screenshots/<name>.png, after scrolling each of `show` into view."""
        from playwright.sync_api import Error as PlaywrightError

        for locator in show:
            for attempt in range(SEND_TRIES):
                try:  # the console re-renders as it polls: an element found may be replaced before it is scrolled to
                    locator.scroll_into_view_if_needed()
                    break
                except PlaywrightError:
                    if attempt == SEND_TRIES - 1:
                        raise
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))

    @staticmethod
    def expect(locator: Any) -> Any:
        from playwright.sync_api import expect

        return expect(locator)


@pytest.fixture
def console(browser: Any, sandbox: RunningSandbox) -> Iterator[Console]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        yield Console(page, sandbox)
    finally:
        context.close()
    assert not page_errors, f"JavaScript errors in the console: {page_errors}"
