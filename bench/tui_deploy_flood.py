"""The deploy pane fed 100,000 output lines per second: frame gaps, key-press latency, memory.

A scripted deploy of two demo hosts pours `output` events into the running app (headless, 120x40)
at the given rate for a few seconds, while the host's log view is open. Measured in the same run:
- the largest gap between two painted frames (the pane repaints at 15 Hz, so ~67 ms is the floor),
  and the largest gap between ticks of a 60 Hz timer (event-loop stalls), with the same figures for
  an idle pane as the baseline;
- key-press latency: the time from pressing `down` to the deploy table's cursor having moved;
- memory (RSS) at the middle and at the end of the flood: bounded buffers keep it flat.
Targets: frame gap and key latency under 100 ms, RSS growth in the second half under 20 MB.

    python bench/tui_deploy_flood.py [--rate 100000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual import events  # noqa: E402
from textual.screen import Screen  # noqa: E402

from labtui.runs.events import Output, RunResult, RunStarted, StageChanged  # noqa: E402
from labtui.tui.deploy_pane import DeployScreen, DeployTable  # noqa: E402
from tests.support.frozen import ScriptedDeploy, ScriptedRun, frozen_app  # noqa: E402

NODES = ["grey-area", "printer-pi"]
CHUNK = 1000  # lines per burst; bursts are spaced to hit the rate


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class FrameRecorder:
    """Timestamps of painted frames (the screen's compositor refreshes)."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def install(self, screen: Screen[None]) -> None:
        original = screen._compositor_refresh

        def recorded() -> None:
            original()
            self.times.append(time.perf_counter())

        screen._compositor_refresh = recorded  # type: ignore[method-assign]

    def max_gap(self, start: float, end: float) -> float:
        times = [t for t in self.times if start <= t <= end]
        return max((b - a for a, b in pairwise(times)), default=float("inf"))


async def flood(run: ScriptedRun, rate: int, seconds: float, mid: asyncio.Event) -> int:
    sent = 0
    start = time.perf_counter()
    i = 0
    while (now := time.perf_counter()) - start < seconds:
        due = int((now - start) * rate)
        while sent < due:
            node = NODES[(sent // CHUNK) % 2]
            ts = time.time()
            for _ in range(min(CHUNK, due - sent)):
                run.feed(Output(ts=ts, node=node, stage="build", line=f"building '/nix/store/{i:032d}-pkg.drv'..."))
                sent += 1
                i += 1
        if now - start > seconds / 2:
            mid.set()
        await asyncio.sleep(0.005)
    return sent


async def measure(rate: int, seconds: float) -> dict[str, float]:
    deploy = ScriptedDeploy(time.time)
    app = frozen_app(tempfile.mkdtemp(prefix="labtui-bench-"), deploy=deploy, clock=time.time,
                     animate=True)  # the real refresh timers
    results: dict[str, float] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        for node in NODES:
            app.table.move_to(node)
            await pilot.press("space")
        await pilot.press("D")
        await pilot.pause()
        await pilot.press("enter")
        await deploy.started.wait()
        await pilot.pause()
        run = deploy.runs[-1]
        now = time.time()
        run.feed(RunStarted(ts=now, run_id="bench", method="deploy-rs", nodes=NODES, argv=["deploy"]))
        for node in NODES:
            run.feed(StageChanged(ts=now, node=node, profile="system", stage="build"))
        screen = app.screen
        assert isinstance(screen, DeployScreen)
        frames = FrameRecorder()
        frames.install(screen)
        ticks: list[float] = []
        app.set_interval(1 / 60, lambda: ticks.append(time.perf_counter()))

        def tick_gap(a: float, b: float) -> float:
            ts = [t for t in ticks if a <= t <= b]
            return max((y - x for x, y in pairwise(ts)), default=float("inf"))

        # Baseline: the same pane, no output.
        t0 = time.perf_counter()
        await asyncio.sleep(1.0)
        t1 = time.perf_counter()
        results["idle_frame_gap_ms"] = frames.max_gap(t0, t1) * 1000
        results["idle_tick_gap_ms"] = tick_gap(t0, t1) * 1000

        mid = asyncio.Event()
        rss_start = rss_mb()
        feeder = asyncio.ensure_future(flood(run, rate, seconds, mid))
        latencies = []
        table = screen.query_one(DeployTable)
        await mid.wait()
        rss_mid = rss_mb()
        while not feeder.done():
            before = table.cursor_row
            key = "down" if before == 0 else "up"
            start = time.perf_counter()
            # As the terminal driver does: a Key event into the app's queue (Pilot.press also waits
            # for the app to go idle, which a flooded app never is).
            app.post_message(events.Key(key, None))
            while table.cursor_row == before:
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - start)
            await asyncio.sleep(0.2)
        sent = await feeder
        t2 = time.perf_counter()
        rss_end = rss_mb()
        results["lines_sent"] = sent
        results["rate_achieved"] = sent / seconds
        results["flood_frame_gap_ms"] = frames.max_gap(t1, t2) * 1000
        results["flood_tick_gap_ms"] = tick_gap(t1, t2) * 1000
        results["key_latency_max_ms"] = max(latencies) * 1000 if latencies else float("nan")
        results["key_presses"] = len(latencies)
        results["rss_start_mb"] = rss_start
        results["rss_mid_mb"] = rss_mid
        results["rss_end_mb"] = rss_end
        assert app.deploys.active_run is not None
        view = app.deploys.active_run.nodes[NODES[0]]
        results["buffered_lines_per_host"] = len(view.lines)
        results["backlog_events"] = run.queue.qsize()  # events fed but not yet taken by the app
        run.feed(RunResult(ts=time.time(), outcome="succeeded", exit_code=0))
        await app.deploys.run_done.wait()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=100_000, help="output lines per second")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    r = asyncio.run(measure(args.rate, args.seconds))
    frame_ok = r["flood_frame_gap_ms"] < 100
    key_ok = r["key_latency_max_ms"] < 100
    growth = r["rss_end_mb"] - r["rss_mid_mb"]
    print(f"deploy pane flood: {r['lines_sent']:.0f} lines in {args.seconds:g} s "
          f"({r['rate_achieved']:.0f}/s asked {args.rate}/s)")
    print(f"  largest frame gap: {r['flood_frame_gap_ms']:.0f} ms flooded (target < 100 ms) "
          f"vs {r['idle_frame_gap_ms']:.0f} ms idle "
          f"(ratio {r['flood_frame_gap_ms'] / r['idle_frame_gap_ms']:.2f}x); event-loop stall: "
          f"{r['flood_tick_gap_ms']:.0f} ms vs {r['idle_tick_gap_ms']:.0f} ms idle")
    print(f"  key-press latency (max of {r['key_presses']:.0f}): {r['key_latency_max_ms']:.0f} ms (target < 100 ms)")
    print(f"  RSS: {r['rss_start_mb']:.0f} MB before, {r['rss_mid_mb']:.0f} MB at half-time, {r['rss_end_mb']:.0f} MB "
          f"at the end (+{growth:.1f} MB in the second half; {r['buffered_lines_per_host']:.0f} lines kept per host; "
          f"{r['backlog_events']:.0f} events not yet consumed when the flood stopped)")
    verdicts = {"frame gap < 100 ms": frame_ok, "key latency < 100 ms": key_ok,
                "RSS growth < 20 MB": growth < 20}
    missed = [what for what, ok in verdicts.items() if not ok]
    print("  " + ("OK: all targets met" if not missed else "OVER TARGET: " + ", ".join(missed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
