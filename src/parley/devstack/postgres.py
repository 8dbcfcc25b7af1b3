"""A disposable or persistent local PostgreSQL 15 cluster.

PostgreSQL refuses to run as root, so when this process is root the cluster is
created and run as the `postgres` OS user on a data directory that user owns.
The server listens on 127.0.0.1 only, with trust authentication (local dev).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from parley.devstack.process import DevStackError, ManagedProcess

SUPERUSER = "postgres"


def pg_bindir() -> Path:
    configured = os.environ.get("PARLEY_PG_BINDIR")
    candidates = [configured] if configured else sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    for candidate in reversed(candidates):
        if candidate and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise DevStackError("PostgreSQL binaries not found; install postgresql or set PARLEY_PG_BINDIR")


def _run_as() -> str | None:
    return "postgres" if os.geteuid() == 0 else None


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid, follow_symlinks=False)


class PostgresServer:
    def __init__(
        self,
        data_dir: Path,
        port: int,
        name: str = "postgresql",
        settings: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.name = name
        self.bindir = pg_bindir()
        self.user = _run_as()
        self.process = ManagedProcess(
            name=name,
            argv=[
                str(self.bindir / "postgres"),
                "-D", str(data_dir / "pgdata"),
                "-p", str(port),
                "-h", "127.0.0.1",
                "-c", "unix_socket_directories=",
                "-c", "fsync=on",
                "-c", "max_connections=300",
                "-c", "shared_buffers=128MB",
                "-c", "log_min_messages=warning",
                *(arg for k, v in (settings or {}).items() for arg in ("-c", f"{k}={v}")),
            ],
            log_path=data_dir / "postgres.log",
            ready=self._accepting,
            port=port,
            stop_signal=signal.SIGINT,
            user=self.user,
        )  # fmt: skip

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _accepting(self) -> bool:
        result = subprocess.run(
            [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def init(self) -> None:
        pgdata = self.data_dir / "pgdata"
        if (pgdata / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o755)
        if self.user:
            _chown_tree(self.data_dir, self.user)
        result = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D", str(pgdata),
                "-U", SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            user=self.user,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise DevStackError(f"initdb failed: {result.stderr.decode(errors='replace')}")

    def start(self) -> None:
        self.init()
        stale = self.data_dir / "pgdata" / "postmaster.pid"
        if stale.exists() and not self.process.running():
            stale.unlink()
        self.process.start()

    def create_database(self, database: str) -> None:
        if not database.isidentifier():
            raise DevStackError(f"not a plain database name: {database!r}")
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'")
        if exists.strip() != "1":
            self.psql(f'CREATE DATABASE "{database}"')

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h", "127.0.0.1",
                "-p", str(self.port),
                "-U", SUPERUSER,
                "-d", database,
                "-tAq",
                "-v", "ON_ERROR_STOP=1",
                "-c", sql,
            ],
            capture_output=True,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise DevStackError(f"psql failed: {result.stderr.decode(errors='replace')}")
        return result.stdout.decode()
