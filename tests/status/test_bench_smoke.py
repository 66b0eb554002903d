"""bench/status_fanout.py runs end to end with tiny sizes (the real figures come from `make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import require_tool

BENCH = Path(__file__).resolve().parents[2] / "bench" / "status_fanout.py"


@pytest.mark.integration
def test_status_fanout_bench_smoke(tmp_path):
    require_tool("ssh", "the benchmark's baseline is the OpenSSH client")
    out = subprocess.run([sys.executable, str(BENCH), "--hosts", "2", "--latency", "0.002", "--repeat", "1",
                          "--cpu-hosts", "2", "--cpu-window", "0.3"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "(a) first complete status" in out.stdout and "ratio" in out.stdout
    assert "(b) steady refresh of 2 hosts" in out.stdout
    assert "(c) polling 2 hosts" in out.stdout
