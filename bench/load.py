"""A small closed-loop load generator for signed Slack requests (threads, keep-alive connections)."""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from engops.sandbox.slack_driver import sign

Body = Callable[[int], bytes]  # request number -> form body


@dataclass(frozen=True)
class LatencyResult:
    count: int
    errors: int
    p50_ms: float
    p99_ms: float
    throughput: float


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def run_load(
    url: str,
    secret: str,
    body: Body,
    *,
    concurrency: int,
    total: int,
    content_type: str = "application/x-www-form-urlencoded",
) -> LatencyResult:
    target = urlparse(url)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            payload = body(n)
            ts = str(int(time.time()))
            headers = {
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": sign(secret, ts, payload),
            }
            started = time.perf_counter()
            try:
                conn.request("POST", target.path or "/slack/events", payload, headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors += 0 if ok else 1
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = [x * 1000 for x in latencies]
    return LatencyResult(len(ms), errors, statistics.median(ms), percentile(ms, 99), len(ms) / wall)
