"""Pictures of `labtui demo` for the README: `python scripts/screenshots.py [OUT_DIR]` (make screenshots).

Runs the real demo lab (SSH servers on loopback, the status poller, the deploy-rs emulator behind the
deploy engine) in a headless terminal, drives it by keys like a person would, and saves SVG
screenshots, plus PNGs when `rsvg-convert` is installed. A full run takes about half a minute
because the deploy shown is real: printer-pi really waits out its confirm timeout and rolls back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from textual.pilot import Pilot

from labtui.demo.runtime import DemoLab
from labtui.ssh.api import HostState
from labtui.tui.app import LabApp
from labtui.tui.assemble import build_app, demo_sources
from labtui.tui.deploy_pane import DeployScreen
from labtui.tui.dialogs import DeployDialog, PlanDialog
from labtui.tui.screens import HistoryScreen

WAIT = 60.0  # seconds any single step may take before the script gives up


async def _until(pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: timed out waiting for {what}")
        await pilot.pause(0.1)


def _png(svg: Path) -> Path | None:
    """PNG next to the SVG. rsvg-convert renders Textual's no-break spaces too narrow, so they are
    turned into plain spaces kept by xml:space="preserve" first."""
    tool = shutil.which("rsvg-convert")
    if tool is None:
        return None
    text = svg.read_text(encoding="utf-8")
    fixed = text.replace("&#160;", " ").replace("<svg ", '<svg xml:space="preserve" ', 1)
    with tempfile.NamedTemporaryFile("w", suffix=".svg", delete=False, encoding="utf-8") as tmp:
        tmp.write(fixed)
    png = svg.with_suffix(".png")
    try:
        subprocess.run([tool, "-w", "1400", tmp.name, "-o", str(png)], check=True)
    finally:
        os.unlink(tmp.name)
    return png


class Shooter:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: list[Path] = []

    async def shoot(self, pilot: Pilot[None], name: str) -> None:
        app = pilot.app
        await pilot.pause()  # let a screen that just opened paint first
        await pilot.pause()
        svg = self.out / f"{name}.svg"
        # The title bar shows the name; the SVG's own ids are derived from it, so they stay stable.
        svg.write_text(app.export_screenshot(title=f"labtui demo: {name}"), encoding="utf-8")
        self.files.append(svg)
        png = _png(svg)
        if png is not None:
            self.files.append(png)


def _all_answered(app: LabApp) -> bool:
    statuses = [app.fleet.statuses.get(h.name) for h in app.inventory.hosts]
    return all(st is not None and (st.answered_at is not None or st.state is HostState.DOWN) for st in statuses) and \
        all(st.drift != "unknown" for st in statuses if st is not None and st.answered_at is not None)


async def _deploy_pictures(pilot: Pilot[None], app: LabApp, shooter: Shooter) -> None:
    """A deploy of the outdated hosts: grey-area succeeds, printer-pi breaks ssh and rolls back."""
    app.table.move_to("grey-area")
    await pilot.press("space")
    app.table.move_to("printer-pi")
    await pilot.press("space", "D")
    await _until(pilot, lambda: isinstance(app.screen, DeployDialog), "the deploy dialog")
    await shooter.shoot(pilot, "deploy-dialog")
    await pilot.press("enter")
    await _until(pilot, lambda: isinstance(app.screen, PlanDialog), "deploy-rs' plan")
    await shooter.shoot(pilot, "deploy-plan")
    await pilot.press("y")

    def confirming() -> bool:
        run = app.deploys.active_run
        if run is None or not run.nodes["grey-area"].done:
            return False
        window = run.nodes["printer-pi"].confirm
        return window is not None and app.clock() - window.started > 2.5

    def sync_pane() -> None:
        assert isinstance(app.screen, DeployScreen)
        app.screen.sync()

    await _until(pilot, confirming, "printer-pi's confirm countdown")
    sync_pane()
    await shooter.shoot(pilot, "deploy-countdown")
    await _until(pilot, app.deploys.run_done.is_set, "the end of the run")
    app.clear_notifications()
    sync_pane()
    await pilot.pause()
    await shooter.shoot(pilot, "deploy-rollback")
    await pilot.press("escape", "h")
    await _until(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history view")
    await pilot.pause()
    await shooter.shoot(pilot, "history")
    await pilot.press("escape", "question_mark")
    await pilot.pause()
    await shooter.shoot(pilot, "help")


async def take(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    shooter = Shooter(out)
    # A fresh lab of its own (not the user's kept demo lab): the pictures show the demo as it starts.
    lab_dir = tempfile.mkdtemp(prefix="labtui-screenshots-")
    demo = DemoLab(lab_dir, ticker=False)
    await demo.start()
    demo.apply_env()
    try:
        assert demo.inventory is not None
        for size in ((80, 24), (120, 40)):
            sources = demo_sources(demo)
            app = build_app(demo.inventory, sources, subtitle="demo lab")
            try:
                async with app.run_test(size=size) as pilot:
                    await _until(pilot, partial(_all_answered, app), "the first status of every host")
                    app.table.move_to("nas")
                    await pilot.pause()
                    await shooter.shoot(pilot, f"dashboard-{size[0]}x{size[1]}")
                    if size == (80, 24):
                        await pilot.press("slash", *"@edge", "enter")
                        await pilot.pause()
                        await shooter.shoot(pilot, "filter-80x24")
                    else:
                        await _deploy_pictures(pilot, app, shooter)
            finally:
                await sources.aclose()
    finally:
        await demo.close()
        shutil.rmtree(lab_dir, ignore_errors=True)
    return shooter.files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", nargs="?", default="screenshots", help="directory for the pictures")
    args = parser.parse_args(argv)
    os.environ.pop("NO_COLOR", None)  # pictures in colour whatever the shell says
    files = asyncio.run(take(Path(args.out)))
    for f in files:
        print(f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
