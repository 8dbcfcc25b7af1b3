"""The client's pure modules (message merging, metrics parsing), tested by node's
own test runner; node comes with the machine (Chromium runs the same code)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def test_client_modules_pass_their_node_tests() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed for the client's unit tests")
    result = subprocess.run(
        [node, "--test", *sorted(str(p) for p in (HERE / "js").glob("*.test.mjs"))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout, result.stdout
