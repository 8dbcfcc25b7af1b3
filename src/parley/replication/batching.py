"""How many queue entries one replay pass takes on, per direction.

A full batch on a busy store can run past the pass's deadlines every time (on
the 2-CPU machine at 70 % of saturation, a 500-entry claim on FerretDB ran
past its 5 s deadline pass after pass, and PostgreSQL's backlog took 43 s to
clear): a pass that fails delivers nothing, and its claim is wasted work. So
the size halves after a pass that ran past a deadline, and doubles back after a
quick full one, between a floor and `PARLEY_REPLAY_BATCH`. (A pass that found
less than its size says nothing about how much more the stores can take.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The smallest batch: one chunk of MongoDB bulk writes (`storage/mongo/bulk.py`).
FLOOR = 25
# A full pass that took less than this may take on twice as much next time.
QUICK_SECONDS = 1.0


@dataclass
class BatchSize:
    ceiling: int
    floor: int = FLOOR
    quick: float = QUICK_SECONDS
    current: int = field(init=False)

    def __post_init__(self) -> None:
        self.floor = min(self.floor, self.ceiling)
        self.current = self.ceiling

    def ran_past_deadline(self) -> None:
        self.current = max(self.floor, self.current // 2)

    def finished(self, seconds: float, *, full: bool) -> None:
        if full and seconds < self.quick:
            self.current = min(self.ceiling, self.current * 2)
