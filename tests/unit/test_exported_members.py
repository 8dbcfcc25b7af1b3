"""The resilience toolkit's public surface is exactly its `__all__`."""

from __future__ import annotations

import parley.resilience as resilience


def test_all_public_names_are_exported() -> None:
    public = sorted(name for name in vars(resilience) if not name.startswith("_"))
    assert sorted(resilience.__all__) == public


def test_every_export_exists() -> None:
    for name in resilience.__all__:
        assert hasattr(resilience, name), name
