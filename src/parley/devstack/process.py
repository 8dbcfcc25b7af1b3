"""A local server process that tests can start, stop, kill -9, freeze and thaw.

Signals go to the server's whole process tree, not just its first process:
SIGSTOP on a PostgreSQL postmaster alone would leave its backends answering,
which is not a frozen server, and PostgreSQL's children leave the postmaster's
process group (they call setsid), so a process-group signal would miss them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from parley.devstack.ports import port_open

# Seconds a server gets to stop before it is killed: Ctrl-C of `make run` must
# end everything within five.
STOP_TIMEOUT = 3.0


def signal_tree(root: int, sig: signal.Signals) -> None:
    """Send `sig` to `root` and all its descendants (those already gone are skipped)."""
    # Signal the root first so it cannot fork while its children are signalled.
    for pid in [root, *descendants(root)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class DevStackError(RuntimeError):
    """A local server could not be prepared or started."""


@dataclass
class ManagedProcess:
    name: str
    argv: Sequence[str]
    log_path: Path
    ready: Callable[[], bool]
    user: str | None = None
    env: dict[str, str] | None = None
    startup_timeout: float = 60.0
    # The port it listens on: taken by anyone else before we start, it is an
    # error, never "ready" (that would be someone else's server).
    port: int | None = None
    # PostgreSQL's fast shutdown is SIGINT (SIGTERM waits for clients to leave).
    stop_signal: signal.Signals = signal.SIGTERM
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    frozen: bool = field(default=False, init=False)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running():
            return
        if self.port is not None and port_open(self.port):
            raise DevStackError(
                f"{self.name}: 127.0.0.1:{self.port} is already in use by another program "
                "(another checkout's dev stack?); stop it, or give this one other ports"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=self.user,
                env=self.env,
            )
        self.frozen = False
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise DevStackError(f"{self.name} exited during startup; see {self.log_path}")
            if self.ready():
                return
            time.sleep(0.05)
        raise DevStackError(
            f"{self.name} not ready after {self.startup_timeout}s; see {self.log_path}"
        )

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is not None:
            signal_tree(self._proc.pid, sig)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Graceful stop (`stop_signal` to the group, then SIGKILL after
        `timeout`); a frozen server is thawed first, whoever froze it."""
        if self._proc is None:
            return
        self.frozen = False
        self._signal_group(signal.SIGCONT)
        self._signal_group(self.stop_signal)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._proc = None

    def kill(self) -> None:
        """kill -9 the whole process group, as a crash would."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self._proc.wait()
        self._proc = None
        self.frozen = False

    def freeze(self) -> None:
        """SIGSTOP: the server keeps its sockets open but answers nothing."""
        self._signal_group(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self._signal_group(signal.SIGCONT)
        self.frozen = False

    def restart(self) -> None:
        self.stop()
        self.start()


def _parent_pids() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
    return parents


def descendants(root: int) -> list[int]:
    parents = _parent_pids()
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found
