"""Start to first painted dashboard with 50 hosts, against a bare Textual app with one DataTable.

Both apps run headless at 120x40 in the same process, alternately, several times; the figure is the
median time from constructing the app to the first frame that shows every host. Target: labtui
within 1.5x of the bare app.

    python bench/tui_startup.py [--hosts 50] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.app import App, ComposeResult  # noqa: E402
from textual.widgets import DataTable, Footer  # noqa: E402

from labtui.inventory.model import Host, Inventory, SshTarget  # noqa: E402
from labtui.ssh.api import HostState  # noqa: E402
from labtui.status.model import DiskUsage, HostStatus  # noqa: E402
from labtui.tui.app import LabApp  # noqa: E402
from labtui.tui.assemble import build_app  # noqa: E402
from labtui.tui.sources import Sources  # noqa: E402

NOW = 1795694400.0
SIZE = (120, 40)


def fleet(n: int) -> tuple[Inventory, dict[str, HostStatus]]:
    hosts, statuses = [], {}
    for i in range(n):
        name = f"host-{i:03d}"
        hosts.append(Host(name=name, hostname=f"10.0.{i // 250}.{i % 250}", ssh=SshTarget(f"10.0.0.{i}"),
                          tags=("bench",)))
        statuses[name] = HostStatus(
            host=name, state=HostState.UP if i % 7 else HostState.DEGRADED, observed_at=NOW, answered_at=NOW,
            uptime_s=86400 * (i % 40), load=(0.1 * i, 0.1, 0.1), cpus=4, mem_total_bytes=8 << 30,
            mem_available_bytes=(4 << 30), disks=(DiskUsage("/", 40 << 30, 100 << 30),), generation=100 + i,
            drift="in sync" if i % 5 else "outdated", reboot_needed=i % 11 == 0, failed_units=())
    return Inventory(flake="/bench", hosts=tuple(hosts)), statuses


class StaticStatus:
    def __init__(self, statuses: dict[str, HostStatus]) -> None:
        self.statuses = statuses

    def snapshot(self) -> dict[str, HostStatus]:
        return self.statuses

    async def stream(self) -> AsyncIterator[HostStatus]:
        return
        yield  # pragma: no cover - an async generator with nothing more to say

    def refresh(self, host: str | None = None) -> None:
        return None


def labtui_app(inventory: Inventory, statuses: dict[str, HostStatus]) -> LabApp:
    return build_app(inventory, Sources(status=StaticStatus(statuses)), animate=False)


class BareApp(App[None]):
    """The baseline: one DataTable with the same rows and columns (plain strings), nothing else."""

    def __init__(self, statuses: dict[str, HostStatus]) -> None:
        super().__init__()
        self.statuses = statuses

    def compose(self) -> ComposeResult:
        yield DataTable()
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(" ", "HOST", "LOAD", "MEM", "DISK", "UP", "GEN", "DRIFT", "BOOT", "FAIL", "LAST", "AGE")
        for st in self.statuses.values():
            assert st.load is not None and st.uptime_s is not None  # fleet() fills them
            table.add_row("o", st.host, f"{st.load[0]:.2f}", f"{st.mem_used_percent:.0f}%",
                          f"{st.disks[0].percent:.0f}%", f"{st.uptime_s // 86400:.0f}d", str(st.generation),
                          st.drift, "yes" if st.reboot_needed else "-", str(len(st.failed_units)), "-", "0s")


async def first_paint(make_app: Callable[[], App[None]]) -> float:
    start = time.perf_counter()
    app = make_app()
    painted = asyncio.Event()
    async with app.run_test(size=SIZE) as pilot:
        app.call_after_refresh(painted.set)  # after the first frame with the mounted widgets
        await painted.wait()
        elapsed = time.perf_counter() - start
        await pilot.pause()
    return elapsed


async def main_async(hosts: int, rounds: int) -> tuple[float, float]:
    inventory, statuses = fleet(hosts)
    labtui_times, bare_times = [], []
    await first_paint(lambda: BareApp(statuses))  # warm-up: imports, CSS parsing caches
    await first_paint(lambda: labtui_app(inventory, statuses))
    for _ in range(rounds):
        bare_times.append(await first_paint(lambda: BareApp(statuses)))
        labtui_times.append(await first_paint(lambda: labtui_app(inventory, statuses)))
    return statistics.median(labtui_times), statistics.median(bare_times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    labtui, bare = asyncio.run(main_async(args.hosts, args.rounds))
    ratio = labtui / bare
    print(f"first painted dashboard, {args.hosts} hosts (median of {args.rounds}): "
          f"labtui {labtui * 1000:.0f} ms, bare DataTable app {bare * 1000:.0f} ms, ratio {ratio:.2f}x "
          f"(target <= 1.5x) {'OK' if ratio <= 1.5 else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
