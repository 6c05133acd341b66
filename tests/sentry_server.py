"""A small HTTP server on 127.0.0.1 that accepts Sentry envelopes, for end-to-end tests.

sentry-sdk's real HTTP transport posts to ``/api/<project>/envelope/`` with a gzip body; the server
decodes it with sentry-sdk's own envelope parser and keeps every item. It answers 200, or the status
a test sets, to see how a rejection is reported.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sentry_sdk.envelope import Envelope

PUBLIC_KEY = "e2etestpublickey0123456789abcdef"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw_body: bytes
    envelope: Envelope


@dataclass
class SentryServer:
    host: str
    port: int
    status: int = 200
    requests: list[Received] = field(default_factory=list)
    lock: threading.Condition = field(default_factory=threading.Condition)

    @property
    def dsn(self) -> str:
        return f"http://{PUBLIC_KEY}@{self.host}:{self.port}/42"

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            received = list(self.requests)
        found = []
        for request in received:
            for item in request.envelope.items:
                payload = item.payload.json
                if payload is None and item.payload.bytes:
                    payload = json.loads(item.payload.bytes)
                if isinstance(payload, dict):
                    found.append((str(item.type), payload))
        return found

    def events(self) -> list[dict[str, Any]]:
        return [p for kind, p in self.items() if kind == "event"]

    def checkins(self) -> list[dict[str, Any]]:
        return [p for kind, p in self.items() if kind == "check_in"]

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` envelopes arrived (the transport sends from a background thread)."""
        with self.lock:
            self.lock.wait_for(lambda: len(self.requests) >= count, timeout=timeout)

    def all_bodies(self) -> bytes:
        """Every decoded body received, to scan for planted secrets."""
        with self.lock:
            return b"\n".join(r.raw_body for r in self.requests)


@contextmanager
def sentry_server() -> Iterator[SentryServer]:
    state: dict[str, SentryServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            server_state = state["server"]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            encoding = (self.headers.get("Content-Encoding") or "").lower()
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding:
                raise AssertionError(f"unexpected Content-Encoding {encoding!r}")
            received = Received(self.path, dict(self.headers.items()), body, Envelope.deserialize(body))
            if not self.path.endswith("/envelope/"):
                raise AssertionError(f"unexpected path {self.path}")
            with server_state.lock:
                server_state.requests.append(received)
                server_state.lock.notify_all()
            status = server_state.status
            payload = b'{"id":"0"}' if status == 200 else b'{"detail":"rejected by the test server"}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = httpd.server_address[:2]
    state["server"] = SentryServer(host=str(host), port=int(port))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["server"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
