"""A per-session HTTP proxy that lets the browser reach the payer's own origin and nothing
else. Playwright's routing (engine._fence) refuses the first hop of every request, but
never sees redirects: measured here, a same-origin 302 to another host was followed with
its query string (a password in it would have left). Every byte the context sends goes
through this proxy, so a redirect, a WebSocket or a prefetch to another host is refused
too. Refusals and the hosts let through are reported to the engine for the audit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from urllib.parse import urlsplit

from automations.portal.recipes import origin_of

MAX_HEAD = 64 * 1024
_REFUSED = (b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            b"Content-Length: 42\r\n\r\nBlocked by OffHold: not the payer's site.\n")
_DROP = {b"proxy-connection", b"proxy-authorization", b"connection", b"keep-alive"}

# host[:port], let through?, a top-level page load?
Report = Callable[[str, bool, bool], None]


class OriginFence:
    """One proxy for one browser context: `server` goes into new_context(proxy=...)."""

    def __init__(self, origin: str, report: Report) -> None:
        parts = urlsplit(origin)
        self.origin = origin
        self.host = (parts.hostname or "").lower()
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.report = report
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.server = ""

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.server = f"http://127.0.0.1:{port}"
        return self.server

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a dropped or malformed connection: nothing was forwarded
        except asyncio.CancelledError:
            pass  # closing: asyncio's server callback would log a cancelled handler
        finally:
            if task is not None:
                self._tasks.discard(task)
            with contextlib.suppress(OSError):
                writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > MAX_HEAD:
            return
        request_line, _, rest = head.partition(b"\r\n")
        method, target, version = request_line.decode("latin-1").split(" ", 2)
        headers = [line for line in rest.split(b"\r\n") if line]
        if method.upper() == "CONNECT":  # https and WebSockets: host:port only
            host, _, port_text = target.rpartition(":")
            host = host.strip("[]").lower()
            port = int(port_text or 443)
            netloc = host if port == 443 else f"{host}:{port}"
            if (host, port) != (self.host, self.port):
                self.report(netloc, False, False)
                writer.write(_REFUSED)
                await writer.drain()
                return
            self.report(netloc, True, False)
            up_reader, up_writer = await asyncio.open_connection(host, port)
            writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            await writer.drain()
            await self._pipe(reader, writer, up_reader, up_writer)
            return
        parts = urlsplit(target)
        netloc = parts.netloc.rsplit("@", 1)[-1].lower()
        page_load = any(h.lower().startswith(b"sec-fetch-dest:") and b"document" in h.lower()
                        for h in headers)
        if origin_of(target) != self.origin:
            self.report(netloc or "?", False, page_load)
            writer.write(_REFUSED)
            await writer.drain()
            return
        self.report(netloc, True, page_load)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        kept = [h for h in headers if h.split(b":", 1)[0].strip().lower() not in _DROP]
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        up_writer.write(f"{method} {path} {version}\r\n".encode("latin-1")
                        + b"\r\n".join(kept + [b"Connection: close"]) + b"\r\n\r\n")
        await self._pipe(reader, writer, up_reader, up_writer)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        """Bytes both ways until the server is done (one request per connection)."""
        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            except OSError:
                pass
            finally:
                with contextlib.suppress(OSError):
                    dst.close()

        upload = asyncio.ensure_future(copy(reader, up_writer))
        try:
            await copy(up_reader, writer)
        finally:
            upload.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await upload
