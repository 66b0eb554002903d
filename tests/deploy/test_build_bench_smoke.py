"""bench/build_progress_parser.py runs (tiny size) with real Nix and gets every node's counts right."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require_tool

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_build_progress_bench_smoke():
    require_tool("nix-store", "the benchmark's yardstick is Nix writing its log")
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "build_progress_parser.py"), "--lines", "2000"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "per-node counts ok" in proc.stdout and "ratio parser/nix" in proc.stdout
