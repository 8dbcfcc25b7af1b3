"""Helpers shared by the benchmarks: a throwaway dev stack, people and a DM made
by the shared factories (`parley.devstack.factories`), percentiles, the machine
and server description, and writing one section of `docs/BENCHMARKS.md`.

Benchmarks measure and print; they never assert timings.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

from pymongo import AsyncMongoClient

from bench.cpucap import cpus_worth, current_cap
from parley.app import build_state
from parley.devstack import DevStack
from parley.devstack.factories import Person, make_dm, make_person
from parley.devstack.limits import TRAFFIC_LIMITS, raised
from parley.devstack.postgres import pg_bindir
from parley.devstack.process import descendants
from parley.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = REPO / "docs" / "BENCHMARKS.md"
JWT_SECRET = "bench-secret-for-parley-0123456789"
# Settings that only describe where things are, not how they behave.
_NOT_TUNING = {"database_url", "mongo_url", "jwt_secret", "jwt_expiry_seconds", "log_json"}


# -- the stack ----------------------------------------------------------------------


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def bench_stack(prefix: str) -> Iterator[DevStack]:
    """A fresh DevStack in a temp dir, stopped and removed afterwards, also
    when the benchmark is stopped with SIGTERM (`kill`, `timeout`): without a
    handler the process died at once and left its servers running."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"parley-bench-{prefix}-"))
    data_dir.chmod(0o755)
    stack = DevStack(data_dir)
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        stack.start()
        yield stack
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process in (stack.mongo.process, stack.postgres.process):
            if process.frozen:
                process.thaw()
        with contextlib.suppress(Exception):
            stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def bench_settings(stack: DevStack, **env: str) -> Settings:
    """Settings for the stack; every tuning value is the default unless in `env`."""
    os.environ.update(stack.env())
    os.environ["PARLEY_JWT_SECRET"] = JWT_SECRET
    # Every benchmark client connects from 127.0.0.1 and a few accounts send
    # thousands of messages: rate limits would measure the throttle, not the system.
    os.environ.update(raised(TRAFFIC_LIMITS))
    os.environ.update(env)
    return load_settings()


def tuning(settings: Settings) -> dict[str, object]:
    """The behaviour-relevant settings, by environment variable name."""
    out: dict[str, object] = {}
    for name, field in Settings.model_fields.items():
        if name not in _NOT_TUNING:
            out[str(field.validation_alias)] = getattr(settings, name)
    return out


# -- people and a DM -------------------------------------------------------------------


async def make_dm_pair(settings: Settings) -> tuple[Person, Person, uuid.UUID]:
    """Two people and a DM between them (the shared factories), with tokens
    that outlast a long run; the app's replay worker copies the mirror rows to
    MongoDB."""
    state = build_state(settings)
    try:
        ada = await make_person(state, "Ada", token_seconds=4 * 3600)
        bob = await make_person(state, "Bob", token_seconds=4 * 3600)
        return ada, bob, await make_dm(state, ada, bob)
    finally:
        await state.mongo.close()
        await state.postgres.dispose()


# -- direct clients for checking the stores --------------------------------------------


@contextlib.asynccontextmanager
async def raw_clients(
    settings: Settings, pool_size: int = 4, min_size: int = 1
) -> AsyncIterator[tuple[object, AsyncMongoClient[dict[str, object]]]]:
    """An asyncpg pool and a pymongo client of the benchmark's own (not the app's);
    `min_size` 0 for a pool that must not try to reconnect while PostgreSQL is down."""
    import asyncpg

    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(), min_size=min_size, max_size=pool_size
    )
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        settings.mongo_url.get_secret_value(),
        uuidRepresentation="standard",
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        socketTimeoutMS=10000,
    )
    try:
        yield pool, mongo
    finally:
        await mongo.close()
        await pool.close()


async def mongo_answers(url: str) -> str:
    """Whether the MongoDB-role server answers a ping on a fresh connection."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        url, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000, socketTimeoutMS=3000
    )
    started = time.perf_counter()
    try:
        await client.admin.command("ping")
        return f"yes ({(time.perf_counter() - started) * 1000:.0f} ms)"
    except Exception as exc:
        return f"**no** ({type(exc).__name__} after {time.perf_counter() - started:.1f} s)"
    finally:
        await client.close()


# -- CPU by process -----------------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / _TICKS


def _tree(pid: int | None) -> list[int]:
    return [] if pid is None else [pid, *descendants(pid)]


def cpu_by_process(stack: DevStack) -> dict[str, float]:
    """CPU seconds used so far by each server of the stack (its whole process
    tree) and by this Python process (the benchmark and the in-process app)."""
    groups = {
        "Python (benchmark + app)": [os.getpid()],
        "PostgreSQL": _tree(stack.postgres.process.pid),
        f"MongoDB role ({stack.mongo.kind})": _tree(stack.mongo.process.pid),
    }
    if stack.mongo.backend is not None:
        groups["FerretDB's PostgreSQL"] = _tree(stack.mongo.backend.process.pid)
    return {name: _cpu_seconds(pids) for name, pids in groups.items()}


def tree_cpu_seconds(pid: int | None) -> float:
    """CPU seconds used so far by process `pid` and its descendants (0 for None)."""
    return _cpu_seconds(_tree(pid))


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


# -- numbers ------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# -- description of the run ------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = found.group(1).strip() if found else cpu
    ram_gib = 0.0
    with contextlib.suppress(OSError, AttributeError, ValueError):
        found = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        ram_gib = int(found.group(1)) / 1024 / 1024  # type: ignore[union-attr]
    capped = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        cap = current_cap()
        capped = f", **limited to {cpus_worth(cap)}** (`bench.cpucap`)" if cap else ""
    return (
        f"{os.cpu_count()} CPUs ({cpu}){capped}, {ram_gib:.0f} GiB RAM, "
        f"Linux {platform.release()}, Python {platform.python_version()}"
    )


def postgres_version() -> str:
    out = subprocess.run(
        [str(pg_bindir() / "postgres"), "--version"], capture_output=True, check=False
    )
    found = re.search(r"\d+\.\d+", out.stdout.decode())
    return f"PostgreSQL {found.group(0) if found else '?'}"


def ferretdb_version() -> str:
    """FerretDB's version as the launcher's go.mod pins it (the embedded build
    reports "unknown" itself)."""
    go_mod = (REPO / "tools" / "mongo-compat" / "go.mod").read_text()
    found = re.search(r"github.com/FerretDB/FerretDB (v[\w.\-]+)", go_mod)
    return found.group(1) if found else "v1"


async def mongo_server_version(mongo: AsyncMongoClient[dict[str, object]]) -> str:
    info = await mongo.admin.command("buildInfo")
    if "ferretdbVersion" in info:
        return f"FerretDB {ferretdb_version()} (reports MongoDB {info['version']})"
    return f"mongod {info['version']}"


def describe_servers(stack: DevStack, mongo_version: str) -> str:
    kind = stack.mongo.kind
    backend = (
        ", FerretDB PostgreSQL handler on its own PostgreSQL cluster" if kind == "ferretdb" else ""
    )
    return f"{postgres_version()} (Parley's PostgreSQL); MongoDB role: {mongo_version}{backend}"


# -- docs/BENCHMARKS.md ----------------------------------------------------------------

FINDINGS = "## Findings from these runs"
_ORDER = ["## FerretDB storage handler", "## Messages", "## Failover", "## Anti-entropy", FINDINGS]
_TITLE = "# Benchmarks"
_INTRO = (
    "Measured numbers, not timed tests: each script prints its results and the "
    "sections below are copied from real runs on the machine named in each section."
)


def write_section(heading: str, body: str) -> None:
    """Replace (or add) the section `heading` in docs/BENCHMARKS.md, keeping every
    other section; ours go in `_ORDER`, above sections written by others."""
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else f"{_TITLE}\n\n{_INTRO}\n"
    head, sections = _split(text)
    sections[heading] = body.strip() + "\n"
    ours = [h for h in _ORDER if h in sections]
    others = [h for h in sections if h not in _ORDER]
    parts = [head.rstrip() + "\n"] + [f"\n{h}\n\n{sections[h].strip()}\n" for h in ours + others]
    BENCHMARKS_MD.parent.mkdir(parents=True, exist_ok=True)
    BENCHMARKS_MD.write_text("".join(parts))


def read_section(heading: str) -> str | None:
    """The body of section `heading` in docs/BENCHMARKS.md, None if it has none."""
    if not BENCHMARKS_MD.exists():
        return None
    return _split(BENCHMARKS_MD.read_text())[1].get(heading)


def _split(text: str) -> tuple[str, dict[str, str]]:
    head: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] = head
    for line in text.splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line.strip(), [])
        else:
            current.append(line)
    return "\n".join(head), {h: "\n".join(lines) for h, lines in sections.items()}
