"""What `bench.failover` holds the system to (the targets of issue #10), what
it records of a run, and how a run is written up in docs/BENCHMARKS.md: one
"### Run N" subsection per run under one introduction.

Rendering only: it runs nothing.
"""

from __future__ import annotations

import collections
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import fmt, markdown_table
from bench.openload import LATE_MS, P99_TARGET_MS, Stats

HEADING = "## Failover"
BASE_RATE = 40.0
SATURATION_SHARE = 0.7
RAMP_FACTOR = 1.25
RAMP_MAX = 1_000.0
CONVERGE_TARGET_S = 5.0
BACKLOG_TARGET_S = 10.0
WEDGE_TARGET_S = 5.0
WEDGE_READERS = 16
BACKLOG_CONCURRENCY = 32


FAULTS = [  # (fault phase, recovery phase, store, fault action, recovery action)
    ("MongoDB frozen", "after MongoDB thaw", "mongo", "freeze", "thaw"),
    ("MongoDB killed", "after MongoDB restart", "mongo", "kill", "start"),
    ("PostgreSQL frozen", "after PostgreSQL thaw", "postgres", "freeze", "thaw"),
    ("PostgreSQL killed", "after PostgreSQL restart", "postgres", "kill", "start"),
]
PHASES = ["before", *(name for fault in FAULTS for name in fault[:2])]


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    rate: float
    stats: Stats
    client_cpu: float  # CPU of the benchmark process (the httpx client), share of one core
    app_cpu: float  # CPU of `parley serve`, share of one core


@dataclass
class RateRun:
    label: str
    rate: float
    phases: dict[str, Stats] = field(default_factory=dict)
    converged: dict[str, float | None] = field(default_factory=dict)
    final: str = ""


@dataclass
class Backlog:
    size: int
    sent: int
    errors: int
    send_seconds: float
    restart_seconds: float
    converge_seconds: float | None
    postgres_ids: int
    mongo_ids: int
    same_ids: bool
    all_acknowledged: bool


@dataclass
class Wedge:
    dm_size: int
    burst: Stats
    opened: int  # breaker_opened lines logged during the burst
    healthy_after: float | None  # seconds after the burst ended
    last_health: str


# -- reporting -------------------------------------------------------------------------------


def or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _met(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def ramp_table(steps: list[Step]) -> str:
    rows = [
        [f"{s.rate:.0f}", s.stats.sends + s.stats.reads, fmt(s.stats.send_p99),
         fmt(s.stats.read_p99), s.stats.failed_cell, fmt(s.stats.late_p99), s.stats.late,
         f"{s.client_cpu:.0%}", f"{s.app_cpu:.0%}", "held" if s.stats.held else "**saturated**"]
        for s in steps
    ]  # fmt: skip
    header = ["rate/s", "requests", "send p99", "read p99", "failed", "launch late p99",
              f"launched >{LATE_MS:.0f} ms late", "client CPU", "app CPU", "target"]  # fmt: skip
    return markdown_table(header, rows)


def phase_table(run: RateRun) -> str:
    header = ["phase", "sends", "send p50", "send p99", "reads", "read p50", "read p99", "failed",
              "launch late p99", "converged (s)", "verdict", "reads served by"]  # fmt: skip
    rows = []
    for phase in PHASES:
        s = run.phases[phase]
        converged: list[str] = []
        ok = s.held
        if phase in run.converged:
            seconds = run.converged[phase]
            converged = [fmt(seconds, 2) if seconds is not None else "not converged"]
            ok = ok and seconds is not None and seconds < CONVERGE_TARGET_S
        rows.append(
            [phase, s.sends, fmt(s.send_p50), fmt(s.send_p99), s.reads, fmt(s.read_p50),
             fmt(s.read_p99), s.failed_cell, fmt(s.late_p99), "".join(converged) or "",
             _met(ok), s.sources]
        )  # fmt: skip
    return markdown_table(header, rows)


def verdicts(runs: list[RateRun], backlog: Backlog, wedge: Wedge) -> list[str]:
    out = []
    for run in runs:
        held = [p for p in PHASES if run.phases[p].held]
        out.append(
            f"- {run.label}: 0 failed DM requests and DM p99 under {P99_TARGET_MS:.0f} ms in "
            f"{len(held)} of {len(PHASES)} phases: {_met(len(held) == len(PHASES))}"
            + ("" if len(held) == len(PHASES) else
               f" (not in: {', '.join(p for p in PHASES if p not in held)})")
        )  # fmt: skip
        slow = {k: v for k, v in run.converged.items() if v is None or v >= CONVERGE_TARGET_S}
        never = sum(v is None for v in run.converged.values())
        times = [v for v in run.converged.values() if v is not None]
        seen = [f"slowest {max(times):.2f} s" if times else ""]
        seen.append(f"{never} of {len(run.converged)} not within the wait" if never else "")
        out.append(
            f"- {run.label}: convergence under {CONVERGE_TARGET_S:.0f} s after every recovery: "
            f"{_met(not slow)} ({'; '.join(x for x in seen if x)})"
        )
    b = backlog
    ok = b.converge_seconds is not None and b.converge_seconds < BACKLOG_TARGET_S and b.same_ids
    out.append(
        f"- Backlog of {b.size:,} DMs converges under {BACKLOG_TARGET_S:.0f} s: {_met(ok)} "
        f"({fmt(or_nan(b.converge_seconds), 1)} s; same ids in both stores: {b.same_ids})"
    )
    w = wedge
    ok = w.healthy_after is not None and w.healthy_after < WEDGE_TARGET_S
    shown = f"{w.healthy_after:.1f} s" if w.healthy_after is not None else "never, within the wait"
    out.append(
        f"- Wedge: breakers closed and health `healthy` within {WEDGE_TARGET_S:.0f} s of the "
        f"burst's end: {_met(ok)} ({shown})"
    )
    for r in runs:
        late = {p: r.phases[p].late_p99 for p in PHASES if r.phases[p].late_p99 > LATE_MS}
        if late:
            worst = max(late, key=lambda p: late[p])
            out.append(
                f"- **The load generator fell behind** at {r.label} (launch p99 over "
                f"{LATE_MS:.0f} ms) in {len(late)} of {len(PHASES)} phases, worst "
                f"{late[worst]:.0f} ms ({worst}): there the latencies include its own lateness."
            )
    return out


def report_run(
    n: int, context: dict[str, str], steps: list[Step], runs: list[RateRun], backlog: Backlog,
    wedge: Wedge,
) -> str:  # fmt: skip
    b, w = backlog, wedge
    saturated = steps[-1]
    phase_sections = "\n\n".join(
        f"#### {run.label}\n\n{phase_table(run)}\n\n{run.final}" for run in runs
    )
    return f"""### Run {n}

{context["when"]}, commit {context["commit"]}.
- Machine: {context["machine"]}
- Servers: {context["servers"]}
- Data: {context["data"]}
- Settings (all defaults): {context["settings"]}

#### Verdict

{chr(10).join(verdicts(runs, backlog, wedge))}
{context["notes"]}

#### Saturation ramp ({context["ramp_step"]} s per step)

{ramp_table(steps)}

Saturation rate: **{saturated.rate:.0f} requests/s**{context["saturation_note"]}; 70 % of it:
{runs[-1].rate:.0f} requests/s.

{phase_sections}

#### Backlog of {b.size:,} DMs

MongoDB killed, {b.size:,} DMs sent through the API with {BACKLOG_CONCURRENCY} concurrent
clients ({b.sent:,} acknowledged, {b.errors} errors, {b.send_seconds:.1f} s,
{b.sent / max(b.send_seconds, 1e-9):.0f} sends/s on PostgreSQL alone), MongoDB restarted
(ready after {b.restart_seconds:.1f} s), then **{fmt(or_nan(b.converge_seconds), 1)} s** until
no replay marker was left in either store. PostgreSQL then held {b.postgres_ids:,} and MongoDB
{b.mongo_ids:,} DMs of the conversation; same ids: {b.same_ids}; every acknowledged send in
both: {b.all_acknowledged}. MongoDB role answering a ping on a fresh connection at the end:
{context["alive"]}.

#### Wedge: {WEDGE_READERS} concurrent history reads of a DM of {w.dm_size:,} messages

{context["wedge_s"]} s of reads: {w.burst.reads:,} reads, p50 {fmt(w.burst.read_p50)} ms,
p99 {fmt(w.burst.read_p99)} ms, failed {w.burst.failed_cell}, served by {w.burst.sources or "-"};
{w.opened} breaker openings logged during the burst. Both breakers closed and `/api/health`
`healthy`: **{fmt(or_nan(w.healthy_after), 1)} s** after the burst ended (last health status
seen: {w.last_health}).
"""


INTRO = f"""How to run: `.venv/bin/python -m bench.failover --run N` (one run, 7-20 minutes;
starts its own PostgreSQL, FerretDB and one `parley serve`, removes them afterwards; records
"Run N" below, replacing an earlier Run N). Issue #10 asks for three runs, all shown.

- Data: 1,000 DM conversations and 100,000 DMs (plus one conversation of 5,000) loaded
  straight into both stores (`bench/dataset.py`); both stores' counts are checked equal first.
- App: one `parley serve` process (uvicorn, one worker) on loopback; Python aiohttp client
  (256 connections) on the same machine (event loop: uvloop). An httpx client was the
  bottleneck after a stall: its per-request cost grows with its open connections.
- Load: open loop, DM sends (no nonce) and history reads (`limit=50`) alternating, spread
  over all the ordinary conversations (the backlog's sends too), so none grows far past the
  others: on FerretDB v1 a page costs what its conversation holds (about 45 ms per 1,000
  messages here), which a real MongoDB serves from its index. The first run (`ccf7a55`, see
  "Findings") sent everything to one conversation, which grew past 20,000. Each request is
  launched on schedule as its own task; latency runs from the scheduled start to the full
  response, so queueing in the app or the client counts.
  "Launch late" is how far behind schedule the generator launched requests; when its p99 is
  over {LATE_MS:.0f} ms the verdict says the generator fell behind. The ramp also shows the CPU
  share (of one core) of the client and of `parley serve`: on 2 CPUs they compete with the
  servers, so a busy client lowers the saturation rate it finds.
- Rates: first a stepped ramp (x{RAMP_FACTOR} per step from {BASE_RATE:.0f}/s); the saturation
  rate is the first rate with p99 over {P99_TARGET_MS:.0f} ms or a failed request in two of
  three steps, each as long as a fault phase (one blip is not saturation, and one lucky step
  is not capacity: with single 5 s steps, a "before" phase at 70 % of the rate found
  already missed its target with no fault at all). Every phase
  then runs at {BASE_RATE:.0f}/s and at {SATURATION_SHARE:.0%} of the saturation rate.
- Targets (issue #10): in every phase 0 failed DM requests and DM p99 (sends and reads) under
  {P99_TARGET_MS:.0f} ms; after every recovery, every replay marker written before it gone
  from both stores within {CONVERGE_TARGET_S:.0f} s under the continuing load; the backlog
  within {BACKLOG_TARGET_S:.0f} s; after the wedge burst, both breakers closed (log and
  `/api/metrics`) and `/api/health` `healthy` within {WEDGE_TARGET_S:.0f} s.
- "Failed" is any answer other than 200/201 (a shed 503 included) or no answer. "Reads served
  by" is the `X-Data-Source` header. A fault phase starts the moment the signal is sent. When
  a recovery has not converged by the end of its phase, the load goes on unmeasured until it
  has (or until the wait ends), so each fault starts from a converged state. Each stage (each
  rate, the backlog, the wedge) starts on a healthy app: when it is not healthy within the wait
  although both servers run, it is restarted, and the verdict says so."""


def merge_runs(previous: str | None, n: int, run_text: str) -> tuple[str, int]:
    """The section with Run `n` replaced or added (runs in order); `n` 0 means the
    next number. Text before the first "### Run" is rewritten as INTRO."""
    runs: dict[int, str] = {}
    if previous:
        for chunk in re.split(r"(?m)^(?=### Run \d+\b)", previous):
            found = re.match(r"### Run (\d+)\b", chunk)
            if found:
                runs[int(found.group(1))] = chunk.strip()
    n = n or max(runs, default=0) + 1
    runs[n] = run_text.replace("### Run 0", f"### Run {n}", 1).strip()
    return INTRO + "\n\n" + "\n\n".join(runs[k] for k in sorted(runs)) + "\n", n


def app_log_summary(log: Path) -> list[str]:
    counts: collections.Counter[str] = collections.Counter()
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            counts["non-JSON line"] += 1
            continue
        event = str(entry.get("event", ""))
        if event != "request":
            key = event if len(event) < 60 else event[:60] + "…"
            counts[f"{entry.get('level', '?')}: {key}"] += 1
    return [f"{n:6d}  {k}" for k, n in counts.most_common(25)]
