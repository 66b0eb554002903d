"""bench/parser_throughput.py runs (tiny size) and the parser gets the generated run right."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_parser_throughput_bench_smoke():
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "parser_throughput.py"), "--lines", "3000"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "outcomes ok" in proc.stdout and "lines/s" in proc.stdout and "ratio parser/read" in proc.stdout
