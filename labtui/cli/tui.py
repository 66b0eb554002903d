"""`labtui` without a verb: the full-screen TUI on the flake's fleet.

Real sources: the SSH pool (host keys always checked), the status poller with the flake's paths for
drift, the deploy engine (detached supervisors, so quitting leaves a deploy running), the journal.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of the TUI live on the top-level parser (`labtui --ascii`)."""


def run(args: argparse.Namespace) -> int:
    import asyncio
    import sys

    from labtui.cli.common import load_inventory, prepare_tui_colors
    from labtui.errors import UserError
    from labtui.tui.glyphs import ascii_requested

    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise UserError("the TUI needs a terminal; for scripts use a verb such as `labtui status --json`")
    inventory = load_inventory(args)
    if not inventory.hosts:
        raise UserError(f"no hosts in {inventory.flake}: add deploy.nodes or nixosConfigurations to the flake")

    prepare_tui_colors()

    async def main() -> int:
        from labtui.inventory.flake_paths import FlakePathResolver
        from labtui.ssh.pool import SshPool
        from labtui.tui.assemble import build_app, core_sources

        pool = SshPool(inventory.hosts, keepalive_between_polls_only=True)
        sources = core_sources(inventory, pool, resolver=FlakePathResolver.for_inventory(inventory), lines=pool)
        app = build_app(inventory, sources, ascii_mode=ascii_requested(args.ascii))
        try:
            await app.run_async()
        finally:
            await sources.aclose()
            await pool.close()
        return app.return_code or 0

    from labtui.tui.terminal import end_after_hang_up

    return end_after_hang_up(asyncio.run(main()))
