"""A real `parley serve` process on loopback, for tests and benchmarks that need a
separate app instance (to kill it, or to run several)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from parley.devstack.ports import free_port
from parley.devstack.process import signal_tree
from parley.settings import Settings

# Importing and starting the app takes a few seconds; on a loaded two-core
# machine (a chaos run restarting instances beside other work) far longer.
STARTUP_SECONDS = 60.0


class AppProcess:
    def __init__(
        self,
        settings: Settings,
        log_dir: Path,
        extra_env: dict[str, str] | None = None,
        workers: int = 1,
    ) -> None:
        self._extra_env = extra_env or {}
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._settings = settings
        self._log = log_dir / f"app-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": self._settings.database_url.get_secret_value(),
            "MONGO_URL": self._settings.mongo_url.get_secret_value(),
            "PARLEY_JWT_SECRET": self._settings.jwt_secret.get_secret_value(),
            **self._extra_env,
        }
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "parley.cli",
                    "serve",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        # Serving is enough: health may say "unhealthy" (503) for a while when
        # the stores are still recovering, as after a fault.
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"app exited with {self._proc.returncode}; see {self._log}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"app did not start; see {self._log}")

    def kill(self) -> None:
        """kill -9 the server and its workers, as a crash would."""
        if self._proc is not None:
            self._signal_all(signal.SIGKILL)
            self._proc.wait()
            self._proc = None

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process (its workers are its children), while started."""
        return self._proc.pid if self._proc is not None else None

    def _signal_all(self, sig: signal.Signals) -> None:
        if self._proc is not None:
            signal_tree(self._proc.pid, sig)

    def freeze(self) -> None:
        """SIGSTOP the server and its workers: sockets stay open, nothing answers."""
        self._signal_all(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal_all(signal.SIGCONT)

    def stop(self) -> None:
        if self._proc is not None:
            self.thaw()
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
            self._proc = None
