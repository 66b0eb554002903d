"""Parallel deploy of 8 emulated nodes with --parallel 4, against deploy-rs's sequential run.

Measured in the same run, with the deploy-rs emulator (labtui.sim):
- T: one node deployed alone (one `deploy` process);
- parallel: 8 nodes, one `deploy` per node, 4 at once (labtui's default) -> ideal 2T, target <= 1.3 x 2T;
- sequential: 8 nodes in ONE `deploy --targets ...` run (what deploy-rs does by itself) -> about 8T.

Usage: python bench/parallel_deploy.py [--nodes 8] [--parallel 4] [--time-scale 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labtui.deploy.orchestrator import DeployRun  # noqa: E402
from labtui.deploy.request import DeployRequest  # noqa: E402
from labtui.deploy.runner import RunnerTimings  # noqa: E402
from labtui.inventory.model import Host, Inventory, Profile, SshTarget  # noqa: E402


def inventory(names: list[str]) -> Inventory:
    hosts = tuple(Host(name=n, hostname=f"{n}.lab", ssh=SshTarget(hostname=f"{n}.lab"),
                       profiles=(Profile(name="system", ssh_user="root", user="root"),)) for n in names)
    return Inventory(flake=".", hosts=hosts)


async def timed(names: list[str], **request) -> float:
    run = DeployRun(DeployRequest(targets=[(n, None) for n in names], **request), inventory(names),
                    timings=RunnerTimings(stall_after=None, late_output=0.5), locking=False)
    started = time.perf_counter()
    outcome = None
    async for event in run.events():
        if event.kind == "run_result":
            outcome = event.outcome
    elapsed = time.perf_counter() - started
    if outcome != "succeeded":
        raise SystemExit(f"bench deploy did not succeed ({outcome}); is the emulator working?")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--time-scale", type=float, default=0.05,
                        help="emulated seconds per real second factor (smaller: faster bench)")
    args = parser.parse_args()

    from labtui.sim.emulators import install_emulators

    with tempfile.TemporaryDirectory(prefix="labtui-bench-") as tmp:
        root = Path(tmp)
        for var in ("XDG_STATE_HOME", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME"):
            (root / var).mkdir()
            os.environ[var] = str(root / var)
        bin_dir = install_emulators(root / "bin")
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        names = [f"node{i}" for i in range(1, args.nodes + 1)]
        scenario = root / "scenario.json"
        scenario.write_text(json.dumps({
            "time_scale": args.time_scale,
            "nodes": {n: {"hostname": f"{n}.lab", "profiles": ["system"], "scenario": "success"} for n in names}}))
        os.environ["LABTUI_SIM_SCENARIO"] = str(scenario)

        one = asyncio.run(timed(names[:1]))
        parallel = asyncio.run(timed(names, parallel=args.parallel))
        sequential = asyncio.run(timed(names, atomic=True))

    waves = -(-args.nodes // args.parallel)
    ideal = waves * one
    print(f"nodes {args.nodes}, parallel {args.parallel}, time scale {args.time_scale}")
    print(f"T (one node alone)                 {one:7.2f} s")
    print(f"labtui --parallel {args.parallel}  (ideal {waves}T)  {parallel:7.2f} s   "
          f"{parallel / ideal:5.2f} x {waves}T (target <= 1.30)")
    print(f"deploy-rs sequential (one run)     {sequential:7.2f} s   {sequential / one:5.2f} x T")
    print(f"speed-up over deploy-rs            {sequential / parallel:7.2f} x")
    return 0 if parallel / ideal <= 1.3 else 1


if __name__ == "__main__":
    sys.exit(main())
