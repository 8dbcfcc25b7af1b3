"""In-process counters and gauges, exposed as Prometheus text at `/api/metrics`.

Deliberately tiny (no client library): counters keyed by (outcome, store,
operation) plus gauges that callers set (breaker state, replay backlog).
"""

from __future__ import annotations

from collections import Counter


class Metrics:
    def __init__(self) -> None:
        self.operations: Counter[tuple[str, str, str]] = Counter()
        self.gauges: dict[str, float] = {}

    def count(self, outcome: str, store: str, operation: str, n: int = 1) -> None:
        self.operations[(outcome, store, operation)] += n

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
        for name, gauge in sorted(self.gauges.items()):
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {gauge}")
        return "\n".join(lines) + "\n"
