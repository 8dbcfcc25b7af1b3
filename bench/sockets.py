"""Client connections to a local server, counted from the kernel's socket
table: for a server that does not count the connections it accepted (FerretDB
v1 has no `serverStatus.connections.totalCreated`).

A thread reads `/proc/net/tcp` every SAMPLE_SECONDS and collects the client
ports of established connections to the server's port; connections opened
while watching are the ports not there when it started. A connection opened
and closed between two samples is missed, so this is a lower bound.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

SAMPLE_SECONDS = 0.01
ESTABLISHED = "01"
LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp prints it


def client_ports(server_port: int, table: Path = Path("/proc/net/tcp")) -> set[int]:
    """Client ports of established loopback connections to `server_port`."""
    ports = set()
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        address, port = local.split(":")
        if state == ESTABLISHED and address == LOOPBACK and int(port, 16) == server_port:
            ports.add(int(remote.split(":")[1], 16))
    return ports


class ConnectionWatch:
    """`with ConnectionWatch(port) as watch: ...`, then `watch.opened`."""

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self._before: set[int] = set()
        self._seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @property
    def opened(self) -> int:
        return len(self._seen - self._before)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self._seen |= client_ports(self.server_port)

    def __enter__(self) -> ConnectionWatch:
        self._before = client_ports(self.server_port)
        self._seen = set(self._before)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
