"""The metrics endpoint: `GET /metrics` answered with a registry in Prometheus' text format.

It runs on the program's own event loop (asyncio streams, no thread), so that the collectors
read the program's state where it lives, without locks; before each scrape an optional
`refresh` coroutine gathers what must be awaited (the engine's store reads).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)

_REQUEST_TIMEOUT_S = 10.0
_MAX_HEADER_BYTES = 16 * 1024

Refresh = Callable[[], Awaitable[None]]


@dataclass
class MetricsEndpoint:
    """A running endpoint; `port` is the one bound (port 0 picks a free one)."""

    server: asyncio.Server
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    async def close(self) -> None:
        self.server.close()
        with contextlib.suppress(Exception):
            await self.server.wait_closed()


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _answer(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    registry: CollectorRegistry,
    refresh: Refresh | None,
) -> None:
    try:
        async with asyncio.timeout(_REQUEST_TIMEOUT_S):
            head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _MAX_HEADER_BYTES:
            raise ValueError("request head too large")
        method, path, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        if method not in ("GET", "HEAD"):
            reply = _response("405 Method Not Allowed", "text/plain", b"GET /metrics\n")
        elif path.split("?", 1)[0] not in ("/metrics", "/"):
            reply = _response("404 Not Found", "text/plain", b"metrics are at /metrics\n")
        else:
            if refresh is not None:
                await refresh()
            body = generate_latest(registry)
            reply = _response("200 OK", CONTENT_TYPE_LATEST, b"" if method == "HEAD" else body)
        writer.write(reply)
        await writer.drain()
    except (
        TimeoutError,
        ValueError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
        ConnectionError,
    ) as error:
        log.debug("metrics request dropped: %s", error)
    except Exception:
        log.exception("metrics scrape failed")
        with contextlib.suppress(Exception):
            writer.write(_response("500 Internal Server Error", "text/plain", b"scrape failed\n"))
            await writer.drain()
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def start_metrics_endpoint(
    host: str, port: int, registry: CollectorRegistry, refresh: Refresh | None = None
) -> MetricsEndpoint:
    """Serves `registry` on http://HOST:PORT/metrics from the running loop. Raises OSError when
    the address cannot be bound."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _answer(reader, writer, registry, refresh)

    server = await asyncio.start_server(handle, host, port, limit=_MAX_HEADER_BYTES)
    bound = server.sockets[0].getsockname()[1]
    return MetricsEndpoint(server, host, int(bound))
