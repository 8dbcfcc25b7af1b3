"""A randomized fault checker in the Jepsen style, for `bench/chaos.py` and the
short seeded run in the test suite (tests/chaos).

    cluster.py   PostgreSQL, the MongoDB role and N `parley serve` instances
    workload.py  concurrent clients and WebSocket subscribers, recording a history
    nemesis.py   kill -9, SIGSTOP/SIGCONT and restarts, chosen from a seed
    checks.py    what the history and the final stores must satisfy (pure)
    run.py       one run: set up, load with faults, heal, converge, check
"""
