"""In-process counters and gauges, exposed as Prometheus text at `/api/metrics`.

Deliberately tiny (no client library): counters keyed by (outcome, store,
operation), the time spent in each named database operation (the stores report
it through `observe`), and gauges that callers set (breaker state, backlog).
"""

from __future__ import annotations

from collections import Counter


class Metrics:
    def __init__(self) -> None:
        self.operations: Counter[tuple[str, str, str]] = Counter()
        self.gauges: dict[str, float] = {}
        self.seconds: dict[tuple[str, str], float] = {}
        self.calls: Counter[tuple[str, str]] = Counter()
        self.worker_failures: Counter[str] = Counter()

    def count(self, outcome: str, store: str, operation: str, n: int = 1) -> None:
        self.operations[(outcome, store, operation)] += n

    def observe(self, store: str, operation: str, seconds: float, ok: bool) -> None:
        """One named database call finished (`storage.operations.OperationObserver`)."""
        del ok  # outcomes are counted by `count`, where unavailability is known
        key = (store, operation)
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds
        self.calls[key] += 1

    def worker_failed(self, worker: str) -> None:
        self.worker_failures[worker] += 1

    def set_gauge(self, name: str, value: float) -> None:
        self.gauges[name] = value

    def render(self) -> str:
        lines = [
            "# HELP parley_db_operations_total Database operations by outcome, store and name.",
            "# TYPE parley_db_operations_total counter",
        ]
        for (outcome, store, operation), value in sorted(self.operations.items()):
            labels = f'outcome="{outcome}",store="{store}",operation="{operation}"'
            lines.append(f"parley_db_operations_total{{{labels}}} {value}")
        lines += [
            "# HELP parley_db_operation_seconds Time spent in named database operations.",
            "# TYPE parley_db_operation_seconds summary",
        ]
        for (store, operation), calls in sorted(self.calls.items()):
            labels = f'store="{store}",operation="{operation}"'
            total = round(self.seconds[(store, operation)], 6)
            lines.append(f"parley_db_operation_seconds_sum{{{labels}}} {total}")
            lines.append(f"parley_db_operation_seconds_count{{{labels}}} {calls}")
        lines += [
            "# HELP parley_worker_failures_total Background loops that failed and were restarted.",
            "# TYPE parley_worker_failures_total counter",
        ]
        for worker, failures in sorted(self.worker_failures.items()):
            lines.append(f'parley_worker_failures_total{{worker="{worker}"}} {failures}')
        for name, gauge in sorted(self.gauges.items()):
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {gauge}")
        return "\n".join(lines) + "\n"
