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

    from labtui.cli.common import load_inventory
    from labtui.errors import UserError
    from labtui.tui.glyphs import ascii_requested

    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise UserError("the TUI needs a terminal; for scripts use a verb such as `labtui status --json`")
    inventory = load_inventory(args)
    if not inventory.hosts:
        raise UserError(f"no hosts in {inventory.flake}: add deploy.nodes or nixosConfigurations to the flake")

    async def main() -> int:
        from labtui.inventory.flake_paths import FlakePathResolver
        from labtui.ssh.pool import SshPool
        from labtui.tui.adapters import CoreDeployStarter, CoreOps, JournalHistory, status_source
        from labtui.tui.app import LabApp

        pool = SshPool(inventory.hosts)
        status = status_source(inventory, pool, resolver=FlakePathResolver.for_inventory(inventory))
        app = LabApp(inventory, status, deploy=CoreDeployStarter(inventory), history=JournalHistory(),
                     ops=CoreOps(pool), ascii_mode=ascii_requested(bool(getattr(args, "ascii", False))))
        try:
            await app.run_async()
        finally:
            close = getattr(status, "close", None)
            if close is not None:
                await close()
            await pool.close()
        return app.return_code or 0

    return asyncio.run(main())
