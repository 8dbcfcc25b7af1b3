"""Replay's lease outlasts the work done under it (issue 12, item 7): a live
worker still writing its batch within the write deadline must not see the
batch claimed by another worker and delivered twice."""

from __future__ import annotations

from parley.replication import replay


def test_the_lease_outlasts_the_claim_and_the_write() -> None:
    assert replay.LEASE_SECONDS > replay.CLAIM_DEADLINE + replay.WRITE_DEADLINE
