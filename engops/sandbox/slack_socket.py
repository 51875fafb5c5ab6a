"""Socket Mode for the Slack stand-in: `apps.connections.open` and the WebSocket link it hands out.

Slack's Socket Mode: the app calls `apps.connections.open` with its app-level token (`xapp-…`)
and gets a single-use `wss://…/link/?ticket=…` URL. On that WebSocket (RFC 6455) Slack sends
`hello`, then envelopes — `{"envelope_id", "type": "slash_commands" | "interactive" |
"events_api", "payload", "accepts_response_payload"}` — which the app acknowledges with
`{"envelope_id", "payload"?}` (the payload is what an HTTP app would have answered), and
`disconnect` when the app should open a new connection. `SocketModeServer` is that, on the
standard library, for one app on loopback (`ws://`, no TLS). `SocketDriver` is the SlackDriver
with the socket instead of signed HTTP as its transport, so the same scenario steps and
assertions work in both modes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import secrets
import socket
import socketserver
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BufferedIOBase
from typing import Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.wrappers import Request, Response

from engops.sandbox.base import json_response
from engops.sandbox.slack.api import SlackStandIn, token_refusal
from engops.sandbox.slack.errors import SlackProtocolError
from engops.sandbox.slack_driver import DriverResponse, SlackDriver

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NORMAL, CLOSE_PROTOCOL_ERROR, CLOSE_INVALID_DATA, CLOSE_TOO_BIG = 1000, 1002, 1007, 1009
MAX_MESSAGE = 1 << 20
TICKET_TTL = 30.0  # the link URL is short-lived and single-use; Slack does not document the exact lifetime
ENVELOPE_TYPES = ("slash_commands", "interactive", "events_api")


class WebSocketProtocolError(Exception):
    def __init__(self, message: str, close_code: int = CLOSE_PROTOCOL_ERROR) -> None:
        super().__init__(message)
        self.close_code = close_code


# --------------------------------------------------------------------------------------------
# RFC 6455 framing (server side: frames we send are unmasked, frames we receive must be masked)
# --------------------------------------------------------------------------------------------
def accept_key(client_key: str) -> str:
    return base64.b64encode(hashlib.sha1((client_key + WEBSOCKET_GUID).encode()).digest()).decode()  # noqa: S324


def encode_frame(opcode: int, payload: bytes = b"") -> bytes:
    size = len(payload)
    first = 0x80 | opcode  # FIN: we never fragment
    if size < 126:
        header = struct.pack("!BB", first, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + payload


def _read_exact(rfile: BufferedIOBase, size: int) -> bytes:
    data = rfile.read(size)
    if len(data) != size:
        raise EOFError("connection closed mid-frame")
    return data


def _unmask(data: bytes, key: bytes) -> bytes:
    if not data:
        return data
    mask = (key * (len(data) // 4 + 1))[: len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")).to_bytes(len(data), "big")


def read_frame(rfile: BufferedIOBase) -> tuple[bool, int, bytes]:
    """(fin, opcode, unmasked payload) of the next frame a client sent; EOFError when it hung up."""
    first, second = _read_exact(rfile, 2)
    fin, opcode, masked, size = bool(first & 0x80), first & 0x0F, bool(second & 0x80), second & 0x7F
    if first & 0x70:
        raise WebSocketProtocolError("reserved bits set, but no extension was negotiated")
    if not masked:
        raise WebSocketProtocolError("client frames must be masked")
    if opcode >= OP_CLOSE and (size > 125 or not fin):
        raise WebSocketProtocolError("control frames must be unfragmented and at most 125 bytes")
    if opcode not in (OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
        raise WebSocketProtocolError(f"unknown opcode {opcode:#x}")
    if size == 126:
        (size,) = struct.unpack("!H", _read_exact(rfile, 2))
    elif size == 127:
        (size,) = struct.unpack("!Q", _read_exact(rfile, 8))
    if size > MAX_MESSAGE:
        raise WebSocketProtocolError(f"frame of {size} bytes is too big", CLOSE_TOO_BIG)
    key = _read_exact(rfile, 4)
    return fin, opcode, _unmask(_read_exact(rfile, size), key)


# --------------------------------------------------------------------------------------------
# Connections and acknowledgements
# --------------------------------------------------------------------------------------------
@dataclass
class Ack:
    envelope_id: str
    payload: dict[str, Any] | None  # what the app answered (None for a bare ack)
    elapsed: float  # seconds from sending the envelope to the ack


@dataclass
class _Pending:
    connection: SocketConnection
    sent_at: float
    done: threading.Event = field(default_factory=threading.Event)
    ack: Ack | None = None


class SocketConnection:
    """One app connection after the handshake; its reader runs in the server's handler thread."""

    def __init__(self, server: SocketModeServer, sock: Any, rfile: BufferedIOBase, number: int) -> None:
        self._server = server
        self._sock = sock
        self._rfile = rfile
        self._send_lock = threading.Lock()
        self.number = number
        self.closed = threading.Event()
        self.close_code: int | None = None  # the code the app sent in its close frame, if it sent one
        self.pings = 0
        self.messages: list[Any] = []  # every JSON message the app sent, in order

    def send_json(self, message: dict[str, Any]) -> None:
        self._send(OP_TEXT, json.dumps(message).encode())

    def _send(self, opcode: int, payload: bytes = b"") -> None:
        with self._send_lock:
            self._sock.sendall(encode_frame(opcode, payload))

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Send a close frame and hang up (the SDK's client does not answer close frames)."""
        if self.closed.is_set():
            return
        with contextlib.suppress(OSError):
            self._send(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:120])
        self._hang_up()

    def drop(self) -> None:
        """Hang up without a close frame, as a network failure would."""
        self._hang_up()

    def _hang_up(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the reader

    def run(self) -> None:
        fragments: list[bytes] = []
        fragment_opcode = 0
        try:
            while not self.closed.is_set():
                fin, opcode, data = read_frame(self._rfile)
                if opcode == OP_PING:
                    self.pings += 1
                    self._send(OP_PONG, data)
                elif opcode == OP_PONG:
                    pass
                elif opcode == OP_CLOSE:
                    self.close_code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
                    self.close(self.close_code or CLOSE_NORMAL)
                else:
                    if opcode == OP_CONTINUATION:
                        if not fragments:
                            raise WebSocketProtocolError("continuation frame without a message to continue")
                    elif fragments:
                        raise WebSocketProtocolError("new message before the fragmented one ended")
                    else:
                        fragment_opcode = opcode
                    fragments.append(data)
                    if sum(len(f) for f in fragments) > MAX_MESSAGE:
                        raise WebSocketProtocolError("message too big", CLOSE_TOO_BIG)
                    if fin:
                        message, fragments = b"".join(fragments), []
                        if fragment_opcode == OP_TEXT:
                            self._on_text(message)
        except WebSocketProtocolError as exc:
            self._server.problems.append(f"connection {self.number}: {exc}")
            self.close(exc.close_code, str(exc))
        except (EOFError, OSError, ValueError):
            pass
        finally:
            self._hang_up()
            self._server._connection_ended(self)

    def _on_text(self, raw: bytes) -> None:
        try:
            message = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise WebSocketProtocolError("text frame is not UTF-8", CLOSE_INVALID_DATA) from None
        except json.JSONDecodeError:
            self._server.problems.append(f"connection {self.number}: not JSON: {raw[:200]!r}")
            return
        self.messages.append(message)
        self._server._on_message(self, message)


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------
class _Handler(socketserver.StreamRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        self.server.owner._handle(self.request, self.rfile)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: SocketModeServer, host: str) -> None:
        self.owner = owner
        super().__init__((host, 0), _Handler)


class SocketModeServer:
    """Slack's Socket Mode endpoint for one app. Start with `attach(slack, app_token)`; `stop()` at the end."""

    def __init__(
        self,
        slack: SlackStandIn,
        app_token: str,
        *,
        host: str = "127.0.0.1",
        clock: Callable[[], float] = time.time,
        ticket_ttl: float = TICKET_TTL,
    ) -> None:
        if not app_token.startswith("xapp-"):
            raise ValueError("an app-level token starts with 'xapp-'")
        self.slack = slack
        self.app_token = app_token
        self.clock = clock
        self.ticket_ttl = ticket_ttl
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._tickets: dict[str, float] = {}  # unused ticket -> issued at
        self._live: list[SocketConnection] = []
        self._pending: dict[str, _Pending] = {}
        self.connections: list[SocketConnection] = []  # every connection ever made, oldest first
        self.tickets_issued = 0
        self.problems: list[str] = []  # what the app sent that Slack would refuse or not understand
        self._tcp = _TCPServer(self, host)
        self.host = host
        self.port: int = self._tcp.server_address[1]
        self._thread = threading.Thread(
            target=self._tcp.serve_forever, args=(0.05,), name=f"socket-mode-{self.port}", daemon=True
        )

    @classmethod
    def attach(cls, slack: SlackStandIn, app_token: str, **kwargs: Any) -> SocketModeServer:
        """Start the WebSocket server and register apps.connections.open on the stand-in."""
        server = cls(slack, app_token, **kwargs)
        server._thread.start()
        slack.add_app_level_method("apps.connections.open", server.apps_connections_open)
        return server

    def stop(self) -> None:
        self._tcp.shutdown()
        for connection in self.live_connections():
            connection.close(1001, "going away")
        self._tcp.server_close()
        self._thread.join(timeout=5)

    # --- Web API: apps.connections.open ------------------------------------------------------------
    def apps_connections_open(self, request: Request) -> Response:
        refused = token_refusal(request, self.app_token, self._is_other_token_type)
        if refused is not None:
            return refused
        return json_response({"ok": True, "url": self.issue_url()})

    def _is_other_token_type(self, token: str) -> bool:
        return token in self.slack.tokens or token.startswith(("xoxb-", "xoxp-"))

    def issue_url(self) -> str:
        ticket = secrets.token_urlsafe(24)
        with self._lock:
            self._tickets[ticket] = self.clock()
            self.tickets_issued += 1
        return f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={self.slack.app_id}"

    def _take_ticket(self, target: str) -> bool:
        parts = urlsplit(target)
        ticket = parse_qs(parts.query).get("ticket", [""])[0]
        with self._lock:
            issued = self._tickets.pop(ticket, None)
        return parts.path.rstrip("/") == "/link" and issued is not None and self.clock() - issued <= self.ticket_ttl

    # --- the WebSocket side ---------------------------------------------------------------------------
    def _handle(self, sock: Any, rfile: BufferedIOBase) -> None:
        request_line = rfile.readline(8192).decode("latin-1").rstrip("\r\n")
        try:
            headers = http.client.parse_headers(rfile)
        except http.client.HTTPException:
            _http_refusal(sock, 400, "bad headers")
            return
        method, _, rest = request_line.partition(" ")
        target = rest.rpartition(" ")[0]
        key = headers.get("Sec-WebSocket-Key", "")
        if method != "GET" or "websocket" not in headers.get("Upgrade", "").lower():
            _http_refusal(sock, 400, "not a WebSocket upgrade")
            return
        if "upgrade" not in headers.get("Connection", "").lower() or headers.get("Sec-WebSocket-Version") != "13":
            _http_refusal(sock, 400, "WebSocket version 13 upgrade required")
            return
        if len(_b64decode(key)) != 16:
            _http_refusal(sock, 400, "bad Sec-WebSocket-Key")
            return
        if not self._take_ticket(target):
            _http_refusal(sock, 401, "invalid, used or expired ticket")
            return
        sock.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
            ).encode()
        )
        with self._lock:
            connection = SocketConnection(self, sock, rfile, len(self.connections) + 1)
            self.connections.append(connection)
            live = len(self._live) + 1
        connection.send_json(
            {
                "type": "hello",
                "num_connections": live,
                "debug_info": {"host": "applink-sandbox", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.slack.app_id},
            }
        )
        with self._changed:  # envelopes go only to connections that got their hello
            self._live.append(connection)
            self._changed.notify_all()
        connection.run()

    def _connection_ended(self, connection: SocketConnection) -> None:
        with self._changed:
            if connection in self._live:
                self._live.remove(connection)
            for pending in self._pending.values():
                if pending.connection is connection:
                    pending.done.set()  # lost: the app can no longer ack it on this connection
            self._changed.notify_all()

    def _on_message(self, connection: SocketConnection, message: Any) -> None:
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._lock:
            pending = self._pending.get(envelope_id) if isinstance(envelope_id, str) else None
        if pending is None:
            self.problems.append(f"connection {connection.number}: not an ack of a pending envelope: {message}")
            return
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            self.problems.append(f"envelope {envelope_id}: ack payload is not an object: {payload!r}")
            payload = None
        pending.ack = Ack(str(envelope_id), payload, time.perf_counter() - pending.sent_at)
        pending.done.set()

    # --- what tests do ----------------------------------------------------------------------------------
    def live_connections(self) -> list[SocketConnection]:
        with self._lock:
            return list(self._live)

    def wait_connected(
        self, count: int = 1, timeout: float = 20.0, alive: Callable[[], bool] = lambda: True
    ) -> SocketConnection:
        """Wait until `count` connections were ever made and one is live (hello sent); the newest live one.
        `alive` is polled so a test stops waiting as soon as the app's process died."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.connections) < count or not self._live:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not alive():
                    raise TimeoutError(f"no Socket Mode connection #{count} (made: {len(self.connections)})")
                self._changed.wait(min(remaining, 0.1))
            return self._live[-1]

    def wait_closed(self, connection: SocketConnection, timeout: float = 10.0) -> None:
        if not connection.closed.wait(timeout):
            raise TimeoutError(f"connection {connection.number} still open")

    def envelope(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0) -> dict[str, Any]:
        if kind not in ENVELOPE_TYPES:
            raise ValueError(f"envelope type must be one of {ENVELOPE_TYPES}")
        envelope: dict[str, Any] = {"envelope_id": str(uuid.uuid4()), "type": kind, "payload": payload}
        if kind == "events_api":
            envelope |= {
                "accepts_response_payload": False,
                "retry_attempt": retry_attempt,
                "retry_reason": "timeout" if retry_attempt else "",
            }
        else:
            envelope["accepts_response_payload"] = True
        return envelope

    def deliver(self, envelope: dict[str, Any], timeout: float = 10.0) -> Ack:
        """Send the envelope on the newest live connection and wait for the app's ack."""
        live = self.live_connections()
        if not live:
            raise SlackProtocolError("the app has no Socket Mode connection open")
        connection = live[-1]
        pending = _Pending(connection, time.perf_counter())
        envelope_id = envelope["envelope_id"]
        with self._lock:
            self._pending[envelope_id] = pending
        try:
            connection.send_json(envelope)
            if not pending.done.wait(timeout):
                raise SlackProtocolError(f"no ack for {envelope['type']} envelope {envelope_id} within {timeout}s")
        finally:
            with self._lock:
                self._pending.pop(envelope_id, None)
        if pending.ack is None:
            raise SlackProtocolError(f"connection {connection.number} closed before the ack of {envelope_id}")
        return pending.ack

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every live connection to reconnect, as Slack does before it recycles one."""
        for connection in self.live_connections():
            connection.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-sandbox"}})


def _b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return b""


def _http_refusal(sock: Any, status: int, reason: str) -> None:
    body = reason.encode()
    head = (
        f"HTTP/1.1 {status} {http.client.responses.get(status, '')}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        sock.sendall(head.encode() + body)


# --------------------------------------------------------------------------------------------
# The driver over Socket Mode
# --------------------------------------------------------------------------------------------
class SocketDriver(SlackDriver):
    """SlackDriver whose payloads travel as Socket Mode envelopes; the app's ack payload is handled
    exactly as the HTTP answer would be (a command's reply becomes an ephemeral, a view_submission
    answer updates the modal stack). `raw()`/`signed_headers()` are HTTP-only and not used."""

    def __init__(
        self, server: SocketModeServer, *, clock: Callable[[], float] = time.time, timeout: float = 10.0
    ) -> None:
        super().__init__("", "", server.slack, clock=clock, timeout=timeout)
        self.server = server

    def _send_form(self, fields: dict[str, str]) -> DriverResponse:  # slash commands
        return self._deliver(self.server.envelope("slash_commands", dict(fields)))

    def _send_interaction(self, payload: dict[str, Any]) -> DriverResponse:
        return self._deliver(self.server.envelope("interactive", payload))

    def _send(self, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> DriverResponse:
        # Only events reach here (event(), redeliver()); commands and interactions are overridden above.
        if content_type != "application/json":
            raise SlackProtocolError(f"cannot send {content_type} over Socket Mode")
        retry = int((extra or {}).get("X-Slack-Retry-Num", "0"))
        return self._deliver(self.server.envelope("events_api", json.loads(body), retry_attempt=retry))

    def _deliver(self, envelope: dict[str, Any]) -> DriverResponse:
        ack = self.server.deliver(envelope, self.timeout)
        body = json.dumps(ack.payload).encode() if ack.payload is not None else b""
        headers = {"Content-Type": "application/json"} if ack.payload is not None else {}
        # The payload, as HTTP mode's request_body is, so redeliver() and tests reading it work alike.
        request_body = json.dumps(envelope["payload"]).encode()
        return DriverResponse(200, headers, body, request_body, elapsed=ack.elapsed)
