"""The TUI benchmarks run (tiny sizes): they must keep working; their figures come from `make bench`."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_startup_bench_runs():
    bench = _load("tui_startup")
    labtui, bare = asyncio.run(bench.main_async(hosts=5, rounds=1))
    assert labtui > 0 and bare > 0


def test_flood_bench_runs_and_keeps_memory_bounded():
    bench = _load("tui_deploy_flood")
    r = asyncio.run(bench.measure(rate=5000, seconds=1.0))
    assert r["lines_sent"] > 1000
    assert r["key_presses"] >= 1
    assert r["buffered_lines_per_host"] <= 20_000
