"""`parley dev` (what `make run` runs) talks only to servers it started, and
Ctrl-C stops it, and every server it started, within five seconds: with all
well, and with the MongoDB role frozen."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from parley.devstack.ports import free_port
from parley.devstack.process import descendants

STOP_WITHIN = 5.0


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Outside pytest's private temp folders: the servers run as `postgres`."""
    folder = Path(tempfile.mkdtemp(prefix="parley-dev-test-"))
    folder.chmod(0o755)
    yield folder / "data"
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def squatter() -> Iterator[int]:
    """A port someone else's program is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def dev(data_dir: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "parley.cli", "dev", "--data-dir", str(data_dir)]
    return subprocess.Popen(
        [*argv, "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PARLEY_LOG_LEVEL": "warning"},
    )


def ports_file(data_dir: Path, postgres: int, mongo: int, backend: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = {"postgres": postgres, "mongo": mongo, "mongo_backend": backend}
    (data_dir / "ports.json").write_text(json.dumps(ports))


def test_a_taken_api_port_is_refused_before_anything_starts(data_dir: Path, squatter: int) -> None:
    process = dev(data_dir, squatter)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert f"127.0.0.1:{squatter} is already in use" in out
    assert not (data_dir / "postgresql").exists()


def test_a_taken_database_port_is_an_error_not_someone_elses_database(
    data_dir: Path, squatter: int
) -> None:
    ports_file(data_dir, squatter, free_port(), free_port())
    process = dev(data_dir, free_port())
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 1
    assert f"127.0.0.1:{squatter} is already in use by another program" in out


@pytest.mark.parametrize("mongo_state", ["running", "frozen"])
def test_ctrl_c_stops_everything_within_five_seconds(data_dir: Path, mongo_state: str) -> None:
    mongo_port, api_port = free_port(), free_port()
    ports_file(data_dir, free_port(), mongo_port, free_port())
    process = dev(data_dir, api_port, "--workers", "2")
    try:
        _wait_healthy(api_port, process)
        started = [i for i in map(_identity, [process.pid, *descendants(process.pid)]) if i]
        if mongo_state == "frozen":
            for pid in _listening_on(mongo_port, [pid for pid, _ in started]):
                os.kill(pid, signal.SIGSTOP)
        asked = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(STOP_WITHIN + 5)
        left = _still_running(started, asked + STOP_WITHIN)
        took = time.monotonic() - asked
        assert left == [], f"still running after {took:.1f}s: {left}"
        assert took < STOP_WITHIN, f"stopped after {took:.1f}s"
    finally:
        if process.poll() is None:
            for pid in [process.pid, *descendants(process.pid)]:
                os.kill(pid, signal.SIGKILL)
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _wait_healthy(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("parley dev did not become healthy")


def _listening_on(port: int, pids: list[int]) -> list[int]:
    """Those of `pids` whose command line names `port` (the MongoDB role)."""
    found = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if f":{port}".encode() in cmdline:
            found.append(pid)
    return found


def _still_running(started: list[tuple[int, str]], deadline: float) -> list[str]:
    """What of `started` is still alive at `deadline` (checked until then)."""
    while True:
        left = [cmd for pid, cmd in started if _identity(pid) == (pid, cmd)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _identity(pid: int) -> tuple[int, str] | None:
    """A live process as (pid, start time and command line), so that a pid
    reused by another program after ours ended is not taken for ours."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, IndexError):
        return None
    if fields[0] == "Z":
        return None
    return pid, f"{fields[19]} {cmdline}"
