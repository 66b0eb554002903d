"""`labtui demo`: open labtui on an embedded simulated lab (no network, no root, no Nix).

The lab is kept between runs in the user's state directory (hosts' generations, the journal), so a
deploy made in one run is still there in the next; `--reset` starts afresh. `--shell` opens a shell
in which `labtui status`, `history`, `deploy` (and `ssh -F ssh_config HOST`) work on the demo lab.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labtui.demo.runtime import DemoLab

from labtui.cli.helptext import Examples, ExitStatus

EXAMPLES: Examples = (
    ("labtui demo", "the TUI on seven simulated hosts; press ? for the keys, D to deploy, q to quit"),
    ("labtui demo --hosts 200", "a lab of 200 simulated hosts (the seven, then a generated fleet)"),
    ("labtui demo --shell", "a shell where `labtui status`, `labtui history`, `labtui deploy nas` use the demo lab"),
    ("labtui demo --reset", "start the demo lab afresh: the hosts' first generations, an empty history"),
)
EXIT_STATUS: ExitStatus = {0: "the TUI was quit", 1: "the TUI crashed (its traceback is printed)",
                           129: "the terminal hung up (the SSH session dropped): the demo stopped and cleaned up",
                           143: "SIGTERM: the demo stopped and cleaned up"}


def configure(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: without it here, `labtui --ascii demo` would have its top-level --ascii reset to False.
    parser.add_argument("--ascii", action="store_true", default=argparse.SUPPRESS,
                        help="plain ASCII glyphs (also: LABTUI_ASCII=1; `labtui --ascii demo` works too)")
    parser.add_argument("--hosts", type=int, default=None, metavar="N",
                        help="a lab of N simulated hosts (default 7: the demo's cast; more are generated)")
    parser.add_argument("--reset", action="store_true",
                        help="start the demo lab afresh (forget its hosts' state and its deploy history)")
    parser.add_argument("--shell", action="store_true",
                        help="open a shell where labtui's commands (status, history, deploy...) use the demo lab")
    parser.add_argument("--dir", metavar="PATH",
                        help="keep the demo lab in PATH (default: labtui's state directory, demo or demo-N)")
    parser.add_argument("--no-ticker", action="store_true", help="no background activity (loads, journal lines)")
    parser.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)  # the lab is always kept now


def run(args: argparse.Namespace) -> int:
    import asyncio

    from labtui.demo.lab import DEFAULT_HOST_COUNT
    from labtui.errors import UserError

    hosts = DEFAULT_HOST_COUNT if args.hosts is None else args.hosts
    if not 1 <= hosts <= 2000:
        raise UserError(f"--hosts takes 1 to 2000 hosts, got {hosts}; e.g. `labtui demo --hosts 200`")

    if args.shell:
        return asyncio.run(_shell(args, hosts))

    from labtui.tui.terminal import end_after_hang_up

    return end_after_hang_up(asyncio.run(_tui(args, hosts)))


def _lab(args: argparse.Namespace, hosts: int) -> DemoLab:
    from labtui.demo.runtime import DemoLab

    return DemoLab(args.dir, hosts=hosts, ticker=not args.no_ticker, reset=args.reset)


async def _tui(args: argparse.Namespace, hosts: int) -> int:
    from labtui.cli.common import prepare_tui_colors
    from labtui.tui.assemble import build_app, demo_sources
    from labtui.tui.glyphs import ascii_requested

    prepare_tui_colors()
    demo = _lab(args, hosts)
    await demo.start()
    try:
        demo.apply_env()
        assert demo.inventory is not None
        sources = demo_sources(demo)
        try:
            app = build_app(demo.inventory, sources, subtitle="demo lab",  # the bar counts the hosts itself
                            ascii_mode=ascii_requested(args.ascii))
            await app.run_async()
        finally:
            await sources.aclose()
    finally:
        await demo.close()
    return app.return_code or 0


SHELL_BANNER = """labtui demo lab: {hosts} simulated hosts, kept in {root}
This shell talks to it: try `labtui status`, `labtui history`, `labtui deploy grey-area`, `labtui`
(the TUI), `ssh -F ssh_config nas systemctl is-system-running`. Leave with `exit`; the lab stops with this shell.
"""


async def _shell(args: argparse.Namespace, hosts: int) -> int:
    import asyncio
    import os
    import shutil
    import signal
    import sys

    demo = _lab(args, hosts)
    await demo.start()
    try:
        shell = os.environ.get("SHELL") or shutil.which("bash") or "/bin/sh"
        env = {**os.environ, **demo.env, "LABTUI_DEMO": str(demo.root)}
        print(SHELL_BANNER.format(hosts=hosts, root=demo.root), file=sys.stderr)
        proc = await asyncio.create_subprocess_exec(shell, cwd=demo.flake_dir, env=env)
        loop = asyncio.get_running_loop()
        # The shell owns the terminal: ctrl+c is for it; a hang-up or SIGTERM ends it, then the lab.
        loop.add_signal_handler(signal.SIGINT, lambda: None)

        def forward(signum: int) -> None:
            if proc.returncode is None:
                proc.send_signal(signum)

        for signum in (signal.SIGHUP, signal.SIGTERM):
            loop.add_signal_handler(signum, forward, signum)
        return await proc.wait()
    finally:
        await demo.close()
