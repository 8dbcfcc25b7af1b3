"""Local PostgreSQL and MongoDB-role servers for development, tests and benchmarks.

Not used in production, where `DATABASE_URL` and `MONGO_URL` point at managed
servers.
"""

from parley.devstack.process import DevStackError
from parley.devstack.stack import DEV_PORTS, DevStack, Ports

__all__ = ["DEV_PORTS", "DevStack", "DevStackError", "Ports"]
