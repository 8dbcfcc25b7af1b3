"""An event below the configured level is dropped before structlog's
processors run (a debug line per database operation would otherwise pay for a
timestamp each), and one at the level still goes out. In a subprocess, as
logging's configuration is process-wide."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = r"""
import structlog
from parley.logging import configure_logging

configure_logging("warning", json=True)
stamped = []
stamp = structlog.processors.TimeStamper.__call__

def counting(self, logger, name, event):
    stamped.append(event["event"])
    return stamp(self, logger, name, event)

structlog.processors.TimeStamper.__call__ = counting
log = structlog.get_logger("parley.test")
log.debug("db_op", op="T")
log.info("request")
log.warning("breaker_opened")
print("stamped", stamped)
"""


def test_events_below_the_level_never_reach_the_processors() -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "stamped ['breaker_opened']" in result.stdout
    assert '"event": "breaker_opened"' in result.stderr
    assert "db_op" not in result.stderr
