"""bench/closure_diff.py runs (3 hosts) with real Nix and finds the one change on every simulated host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require_tool

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_closure_diff_bench_smoke():
    require_tool("nix", "the benchmark evaluates and builds a real flake")
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "closure_diff.py"), "--hosts", "3"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "nginx 1.26.2 → 1.27.0 ok" in proc.stdout and "ratio 3 hosts / 1 host" in proc.stdout
