"""The MongoDB-role server: a real `mongod` when one is available, otherwise
FerretDB v1 (through the repo's launcher) backed by its own PostgreSQL cluster.

FerretDB's PostgreSQL handler is used: it pushes scalar equality filters (strings,
numbers, booleans) down to storage, where the SQLite handler pushes down only
`_id`; Parley stores its ids as text, so its lookups are pushed down, and
`ferretdb_indexes` lets that storage answer them from an index (measured in
docs/BENCHMARKS.md, "History cost"). Its PostgreSQL is a separate cluster with its
own process, port and data directory, so the two database roles fail
independently: freezing or killing the MongoDB role never touches Parley's
PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from parley.devstack.ferretdb_build import launcher_binary
from parley.devstack.ferretdb_indexes import install_gin_twins
from parley.devstack.ports import free_port, port_open
from parley.devstack.postgres import PostgresServer
from parley.devstack.process import ManagedProcess

# FerretDB keeps each collection in one table; its planner statistics must follow
# a bulk load within seconds, or lookups plan as scans of a "small" table.
BACKEND_SETTINGS = {"autovacuum_naptime": "2s", "autovacuum_analyze_scale_factor": "0.02"}


def find_mongod() -> str | None:
    return os.environ.get("PARLEY_MONGOD") or shutil.which("mongod")


class MongoServer:
    def __init__(self, data_dir: Path, port: int, backend_port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.backend: PostgresServer | None = None
        mongod = find_mongod()
        if mongod:
            self.kind = "mongod"
            (data_dir / "db").mkdir(parents=True, exist_ok=True)
            argv = [mongod, "--dbpath", str(data_dir / "db"), "--port", str(port)]
            argv += ["--bind_ip", "127.0.0.1"]
        else:
            self.kind = "ferretdb"
            self.backend = PostgresServer(
                data_dir / "backend",
                backend_port or free_port(),
                name="ferretdb-postgresql",
                settings=BACKEND_SETTINGS,
            )
            argv = [
                str(launcher_binary()),
                "-listen", f"127.0.0.1:{port}",
                "-handler", "postgresql",
                "-postgresql-url", self.backend.url("ferretdb"),
            ]  # fmt: skip
        self.process = ManagedProcess(
            name=self.kind,
            argv=argv,
            log_path=data_dir / f"{self.kind}.log",
            ready=self._answers_ping,
            port=port,
        )

    def _answers_ping(self) -> bool:
        if not port_open(self.port):
            return False
        client: MongoClient[dict[str, object]] = MongoClient(
            self.url("admin"), serverSelectionTimeoutMS=500, connectTimeoutMS=500
        )
        try:
            client.admin.command("ping")
            client.parley_readiness.probe.find_one({})
        except PyMongoError:
            return False
        finally:
            client.close()
        return True

    def url(self, database: str) -> str:
        return f"mongodb://127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if self.backend is not None:
            self.backend.start()
            self.backend.create_database("ferretdb")
            install_gin_twins(self.backend, "ferretdb")
        self.process.start()

    def stop(self) -> None:
        self.process.stop()
        if self.backend is not None:
            self.backend.process.stop()
