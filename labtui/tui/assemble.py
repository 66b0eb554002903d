"""One place that builds the TUI: `build_app` for `labtui`, `labtui demo`, tests, screenshots and benchmarks, and
the core's sources for a real fleet (`core_sources`) or the demo lab (`demo_sources`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from labtui.commandlog import COMMAND_LOG, CommandLog
from labtui.inventory.model import Inventory
from labtui.ssh.api import LineShell, RemoteShell
from labtui.status.poller import FlakePathResolver, StatusPoller
from labtui.tui.adapters import CoreDeployStarter, CoreExec, CoreOps, CorePreview, JournalHistory
from labtui.tui.app import LabApp
from labtui.tui.sources import Sources

if TYPE_CHECKING:  # `labtui` itself never loads the demo lab (its SSH servers, emulators)
    from labtui.demo.runtime import DemoLab


def build_app(inventory: Inventory, sources: Sources, *, clock: Callable[[], float] = time.time,
              ascii_mode: bool = False, command_log: CommandLog = COMMAND_LOG, subtitle: str | None = None,
              animate: bool = True, ansi_colours: bool | None = None) -> LabApp:
    """The TUI over `sources`. `animate=False` stops the timers (data age, spinners): for pictures that must not
    move. The subtitle defaults to the flake. `ansi_colours`: the terminal's 16 ANSI colours instead of the theme's
    (None: when the terminal has no more, by TERM/COLORTERM)."""
    return LabApp(inventory, sources, clock=clock, ascii_mode=ascii_mode, command_log=command_log,
                  subtitle=subtitle or inventory.flake_dir or inventory.flake, animate=animate,
                  ansi_colours=ansi_colours)


def core_sources(inventory: Inventory, shell: RemoteShell, *, resolver: FlakePathResolver | None = None,
                 deploys_survive_quit: bool = True, lines: LineShell | None = None,
                 previews: bool = True) -> Sources:
    """labtui's own sources over `shell`: the status poller (drift from `resolver`), deploys in supervisor
    processes, the journal, a host's logs, checks and generations, fleet exec (its output line by line when
    `lines`, the SSH pool, can stream) and closure diffs (`previews`: they build with the real Nix).
    `aclose()` stops the poller."""
    poller = StatusPoller(list(inventory.hosts), shell, resolver=resolver, follow=True)
    return Sources(status=poller, deploy=CoreDeployStarter(inventory, survives_quit=deploys_survive_quit),
                   history=JournalHistory(), ops=CoreOps(shell, inventory), exec=CoreExec(inventory, shell, lines),
                   preview=CorePreview(inventory, shell) if previews else None, closers=(poller.close,))


def demo_sources(demo: DemoLab) -> Sources:
    """The core's sources on the running demo lab: its SSH servers, its simulated flake, its emulated deploys
    (which die with the demo, so quitting does not leave them running)."""
    from dataclasses import replace

    from labtui.sim.preview import SimPreview

    assert demo.inventory is not None and demo.lab is not None, "start the demo lab first"
    pool = demo.pool or demo.make_pool()
    sources = core_sources(demo.inventory, pool, lines=pool, previews=False, resolver=demo.resolver(),
                           deploys_survive_quit=False)
    # The simulated flake has no Nix behind it: the deploy dialog's diffs come from the lab's state.
    return replace(sources, preview=SimPreview(demo.lab))
