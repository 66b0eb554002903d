"""Fleet scale: what the TUI (and the status core) cost on demo labs of 20, 50, 100, 200 and 500 hosts.

Each lab is `labtui demo --hosts N`: N simulated hosts over real SSH on loopback, in a process of their
own (so the figures below are the TUI's alone), polled every 5 s, with the ticker moving loads and
journals. The TUI runs in a pseudo-terminal at 120x40 (tests/support/pty_app.py); per lab:

  first paint   in-process, headless: building the app to the first frame showing every host (the
                TUI's own start-up, as bench/tui_startup.py measures it), and in the pty: from starting
                `labtui demo` to the dashboard on screen (imports and the hosts' start included)
  CPU, bytes/s  the TUI process while idle on its dashboard, nobody typing (--window seconds)
  RSS           at the end of that window
  key latency   `j`/`k` pressed while statuses stream in: time until the moved cursor row is written;
                and in-process (headless, a status stream at the fleet's rate): key to painted frame
  sort, filter  `s` (next sort key) and each typed letter of `/web`: time until the header shows it
                (through the pty, and in-process)
  core          `labtui status --json` on the same lab (first complete status, wall time) and
                `labtui status --watch --json` (CPU while it follows the lab for --window seconds); as a
                yardstick, a bare asyncssh client doing only the handshakes and the probe
                (bench/status_scale.py: what the 500 vs 100 ratio is here without anything of labtui)

Goals (issue 15): idle at 200 hosts <= 3% of a core, <= 2 KB/s, RSS <= 120 MB; at 500 hosts <= 5% and
<= 2 KB/s; key latency p99 < 50 ms at 500; first paint <= 1.5x the 50-host figure; sort/filter < 50 ms;
`labtui status` of 500 <= 2x of 100; `status --watch` of 500 <= 5% of a core. Each figure is printed
with its ratio to the 20-host lab (a flat line is the goal). The machine is shared: run it twice.

    python bench/tui_scale.py [--sizes 20,50,100,200,500] [--window 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual import events  # noqa: E402

from bench.status_scale import start_demo, status_and_bare  # noqa: E402
from bench.tui_startup import BareApp, first_paint, fleet, labtui_app  # noqa: E402
from labtui.demo.lab import fleet_specs  # noqa: E402
from labtui.inventory.model import Inventory  # noqa: E402
from labtui.status.model import HostStatus  # noqa: E402
from labtui.tui.assemble import build_app  # noqa: E402
from labtui.tui.fleet import SORT_KEYS  # noqa: E402
from labtui.tui.sources import Sources  # noqa: E402
from tests.support.pty_app import PtyApp, cpu_seconds, rss_mb  # noqa: E402

PYTHON = sys.executable
SIZE = (120, 40)
FIRST_ROW_LINE = 3  # 1-based screen line of the table's first row (topbar, header, rows)


@dataclass
class Figures:
    hosts: int
    paint_ms: float = 0.0  # in-process first paint
    bare_ms: float = 0.0  # a bare DataTable app's, same rows
    pty_paint_s: float = 0.0
    cpu_pct: float = 0.0
    bytes_s: float = 0.0
    rss_mb: float = 0.0
    keys_ms: list[float] = field(default_factory=list)
    sort_ms: list[float] = field(default_factory=list)
    filter_ms: list[float] = field(default_factory=list)
    status_s: float = 0.0
    bare_status_s: float = 0.0  # bench/bare_ssh_fanout.py on the same lab: the floor under status_s
    watch_cpu_pct: float = 0.0
    keys_in_ms: list[float] = field(default_factory=list)  # in-process figures
    sort_in_ms: list[float] = field(default_factory=list)
    filter_in_ms: list[float] = field(default_factory=list)


def private_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("home", "state", "cache", "config", "tmp"):
        (root / name).mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(root / "home"), XDG_STATE_HOME=str(root / "state"), XDG_CACHE_HOME=str(root / "cache"),
               XDG_CONFIG_HOME=str(root / "config"), TMPDIR=str(root / "tmp"), PYTHONPATH=str(ROOT))
    env.pop("NO_COLOR", None)
    return env


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))] if ordered else float("nan")


async def paint_in_process(hosts: int, rounds: int = 3) -> tuple[float, float]:
    inventory, statuses = fleet(hosts)
    await first_paint(lambda: labtui_app(inventory, statuses))  # warm-up
    ours = [await first_paint(lambda: labtui_app(inventory, statuses)) for _ in range(rounds)]
    bare = [await first_paint(lambda: BareApp(statuses)) for _ in range(rounds)]
    return statistics.median(ours) * 1000, statistics.median(bare) * 1000


class StreamingStatus:
    """Every host's status again every 5 s, spread evenly (as the poller sends them), loads moving."""

    def __init__(self, statuses: dict[str, HostStatus]) -> None:
        self.statuses = statuses

    def snapshot(self) -> dict[str, HostStatus]:
        return self.statuses

    async def stream(self):  # type: ignore[no-untyped-def]
        names = list(self.statuses)
        gap = 5.0 / len(names)
        i = 0
        while True:
            await asyncio.sleep(gap)
            st = self.statuses[names[i % len(names)]]
            assert st.load is not None
            yield replace(st, load=(st.load[0] * 1.01 % 8, *st.load[1:]), answered_at=time.time())
            i += 1

    def refresh(self, host: str | None = None) -> None:
        return None


def demo_named_fleet(hosts: int) -> tuple[Inventory, dict[str, HostStatus]]:
    """bench.tui_startup's fleet under the demo lab's host names, so that `/web` selects what it selects in
    the demo (with the bench's own names it selected nothing: an empty table is quick to draw)."""
    inventory, statuses = fleet(hosts)
    names = [spec.name for spec in fleet_specs(hosts)]
    renamed = tuple(replace(h, name=name) for h, name in zip(inventory.hosts, names, strict=True))
    return replace(inventory, hosts=renamed), {
        name: replace(st, host=name) for st, name in zip(statuses.values(), names, strict=True)}


async def latency_in_process(fig: Figures) -> None:
    """Key press to painted frame inside the TUI's process (headless, statuses streaming): the TUI's own
    latency, without the machine's scheduling of two processes and a terminal in between."""
    inventory, statuses = demo_named_fleet(fig.hosts)
    app = build_app(inventory, Sources(status=StreamingStatus(statuses)))
    shown: list[float] = []  # times of the frames that showed what the pending key press asked for
    asked: list[Callable[..., bool]] = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        original = screen._compositor_refresh

        def recorded() -> None:
            original()
            # What the frame painted is the state now: both happen in this one call.
            if asked and asked[0]():
                shown.append(time.perf_counter())

        screen._compositor_refresh = recorded  # type: ignore[method-assign]

        async def press(key: str, changed: Callable[..., bool]) -> float:
            shown.clear()
            asked[:] = [changed]
            start = time.perf_counter()
            app.post_message(events.Key(key, key if len(key) == 1 else None))
            async with asyncio.timeout(30):
                while not shown:
                    await asyncio.sleep(0.0005)
            asked.clear()
            return (shown[0] - start) * 1000

        table = app.table
        for key, step in (("j", 1), ("k", -1)) * 2:
            for _ in range(min(fig.hosts, 30) - 1):
                row = table.cursor_row
                fig.keys_in_ms.append(await press(key, lambda row=row, step=step: table.cursor_row == row + step))
                await asyncio.sleep(0.03)
        for _ in range(6):
            before = app.fleet.sort_key
            fig.sort_in_ms.append(await press("s", lambda before=before: app.fleet.sort_key != before))
            await asyncio.sleep(0.1)
        while app.fleet.sort_key != "name":  # round the sort keys back to the name
            key_before = app.fleet.sort_key
            await press("s", lambda key_before=key_before: app.fleet.sort_key != key_before)
        await pilot.press("slash")
        await pilot.pause()
        for typed in ("w", "we", "web"):
            fig.filter_in_ms.append(await press(typed[-1], lambda typed=typed: app.fleet.filter.text == typed))
            await asyncio.sleep(0.1)


def press(app: PtyApp, key: str, expect: bytes | str, timeout: float = 5.0) -> float:
    """Milliseconds from writing `key` to the answer: `expect` (bytes) in what the program writes after it,
    or `expect` (text) on the screen: until the bytes that put it there were read from the pty (the
    benchmark's own terminal model, in Python, takes a while to take a screenful in)."""
    offset = len(app.output)
    start = time.monotonic()
    app.send(key)
    if isinstance(expect, str):
        return (app.wait_for_screen(expect, timeout) - start) * 1000  # when the bytes came, not when seen
    app.wait_for(expect, timeout, since=offset)
    return (time.monotonic() - start) * 1000


def tui_figures(fig: Figures, env: dict[str, str], window: float) -> None:
    argv = [PYTHON, "-m", "labtui", "demo", "--hosts", str(fig.hosts)]
    started = time.monotonic()
    with PtyApp(argv, env=env, size=SIZE) as app:
        app.wait_for_screen("AGE", 120)
        app.wait_for(b"\x1b[%d;" % (FIRST_ROW_LINE + 1), 60)  # rows drawn below the header
        fig.pty_paint_s = time.monotonic() - started
        time.sleep(8 + fig.hosts / 100)  # every host connected and answered: the steady state
        assert app.proc is not None
        pid = app.proc.pid
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(window)  # the idle window itself
        t1 = time.monotonic()
        fig.cpu_pct = (cpu_seconds(pid) - cpu0) / (t1 - t0) * 100
        fig.bytes_s = app.bytes_between(t0, t1) / (t1 - t0)
        fig.rss_mb = rss_mb(pid)
        # Cursor moves while statuses stream: the new cursor row is written.
        rows_shown = min(fig.hosts, SIZE[1] - FIRST_ROW_LINE - 1)
        for _ in range(2):
            for i in range(1, rows_shown):
                fig.keys_ms.append(press(app, "j", b"\x1b[%d;" % (FIRST_ROW_LINE + i)))
                time.sleep(0.05)
            for i in range(rows_shown - 2, -1, -1):
                fig.keys_ms.append(press(app, "k", b"\x1b[%d;" % (FIRST_ROW_LINE + i)))
                time.sleep(0.05)
        for key in ("state", "load", "mem", "disk", "up", "gen"):
            fig.sort_ms.append(press(app, "s", f"sort {key}"))
            time.sleep(0.2)
        for _ in range(len(SORT_KEYS) - 1 - 6):  # round the sort keys back to the name
            app.send("s")
            time.sleep(0.3)
        app.send("/")
        time.sleep(0.5)  # the filter box is mounted the first time
        for typed in ("w", "we", "web"):
            fig.filter_ms.append(press(app, typed[-1], f"filter {typed} ("))
            time.sleep(0.2)
        app.send("\x1b")
        time.sleep(0.3)
        app.send("q")
        app.wait_exit(30)


async def core_figures(fig: Figures, env: dict[str, str], window: float) -> None:
    """`labtui status` and `status --watch` on the lab the TUI used, served by a DemoLab of our own."""
    demo = await start_demo(env, hosts=fig.hosts)
    try:
        cli_env = {**env, **demo.env}
        argv = [PYTHON, "-m", "labtui", "--flake", str(demo.flake_dir), "status", "--json"]
        fig.status_s, fig.bare_status_s = await status_and_bare(demo, env)
        watch = await asyncio.create_subprocess_exec(*argv[:-1], "--watch", "--json", env=cli_env,
                                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(6 + fig.hosts / 100)  # connected and polling
        cpu0, t0 = cpu_seconds(watch.pid), time.monotonic()
        await asyncio.sleep(window)
        fig.watch_cpu_pct = (cpu_seconds(watch.pid) - cpu0) / (time.monotonic() - t0) * 100
        watch.terminate()
        await watch.wait()
    finally:
        await demo.close()


def report(figures: list[Figures]) -> None:
    base = figures[0]
    by = {f.hosts: f for f in figures}
    load = os.getloadavg()
    print(f"TUI at fleet size, 120x40, idle windows as given; load average {load[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'hosts':>5}  {'CPU %':>12}  {'KB/s':>11}  {'RSS MB':>12}  {'key p99 ms':>13}  "
          f"{'paint ms':>15}  {'pty paint s':>11}  {'sort ms':>7}  {'filter ms':>9}  {'status s':>12}  {'watch %':>7}")
    for f in figures:
        def rel(value: float, base_value: float) -> str:
            return f"{value / base_value:4.1f}x" if base_value else "   - "
        print(f"{f.hosts:>5}  {f.cpu_pct:5.1f} {rel(f.cpu_pct, base.cpu_pct)}  "
              f"{f.bytes_s / 1024:4.2f} {rel(f.bytes_s or 1, base.bytes_s or 1)}  "
              f"{f.rss_mb:5.0f} {rel(f.rss_mb, base.rss_mb)}  "
              f"{p99(f.keys_ms):6.1f} {rel(p99(f.keys_ms), p99(base.keys_ms))}  "
              f"{f.paint_ms:6.0f} {rel(f.paint_ms, base.paint_ms)}  {f.pty_paint_s:11.2f}  "
              f"{max(f.sort_ms):7.1f}  {max(f.filter_ms):9.1f}  "
              f"{f.status_s:6.2f} {rel(f.status_s, base.status_s)}  {f.watch_cpu_pct:7.1f}")
    print("in the TUI's process (headless, statuses streaming): key press to painted frame")
    print(f"{'hosts':>5}  {'keys p50 ms':>11}  {'keys p99 ms':>13}  {'sort max ms':>11}  {'filter max ms':>13}")
    for f in figures:
        print(f"{f.hosts:>5}  {statistics.median(f.keys_in_ms):11.1f}  {p99(f.keys_in_ms):6.1f} "
              f"{p99(f.keys_in_ms) / p99(base.keys_in_ms):4.1f}x  {max(f.sort_in_ms):11.1f}  "
              f"{max(f.filter_in_ms):13.1f}")
    if any(f.status_s for f in figures):
        print("first complete `labtui status` (wall) and a bare asyncssh client doing only the handshakes and the "
              "probe, on the same lab")
        print(f"{'hosts':>5}  {'labtui status s':>15}  {'bare asyncssh s':>15}")
        for f in figures:
            print(f"{f.hosts:>5}  {f.status_s:9.2f} {f.status_s / base.status_s:4.1f}x  "
                  f"{f.bare_status_s:9.2f} {f.bare_status_s / (base.bare_status_s or 1):4.1f}x")
        if 100 in by and 500 in by:
            print(f"500 vs 100 hosts: labtui status {by[500].status_s / by[100].status_s:.1f}x, bare asyncssh "
                  f"{by[500].bare_status_s / (by[100].bare_status_s or 1):.1f}x")
    if len(figures) > 1:
        low, high = figures[0], figures[-1]
        per_host = (high.rss_mb - low.rss_mb) * 1024 / (high.hosts - low.hosts)
        print(f"memory per host (RSS {low.hosts} -> {high.hosts} hosts): {per_host:.0f} KB")
    verdicts = []
    if 200 in by:
        f = by[200]
        verdicts.append(("200 hosts idle: CPU <= 3%, <= 2 KB/s, RSS <= 120 MB",
                         f.cpu_pct <= 3 and f.bytes_s <= 2048 and f.rss_mb <= 120))
    if 500 in by:
        f = by[500]
        verdicts.append(("500 hosts idle: CPU <= 5%, <= 2 KB/s", f.cpu_pct <= 5 and f.bytes_s <= 2048))
        verdicts.append(("500 hosts: key latency p99 < 50 ms (in the TUI's process)", p99(f.keys_in_ms) < 50))
        verdicts.append(("500 hosts: key latency p99 < 50 ms (through the pty)", p99(f.keys_ms) < 50))
        verdicts.append(("500 hosts: sort and filter < 50 ms (in the TUI's process)",
                         max(f.sort_in_ms + f.filter_in_ms) < 50))
        verdicts.append(("500 hosts: sort and filter < 50 ms (through the pty)", max(f.sort_ms + f.filter_ms) < 50))
        verdicts.append(("500 hosts: status --watch <= 5% of a core", f.watch_cpu_pct <= 5))
        if 50 in by:
            verdicts.append(("first paint at 500 <= 1.5x the 50-host figure", f.paint_ms <= 1.5 * by[50].paint_ms))
        if 100 in by:
            verdicts.append(("labtui status of 500 <= 2x of 100", f.status_s <= 2 * by[100].status_s))
    for what, ok in verdicts:
        print(f"  {'OK  ' if ok else 'OVER'} {what}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,50,100,200,500", help="host counts, comma-separated")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of each idle measurement")
    parser.add_argument("--no-core", action="store_true", help="skip `labtui status` and `status --watch`")
    args = parser.parse_args(argv)
    figures = []
    with tempfile.TemporaryDirectory(prefix="labtui-bench-scale-") as tmp:
        for hosts in (int(n) for n in args.sizes.split(",")):
            fig = Figures(hosts)
            fig.paint_ms, fig.bare_ms = asyncio.run(paint_in_process(hosts))
            asyncio.run(latency_in_process(fig))
            env = private_env(Path(tmp) / f"lab-{hosts}")
            tui_figures(fig, env, args.window)
            if not args.no_core:
                asyncio.run(core_figures(fig, env, args.window))
            print(f"  {hosts} hosts done: CPU {fig.cpu_pct:.1f}%, {fig.bytes_s / 1024:.2f} KB/s, "
                  f"RSS {fig.rss_mb:.0f} MB,"
                  f" keys p99 {p99(fig.keys_ms):.0f} ms, status {fig.status_s:.2f} s, watch {fig.watch_cpu_pct:.1f}%",
                  flush=True)
            figures.append(fig)
    report(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
