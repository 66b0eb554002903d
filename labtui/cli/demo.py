"""`labtui demo`: open labtui on an embedded simulated lab (no network, no root, no Nix)."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: without it here, `labtui --ascii demo` would have its top-level --ascii reset to False.
    parser.add_argument("--ascii", action="store_true", default=argparse.SUPPRESS,
                        help="plain ASCII glyphs (also: LABTUI_ASCII=1; `labtui --ascii demo` works too)")
    parser.add_argument("--keep", action="store_true", help="keep the demo lab's directory after quitting")
    parser.add_argument("--dir", metavar="PATH", help="build the demo lab in PATH instead of a temporary directory")
    parser.add_argument("--no-ticker", action="store_true", help="no background activity (loads, journal lines)")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from labtui.demo.runtime import DemoLab
    from labtui.tui.assemble import build_app, demo_sources
    from labtui.tui.glyphs import ascii_requested
    from labtui.tui.terminal import end_after_hang_up

    async def main() -> int:
        demo = DemoLab(args.dir, ticker=not args.no_ticker, keep=args.keep)
        await demo.start()
        try:
            demo.apply_env()
            assert demo.inventory is not None
            sources = demo_sources(demo)
            try:
                app = build_app(demo.inventory, sources, subtitle="demo lab",
                                ascii_mode=ascii_requested(args.ascii))
                await app.run_async()
            finally:
                await sources.aclose()
        finally:
            await demo.close()
        code = app.return_code or 0
        if (args.keep or args.dir) and code == 0:
            print(f"demo lab kept in {demo.root}")
        return code

    return end_after_hang_up(asyncio.run(main()))
