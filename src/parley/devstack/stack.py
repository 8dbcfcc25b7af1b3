"""The dev stack: Parley's PostgreSQL and the MongoDB-role server, started from
the project's own code for `make run`, the CLI, the tests and the benchmarks.

    stack = DevStack(Path(".data"))
    stack.start()             # both servers up, databases created
    stack.postgres.process.freeze() / .thaw() / .kill() / .start()
    stack.mongo.process.freeze()   / .thaw() / .kill() / .start()
    stack.stop()
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from parley.devstack.mongo import MongoServer
from parley.devstack.ports import free_port
from parley.devstack.postgres import PostgresServer

DATABASE = "parley"


@dataclass(frozen=True)
class Ports:
    postgres: int
    mongo: int
    mongo_backend: int

    @classmethod
    def load_or_pick(cls, state_file: Path, fixed: Ports | None) -> Ports:
        if state_file.exists():
            return cls(**json.loads(state_file.read_text()))
        ports = fixed or cls(free_port(), free_port(), free_port())
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state_file.write_text(json.dumps(ports.__dict__))
        return ports


DEV_PORTS = Ports(postgres=55432, mongo=57017, mongo_backend=55433)


class DevStack:
    def __init__(self, data_dir: Path, ports: Ports | None = None) -> None:
        self.data_dir = data_dir.resolve()
        chosen = Ports.load_or_pick(self.data_dir / "ports.json", ports)
        self.postgres = PostgresServer(self.data_dir / "postgresql", chosen.postgres)
        self.mongo = MongoServer(self.data_dir / "mongo", chosen.mongo, chosen.mongo_backend)

    @property
    def database_url(self) -> str:
        return self.postgres.url(DATABASE)

    @property
    def mongo_url(self) -> str:
        return self.mongo.url(DATABASE)

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.database_url, "MONGO_URL": self.mongo_url}

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o755)
        self.postgres.start()
        self.postgres.create_database(DATABASE)
        self.mongo.start()

    def stop(self) -> None:
        self.mongo.stop()
        self.postgres.process.stop()
