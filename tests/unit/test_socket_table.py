"""`bench/sockets.py` reads the kernel's socket table: only established
loopback connections to the server's own port count, by their client port."""

from __future__ import annotations

from pathlib import Path

from bench.sockets import client_ports

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
TAIL = "00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0"
ROWS = [
    "0: 00000000:6989 00000000:0000 0A",  # the server listening on 27017
    "1: 0100007F:6989 0100007F:CCE8 01",  # a client on 52456: counted
    "2: 0100007F:6989 0100007F:CCE9 06",  # TIME_WAIT: closed
    "3: 0100007F:CCE8 0100007F:6989 01",  # the client's own end of the first
    "4: 0100007F:1538 0100007F:CCEA 01",  # a connection to PostgreSQL (5432)
]


def test_counts_established_connections_to_the_port_by_client_port(tmp_path: Path) -> None:
    table = tmp_path / "tcp"
    table.write_text("\n".join([HEADER, *(f"   {row} {TAIL}" for row in ROWS)]) + "\n")

    assert client_ports(27017, table) == {0xCCE8}
