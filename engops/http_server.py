"""The waitress server in front of the bot, with limits that keep slow or oversized clients from taking it down.

waitress reads each request whole in its event loop before a thread sees it, so a client that sends slowly
costs a connection slot, not a thread; its defaults give 100 slots, keep a silent connection for 120 s
(checked every 30 s) and buffer bodies up to 1 GiB. Here a flood of half-open sockets neither fills the
slots nor holds them for minutes, and a body larger than any route takes is refused from its headers, before
a byte of it is read. A client that trickles bytes forever still holds its slot: run the bot behind a
load balancer that buffers whole requests (README, "Running it in production").
"""

from __future__ import annotations

import resource
from typing import Any

from waitress.server import BaseWSGIServer, MultiSocketServer, create_server

from engops.web import MAX_REQUEST_BODY

# Open connections served at once. Each one waiting for its request costs one file descriptor and a few
# kilobytes, so a thousand are cheap; poll() is needed because select() cannot watch descriptors above 1023.
CONNECTION_LIMIT = 1000
FDS_KEPT_FOR_THE_REST = 200  # database connections, provider clients, log files, temporary body files
# Slack, GitLab and health checks send a request whole, at once; a connection silent this long is a
# keep-alive nobody uses or a client that stalled mid-request.
CHANNEL_TIMEOUT_S = 30
CLEANUP_INTERVAL_S = 5  # how often the event loop looks for such connections (a cheap pass over the open ones)
MAX_HEADER_BYTES = 32 * 1024  # nginx's default; Slack's and GitLab's headers are well under 4 KiB
# A body larger than this waits in a temporary file, not in memory: a thousand slow bodies cost 64 MiB at most.
IN_MEMORY_BODY_BYTES = 64 * 1024


def connection_limit() -> int:
    """CONNECTION_LIMIT, or fewer when this process may not open that many files besides its other ones."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return CONNECTION_LIMIT
    return max(1, min(CONNECTION_LIMIT, soft - FDS_KEPT_FOR_THE_REST))


def hardened_server(app: Any, *, host: str, port: int, threads: int) -> BaseWSGIServer | MultiSocketServer:
    return create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="engops",
        clear_untrusted_proxy_headers=True,
        max_request_body_size=MAX_REQUEST_BODY + 1,  # waitress refuses a body as large as its limit
        max_request_header_size=MAX_HEADER_BYTES,
        inbuf_overflow=IN_MEMORY_BODY_BYTES,
        connection_limit=connection_limit(),
        asyncore_use_poll=True,
        channel_timeout=CHANNEL_TIMEOUT_S,
        cleanup_interval=CLEANUP_INTERVAL_S,
    )
