"""The demo lab's simulated hosts, in a process of their own: `python -m labtui.demo.hosts ...`.

Real hosts are other machines; the demo's are another process, so what labtui's own process costs
(CPU, memory) is labtui's alone, at any fleet size. It serves every host's SSH server on 127.0.0.1
(labtui.sim.server), runs the ticker (loads, memory, journal lines), prints one JSON line with the
ports once it listens, and ends when its standard input closes: when the demo quits, or when the demo
process dies in any way, even killed. On the way out it removes the runtime directory the demo made
for its control sockets, in case the demo could not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import sys
from pathlib import Path

from labtui.demo.ticker import run_ticker
from labtui.sim.server import SimSshServers
from labtui.sim.state import SimLab


async def serve(lab_dir: Path, keys_dir: Path, hosts: list[str], ticker: bool) -> None:
    lab = SimLab(lab_dir)
    servers = SimSshServers(lab, keys_dir, hosts)
    await servers.start()
    tick = asyncio.get_running_loop().create_task(run_ticker(lab)) if ticker else None
    sys.stdout.write(json.dumps({"ports": {h: servers.port(h) for h in servers.hosts}}) + "\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # The demo holds the other end of stdin: EOF means it is gone (or done with us).
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def until_eof() -> None:
        while await reader.read(4096):
            pass
        stop.set()

    watcher = loop.create_task(until_eof())
    try:
        await stop.wait()
    finally:
        watcher.cancel()
        if tick is not None:
            tick.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tick
        await servers.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labtui.demo.hosts", description=__doc__.splitlines()[0])
    parser.add_argument("lab", type=Path, help="the SimLab directory (one JSON file per host)")
    parser.add_argument("keys", type=Path, help="where the client key and known_hosts go")
    parser.add_argument("--host", action="append", default=[], help="serve this host (default: every host)")
    parser.add_argument("--ticker", action="store_true", help="background activity")
    parser.add_argument("--cleanup", type=Path, action="append", default=[],
                        help="a directory to remove on the way out")
    args = parser.parse_args(argv)
    hosts = args.host or SimLab(args.lab).names()
    try:
        asyncio.run(serve(args.lab, args.keys, hosts, args.ticker))
    finally:
        for path in args.cleanup:
            shutil.rmtree(path, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
