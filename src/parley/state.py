"""The objects built once per process in the app's lifespan and handed to
handlers through typed dependencies (`parley.deps`). No import-time globals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parley.settings import Settings
from parley.storage.mongo.database import MongoDatabase
from parley.storage.postgres.database import PostgresDatabase

if TYPE_CHECKING:
    from parley.resilience.runtime import Resilience


@dataclass
class AppState:
    settings: Settings
    postgres: PostgresDatabase
    mongo: MongoDatabase
    resilience: Resilience
    # Components added by later layers (resilience, realtime) register here by name.
    extras: dict[str, Any] = field(default_factory=dict)
