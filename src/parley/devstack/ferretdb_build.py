"""Builds the repo's FerretDB launcher (`tools/mongo-compat`) once and caches it.

The cache key is a hash of the launcher's sources and module files, so editing
them rebuilds, and a clean clone builds exactly once (about a minute on two
cores) through the Go module proxy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from parley.devstack.process import DevStackError

LAUNCHER_FILES = ("go.mod", "go.sum", "main.go")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def cache_dir() -> Path:
    configured = os.environ.get("PARLEY_CACHE_DIR")
    base = Path(configured) if configured else Path.home() / ".cache" / "parley"
    return base / "mongo-compat"


def _source_hash(source: Path) -> str:
    digest = hashlib.sha256()
    for name in LAUNCHER_FILES:
        digest.update((source / name).read_bytes())
    return digest.hexdigest()[:16]


def launcher_binary() -> Path:
    """The path of a built launcher, building it first if needed."""
    source = repo_root() / "tools" / "mongo-compat"
    target = cache_dir() / _source_hash(source) / "mongo-compat"
    if target.exists():
        return target
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        raise DevStackError("Go is needed to build the FerretDB launcher; install Go 1.22+")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    result = subprocess.run(
        [go, "build", "-trimpath", "-o", str(partial), "."],
        cwd=source,
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise DevStackError(
            f"building mongo-compat failed: {result.stderr.decode(errors='replace')}"
        )
    partial.rename(target)
    return target
