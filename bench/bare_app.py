"""The baseline: a bare Bolt app that only acks, served the same way as the bot (waitress, WSGI)."""

from __future__ import annotations

import sys
import threading
from typing import Any

from slack_bolt import Ack, App, BoltRequest
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from waitress.server import create_server
from werkzeug.wrappers import Request, Response


def start_bare_app(signing_secret: str, threads: int = 16, port: int = 0) -> tuple[str, Any]:
    app = App(
        signing_secret=signing_secret,
        client=WebClient(token="xoxb-bare"),
        process_before_response=True,
        token_verification_enabled=False,
        authorize=lambda **kw: AuthorizeResult(enterprise_id=None, team_id=kw.get("team_id"), bot_token="xoxb"),
    )

    @app.command("/engops")
    def ack_only(ack: Ack) -> None:
        ack(text="ok")

    @app.command("/access")
    def ack_access(ack: Ack) -> None:
        ack()

    @app.action("request_approve")
    def ack_click(ack: Ack) -> None:
        ack()

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        bolt = app.dispatch(
            BoltRequest(
                body=request.get_data(as_text=True),
                query=request.query_string.decode(),
                headers={k.lower(): [v] for k, v in request.headers.items()},
            )
        )
        return Response(bolt.body, status=bolt.status)(environ, start_response)

    server = create_server(wsgi, host="127.0.0.1", port=port, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.effective_port}", server  # type: ignore[union-attr]


if __name__ == "__main__":
    # Run as its own process, like the bot under test: `python -m bench.bare_app SECRET PORT`
    import signal

    start_bare_app(sys.argv[1], port=int(sys.argv[2]))
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
