"""Build progress: does labtui read Nix's internal-json log faster than Nix writes it?

Yardstick, measured in the same run: real Nix (`nix-store --realise --log-format internal-json -v`, what
labtui's build step runs) building four derivations that print --lines log lines between them (two builders at
a time, like `-j2`), read through a pipe; the time from start to exit is how fast Nix writes the log here.
Then the captured log goes through labtui's whole build reader (labtui.deploy.build.BuildParser: the
internal-json parser and the per-node tracker, with 8 nodes sharing the four derivations): its time over
Nix's is the ratio, which must stay below 1. Reading the lines and doing nothing is printed as the floor.

    .venv/bin/python bench/build_progress_parser.py                # 100,000 lines
    .venv/bin/python bench/build_progress_parser.py --lines 5000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labtui.deploy.build import BuildParser, NodePlan  # noqa: E402
from labtui.runs.events import BuildProgress, Output  # noqa: E402

NIX_CONFIG = "experimental-features = nix-command flakes\nsubstituters =\nsandbox = false"
BUILDERS = 4

# A C project's build output: what most log lines look like.
EXPRESSION = r"""
let
  nonce = "@NONCE@";
  unit = i: derivation {
    name = "libunit${toString i}-1.0"; system = builtins.currentSystem; builder = "/bin/sh"; inherit nonce;
    args = [ "-c" ''
      PATH=/usr/bin:/bin
      awk 'BEGIN { for (n = 1; n <= @PER@; n++)
        printf "[%3d%%] Building C object src/CMakeFiles/unit${toString i}.dir/file%d.c.o\n", n * 100 / @PER@, n }'
      mkdir $out
    '' ];
  };
  units = map unit [ 1 2 3 4 ];
in derivation {
  name = "bench-system"; system = builtins.currentSystem; builder = "/bin/sh"; inherit nonce units;
  args = [ "-c" "echo $units > $out" ];
}
"""


def make_drv(lines: int) -> str:
    per = max(1, lines // BUILDERS)
    expr = EXPRESSION.replace("@NONCE@", secrets.token_hex(8)).replace("@PER@", str(per))
    result = subprocess.run(["nix-instantiate", "-E", expr], capture_output=True, text=True,
                            env={**os.environ, "NIX_CONFIG": NIX_CONFIG})
    if result.returncode != 0:
        raise SystemExit(f"nix-instantiate failed:\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


def run_nix(drv: str) -> tuple[list[str], float]:
    argv = ["nix-store", "--realise", "--keep-going", "--max-jobs", "2", "--log-format", "internal-json", "-v", drv]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "NIX_CONFIG": NIX_CONFIG})
    assert proc.stdout is not None
    data = proc.stdout.read()
    code = proc.wait()
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"nix-store --realise failed ({code}):\n{data.decode(errors='replace')[-2000:]}")
    return data.decode("utf-8", "replace").splitlines(), elapsed


def plans_for(drv: str) -> dict[str, NodePlan]:
    closure = subprocess.run(["nix-store", "-qR", drv], capture_output=True, text=True, check=True).stdout.split()
    drvs = frozenset(p for p in closure if p.endswith(".drv"))
    return {f"node{i:02d}": NodePlan(f"node{i:02d}", (drv,), (), drvs) for i in range(8)}


def delete_outputs(drv: str) -> None:
    closure = subprocess.run(["nix-store", "-qR", drv], capture_output=True, text=True).stdout.split()
    drvs = [p for p in closure if p.endswith(".drv")]
    outs = subprocess.run(["nix-store", "-q", "--outputs", *drvs], capture_output=True, text=True).stdout.split()
    for path in [*outs, *reversed(drvs)]:
        subprocess.run(["nix-store", "--delete", path], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    if shutil.which("nix-store") is None or shutil.which("nix-instantiate") is None:
        print("nix is not installed: the yardstick (Nix writing the log) cannot be measured here; skipped")
        return 0
    drv = make_drv(args.lines)
    try:
        lines, nix_seconds = run_nix(drv)
        plans = plans_for(drv)
    finally:
        delete_outputs(drv)
    total = len(lines)

    started = time.perf_counter()
    for _line in lines:
        pass
    read_seconds = time.perf_counter() - started

    reader = BuildParser(plans)
    progress = outputs = 0
    started = time.perf_counter()
    for i, line in enumerate(lines):
        for event in reader.feed(line, i / 1000):
            if isinstance(event, Output):
                outputs += 1
            elif isinstance(event, BuildProgress):
                progress += 1
    finals = reader.finish(0, total / 1000)
    parse_seconds = time.perf_counter() - started

    done = [e for e in finals if isinstance(e, BuildProgress) and e.done]
    ok = len(done) == len(plans) and all(e.built == e.to_build == BUILDERS + 1 for e in done)
    ok = ok and outputs >= args.lines - BUILDERS
    print(f"log: {total:,} lines of internal-json ({sum(map(len, lines)) / 1e6:.1f} MB), {outputs:,} builder lines, "
          f"{progress:,} build_progress events for {len(plans)} nodes; per-node counts {'ok' if ok else 'WRONG'}")
    print(f"nix writing it:  {nix_seconds:7.3f} s  ({total / nix_seconds:12,.0f} lines/s)")
    print(f"labtui reading:  {parse_seconds:7.3f} s  ({total / parse_seconds:12,.0f} lines/s)")
    print(f"(reading only:   {read_seconds:7.3f} s)")
    print(f"ratio parser/nix: {parse_seconds / nix_seconds:.2f} (below 1: keeps up with Nix)")
    print(json.dumps({"lines": total, "nix_s": round(nix_seconds, 4), "parser_s": round(parse_seconds, 4),
                      "ratio": round(parse_seconds / nix_seconds, 3)}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
