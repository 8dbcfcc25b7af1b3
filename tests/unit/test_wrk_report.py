"""`bench/http.py` reads wrk's report: the latency percentiles come from the
distribution, never from the "+/- Stdev" column that can end in "50%"."""

from __future__ import annotations

from bench.http import parse_wrk

REPORT = """Running 8s test @ http://127.0.0.1:8000/api/rooms
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    36.20ms   20.10ms 200.00ms   62.50%
    Req/Sec   100.00     20.00   150.00     75.99%
  Latency Distribution
     50%   37.80ms
     75%   40.00ms
     90%   50.00ms
     99%    1.02s
  1600 requests in 8.00s, 1.00MB read
  Non-2xx or 3xx responses: 16
"""


def test_percentiles_come_from_the_distribution() -> None:
    load = parse_wrk(REPORT, 8)
    assert load.p50_ms == 37.8
    assert load.p99_ms == 1020.0
    assert load.failed == 16
    assert load.rps == (1600 - 16) / 8
