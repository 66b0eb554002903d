"""Smoke run of bench/parallel_deploy.py with tiny sizes (the real figures come from `make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_parallel_deploy_bench_smoke():
    pytest.importorskip("labtui.sim.emulators")
    proc = subprocess.run([sys.executable, "bench/parallel_deploy.py", "--nodes", "2", "--parallel", "2",
                           "--time-scale", "0.01"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert "speed-up over deploy-rs" in proc.stdout, proc.stdout + proc.stderr
    assert "x 1T" in proc.stdout
