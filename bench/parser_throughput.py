"""Parser throughput: DeployRsParser over a generated deploy-rs log with lots of nix build output.

Baseline, measured in the same run on the same file: reading it line by line and doing nothing.
Prints lines/s of both and the ratio (parser time / read time).

    .venv/bin/python bench/parser_throughput.py               # 1,000,000 lines
    .venv/bin/python bench/parser_throughput.py --lines 20000  # quick
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labtui.deploy.parse.deploy_rs import DeployRsParser  # noqa: E402

INFO = "\x1b[38;5;51mINFO\x1b[0m"


def _record(src: str, tag: str, message: str, level: str = INFO, emoji: str = "ℹ️") -> str:
    return f"{src} {emoji} [{tag}] [{level}] {message}\n"


def generate(path: Path, lines: int, nodes: int = 8) -> int:
    """A --targets run over `nodes` nodes whose builds print most of the lines; returns the count."""
    names = [f"node{i:02d}" for i in range(nodes)]
    budget = max(lines - nodes * 40, nodes)
    per_build = budget // nodes
    written = 0
    with path.open("w", encoding="utf-8") as f:
        def w(text: str) -> None:
            nonlocal written
            f.write(text)
            written += text.count("\n")

        w(_record("🚀", "deploy", "Running checks for flake in ."))
        w("warning: unknown flake output 'deploy'\n")
        w(_record("🚀", "deploy", "Evaluating flake in ."))
        w(_record("🚀", "deploy", "The following profiles are going to be deployed:"))
        for n in names:
            w(f"[{n}.system]\nuser = \"root\"\nssh_user = \"deploy\"\n"
              f"path = \"/nix/store/0123456789abcdfghijklmnpqrsvwxyz-activatable-nixos-system-{n}\"\n"
              f"hostname = \"{n}.lab\"\nssh_opts = []\n\n")
        for n in names:
            w(_record("🚀", "deploy", f"Building profile `system` for node `{n}`"))
            for i in range(per_build):
                kind = i % 5
                if kind == 0:
                    w(f"building '/nix/store/{i:032d}-{n}-unit-{i}.drv'...\n")
                elif kind == 1:
                    w(f"{n}-unit-{i}> [ {i % 100:3d}%] Building CXX object src/CMakeFiles/lib.dir/file{i}.cpp.o\n")
                elif kind == 2:
                    w(f"{n}-unit-{i}> gcc -O2 -c file{i}.c -o file{i}.o\n")
                elif kind == 3:
                    w(f"copying path '/nix/store/{i:032d}-dep-{i}' from 'https://cache.nixos.org'...\n")
                else:
                    w(f"{n}-unit-{i}> \x1b[1mwarning:\x1b[0m unused variable 'x{i}' [-Wunused-variable]\n")
        for n in names:
            w(_record("🚀", "deploy", f"Copying profile `system` to node `{n}`"))
            w(f"copying path '/nix/store/0123456789abcdfghijklmnpqrsvwxyz-activatable-nixos-system-{n}' "
              f"to 'ssh://deploy@{n}.lab'...\n")
        for n in names:
            w(_record("🚀", "deploy", f"Activating profile `system` for node `{n}`"))
            w(_record("🚀", "deploy", "Creating activation waiter"))
            w(_record("⭐", "activate", "Activating profile"))
            w(_record("👀", "wait", "Waiting for confirmation event..."))
            w("activating the configuration...\nsetting up /etc...\n")
            w(_record("⭐", "activate", "Activation succeeded!"))
            w(_record("⭐", "activate", "Magic rollback is enabled, setting up confirmation hook..."))
            w(_record("⭐", "activate", "Waiting for confirmation event..."))
            w(_record("👀", "wait", "Found canary file, done waiting!"))
            w(_record("🚀", "deploy", "Success activating, attempting to confirm activation"))
            w(_record("🚀", "deploy", "Deployment confirmed."))
    return written


def time_read(path: Path) -> float:
    start = time.perf_counter()
    with path.open(encoding="utf-8") as f:
        for _line in f:
            pass
    return time.perf_counter() - start


def time_parse(path: Path) -> tuple[float, int, dict]:
    parser = DeployRsParser()
    feed = parser.feed
    events = 0
    start = time.perf_counter()
    with path.open(encoding="utf-8") as f:
        for line in f:
            events += len(feed(line.rstrip("\n"), 0.0))
    events += len(parser.finish(0, 0.0))
    elapsed = time.perf_counter() - start
    return elapsed, events, {k: r.outcome for k, r in parser.results.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deploy.log"
        n = generate(path, args.lines)
        size = os.path.getsize(path)
        read_s = min(time_read(path) for _ in range(3))
        parse_s, events, outcomes = time_parse(path)
    ok = set(outcomes.values()) == {"succeeded"} and len(outcomes) == 8
    print(f"log: {n:,} lines, {size / 1e6:.1f} MB, {events:,} events, outcomes {'ok' if ok else outcomes}")
    print(f"baseline (read line by line): {n / read_s:,.0f} lines/s ({read_s:.2f} s)")
    print(f"DeployRsParser.feed:          {n / parse_s:,.0f} lines/s ({parse_s:.2f} s)")
    print(f"ratio parser/read: {parse_s / read_s:.1f}x the time of reading")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
