"""How many queue entries one replay pass takes on, per direction.

A full batch on a busy store can run past the pass's deadlines every time (on
the 2-CPU machine at 70 % of saturation, a 500-entry claim on FerretDB ran
past its 5 s deadline pass after pass, and PostgreSQL's backlog took 43 s to
clear): a pass that fails delivers nothing, and its claim is wasted work. And
one big pass beside live traffic is one long burst that the users' calls queue
behind. So the size halves after a pass that ran past a deadline or during which
user calls were slow (`ReplayWorker`), and doubles back after a quick full one,
between a floor and `PARLEY_REPLAY_BATCH`. (A pass that found less than its size
says nothing about how much more the stores can take.)
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

    def halve(self) -> None:
        self.current = max(self.floor, self.current // 2)

    def finished(self, seconds: float, *, full: bool) -> None:
        if full and seconds < self.quick:
            self.current = min(self.ceiling, self.current * 2)
