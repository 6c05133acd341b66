"""A real S3-compatible server on 127.0.0.1 for the tests (moto's server mode), and a TCP proxy that cuts
the network in the middle of a backup's upload."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The request that carries a backup's bytes: ``PUT /<bucket>/cicd-...`` (a part of a multipart upload
#: starts the same way). The ``.metadata`` file is written after it.
UPLOAD = re.compile(rb"PUT /[a-z0-9.-]+/cicd-[^ ?]*(?<!\.metadata)[ ?]")


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """Start moto's S3 server on a free port of 127.0.0.1 in a child process (so that its memory is not
    the tests'); yield its endpoint URL. The child says its port once it listens (the handshake) and
    ends when its standard input closes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.s3_server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"moto's server did not start (exit code {process.wait()})")
        yield f"http://{line.split()[-1]}"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=60)
        if process.stdout is not None:
            process.stdout.close()


def _serve() -> None:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()  # returns once the socket listens (moto sets an Event)
    host, port = server.get_host_and_port()
    print(f"listening on {host}:{port}", flush=True)
    sys.stdin.read()  # until the parent closes it
    server.stop()


class CuttingProxy:
    """Forwards TCP connections to ``target`` unchanged until it sees the request that uploads a backup;
    it passes that request's headers and half its body, then closes both sides (the handshake: ``cut`` is
    set) and closes every later connection at once: the network stays down for the rest of the run."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.cut = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._spawn(self._accept)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self.cut.is_set():
                client.close()  # the network is down
                continue
            server = socket.create_connection(self.target)
            self._sockets += [client, server]
            self._spawn(self._upstream, client, server)
            self._spawn(self._downstream, server, client)

    def _downstream(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def _upstream(self, client: socket.socket, server: socket.socket) -> None:
        pending = b""  # bytes held back while they may be the upload's request line or headers
        remaining: int | None = None  # body bytes of the upload still let through before the cut
        try:
            while data := client.recv(65536):
                if remaining is None:
                    pending += data
                    match = UPLOAD.search(pending)
                    end = pending.find(b"\r\n\r\n", match.start()) if match else -1
                    if end < 0:
                        hold = match.start() if match else pending.rfind(b"PUT /")
                        if hold < 0 or (match is None and b"\r\n" in pending[hold:]):
                            hold = len(pending)  # no request line of an upload begins here
                        server.sendall(pending[:hold])
                        pending = pending[hold:]
                        continue
                    headers = pending[match.start() : end].decode("latin-1").lower()
                    length = re.search(r"\ncontent-length: *(\d+)", headers)
                    remaining = max(1, int(length.group(1)) // 2) if length else 1
                    server.sendall(pending[: end + 4])
                    data, pending = pending[end + 4 :], b""
                if len(data) >= remaining:
                    server.sendall(data[:remaining])
                    self._cut(client, server)
                    return
                server.sendall(data)
                remaining -= len(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            server.shutdown(socket.SHUT_WR)

    def _cut(self, client: socket.socket, server: socket.socket) -> None:
        self.cut.set()
        for sock in (client, server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


if __name__ == "__main__":
    _serve()
