"""`labtui status` at fleet size: the first complete status of 100 and of 500 hosts, and the same fan-out done by a
bare asyncssh client as the yardstick.

Each lab is `labtui demo --hosts N`'s (real SSH on loopback, the simulated hosts in a process of their own, on the
same machine). The yardstick connects to every host at once, runs the status probe and exits, with nothing of
labtui around it (no inventory, pool, parser or output): its 500 vs 100 ratio is what the SSH handshakes alone
make of the fleet's growth on this machine. Issue 15 asks for <= 2x.

    python bench/status_scale.py [--sizes 100,500] [--rounds 3]
    python bench/status_scale.py --bare HOSTS.json     # the yardstick alone, on [{"host", "port", "user",
                                                       #   "key", "known_hosts"}, ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PYTHON = sys.executable


async def _probe_bare(target: dict[str, Any], key: Any, known: Any) -> bool:
    import asyncssh

    from labtui.status.probe import PROBE_COMMAND, PROBE_SCRIPT

    try:
        async with asyncssh.connect(target["host"], target["port"], username=target["user"], client_keys=[key],
                                    known_hosts=known, config=None) as conn:
            result = await conn.run(PROBE_COMMAND, input=PROBE_SCRIPT, timeout=30)
            return bool(result.stdout)
    except (OSError, asyncssh.Error):
        return False  # the demo's down hosts


async def bare(path: str) -> int:
    """The yardstick: handshakes and probes only (the key and known_hosts read once, a fair floor)."""
    import asyncssh

    targets = json.loads(Path(path).read_text())
    key = asyncssh.read_private_key(targets[0]["key"])
    known = asyncssh.read_known_hosts(targets[0]["known_hosts"])
    answered = await asyncio.gather(*(_probe_bare(t, key, known) for t in targets))
    return 0 if any(answered) else 1


async def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await proc.wait()
    return time.monotonic() - start


async def status_and_bare(demo: Any, env: dict[str, str]) -> tuple[float, float]:
    """Wall times, from process start, of `labtui status --json` and of the yardstick on a running DemoLab."""
    assert demo.inventory is not None
    cli_env = {**env, **demo.env}
    status_s = await timed([PYTHON, "-m", "labtui", "--flake", str(demo.flake_dir), "status", "--json"], cli_env)
    listing = demo.root / "bare-targets.json"
    listing.write_text(json.dumps([
        {"host": h.ssh.hostname, "port": h.ssh.port, "user": h.ssh.user or "root", "key": str(demo.client_key_path),
         "known_hosts": str(demo.known_hosts_path)} for h in demo.inventory.hosts]))
    bare_s = await timed([PYTHON, str(Path(__file__).resolve()), "--bare", str(listing)], cli_env)
    return status_s, bare_s


async def start_demo(env: dict[str, str], **lab: Any) -> Any:
    """A started DemoLab(**lab) whose keys and state live under `env`'s HOME and XDG directories (this
    process's own environment is put back afterwards)."""
    from labtui.demo.runtime import DemoLab

    saved = dict(os.environ)
    os.environ.update({k: env[k] for k in ("HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "TMPDIR") if k in env})
    try:
        demo = DemoLab(**lab)
        await demo.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return demo


async def measure(hosts: int, rounds: int, root: Path) -> tuple[float, float]:
    env = dict(os.environ, HOME=str(root / "home"), XDG_STATE_HOME=str(root / "state"), PYTHONPATH=str(ROOT))
    demo = await start_demo(env, root=root / "lab", hosts=hosts, ticker=False)
    try:
        runs = [await status_and_bare(demo, env) for _ in range(rounds)]
    finally:
        await demo.close()
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,500", help="host counts, comma-separated (the first is the base)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per lab; medians are printed")
    parser.add_argument("--bare", metavar="HOSTS.json", help="run the yardstick alone on these hosts")
    args = parser.parse_args(argv)
    if args.bare:
        return asyncio.run(bare(args.bare))
    sizes = [int(n) for n in args.sizes.split(",")]
    figures: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="labtui-bench-status-") as tmp:
        for hosts in sizes:
            figures[hosts] = asyncio.run(measure(hosts, args.rounds, Path(tmp) / str(hosts)))
    base_status, base_bare = figures[sizes[0]]
    print(f"first complete status, wall time from process start, median of {args.rounds}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'hosts':>5}  {'labtui status':>16}  {'bare asyncssh':>16}")
    for hosts, (status_s, bare_s) in figures.items():
        print(f"{hosts:>5}  {status_s:8.2f} s {status_s / base_status:4.1f}x  "
              f"{bare_s:8.2f} s {bare_s / base_bare:4.1f}x")
    if 500 in figures and 100 in figures:
        ratio = figures[500][0] / figures[100][0]
        print(f"labtui status, 500 vs 100 hosts: {ratio:.1f}x (goal <= 2x: {'met' if ratio <= 2 else 'not met'}); "
              f"the bare client: {figures[500][1] / figures[100][1]:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
