"""Bytes the TUI sends to its terminal, measured as the pty sees them, with htop as the yardstick.

Each case runs the real program in a pseudo-terminal (tests/support/pty_app.py), lets it settle, then
counts what it writes for a window of seconds:

  idle dashboard, 80x24, the 7 demo hosts       `labtui demo`
  idle dashboard, 80x24, 20 hosts               `labtui demo --hosts 20` (goal <= 1 KB/s)
  idle dashboard, 200x50                        `labtui demo`
  4-host deploy running, 80x24                  `labtui` in `labtui demo --shell`, following a deploy of
                                                four hosts started with `labtui deploy` (goal <= 10 KB/s)
  finished deploy pane, nothing changing        the same pane once the run has ended (goal: nothing)
  htop, 80x24 (and btop, when installed)        the same window, the same way

The demo polls every 5 s and its ticker moves loads, memory and journals, as in issue 12's table.

    python bench/tui_terminal_bytes.py [--window 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.pty_app import PtyApp  # noqa: E402

PYTHON = sys.executable
DEPLOYED = ("grey-area", "little-rascal", "nas", "sleeper-service")


def private_env(root: Path) -> dict[str, str]:
    """HOME, XDG dirs and TMPDIR under `root`: the demo lab made here is this benchmark's alone."""
    env = dict(os.environ)
    for name in ("home", "state", "cache", "config", "tmp"):
        (root / name).mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(root / "home"), XDG_STATE_HOME=str(root / "state"), XDG_CACHE_HOME=str(root / "cache"),
               XDG_CONFIG_HOME=str(root / "config"), TMPDIR=str(root / "tmp"), SHELL="/bin/sh",
               PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return env


def window_rate(app: PtyApp, seconds: float) -> float:
    """Bytes per second the program writes during the next `seconds`."""
    start = time.monotonic()
    time.sleep(seconds)  # the measuring window itself (not a synchronisation)
    return app.bytes_between(start, start + seconds) / seconds


def idle_dashboard(env: dict[str, str], size: tuple[int, int], hosts: int, window: float) -> float:
    argv = [PYTHON, "-m", "labtui", "demo"] + (["--hosts", str(hosts)] if hosts != 7 else [])
    with PtyApp(argv, env=env, size=size) as app:
        app.wait_for_screen("AGE", 60)
        time.sleep(6)  # every host answered once, connections open: the steady state
        return window_rate(app, window)


def deploy_pane(env: dict[str, str], window: float) -> tuple[float, float]:
    """(bytes/s while a 4-host deploy runs, bytes/s of the finished pane)."""
    with PtyApp([PYTHON, "-m", "labtui", "demo", "--shell"], env=env, size=(80, 24)) as app:
        app.wait_for(b"Leave with `exit`", 60)
        app.send(f"labtui deploy {' '.join(DEPLOYED)} --yes >/dev/null 2>&1 & labtui\n")
        app.wait_for_screen("AGE", 60)
        app.send("h")
        app.wait_for_screen("running", 30)  # the history, the run still going
        app.send("\r")
        app.wait_for_screen("confirm", 30)  # the pane, following the run live
        running = window_rate(app, min(window, 6.0))  # the demo's deploy takes about 12 s
        app.wait_for_screen("succeeded", 60)  # the run's summary
        time.sleep(3)  # the toast goes away
        finished = window_rate(app, window)
        return running, finished


def yardstick(program: str, window: float) -> float | None:
    path = shutil.which(program)
    if path is None:
        return None
    with PtyApp([path], size=(80, 24)) as app:
        time.sleep(2)
        return window_rate(app, window)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured per case")
    args = parser.parse_args(argv)
    rows: list[tuple[str, float | None, str]] = []
    with tempfile.TemporaryDirectory(prefix="labtui-bench-bytes-") as tmp:
        root = Path(tmp)
        rows.append(("idle dashboard, 80x24, 7 demo hosts",
                     idle_dashboard(private_env(root / "a"), (80, 24), 7, args.window), ""))
        rows.append(("idle dashboard, 80x24, 20 hosts",
                     idle_dashboard(private_env(root / "b"), (80, 24), 20, args.window), "<= 1.0"))
        rows.append(("idle dashboard, 200x50, 7 demo hosts",
                     idle_dashboard(private_env(root / "c"), (200, 50), 7, args.window), ""))
        running, finished = deploy_pane(private_env(root / "d"), args.window)
        rows.append(("4-host deploy running, 80x24", running, "<= 10.0"))
        rows.append(("finished deploy pane, nothing changing", finished, "<= 0.1"))
    htop = yardstick("htop", args.window)
    rows.append(("htop, 80x24 (yardstick)", htop, ""))
    btop = yardstick("btop", args.window)
    if btop is not None:
        rows.append(("btop, 80x24", btop, ""))
    load = os.getloadavg()
    print(f"bytes to the terminal, {args.window:g} s per case, load average {load[0]:.1f} on {os.cpu_count()} cores")
    width = max(len(name) for name, _, _ in rows)
    for name, rate, goal in rows:
        shown = "-" if rate is None else f"{rate / 1024:6.2f} KB/s"
        ratio = f"  {rate / htop:5.1f}x htop" if rate is not None and htop else ""
        verdict = ""
        if goal and rate is not None:
            verdict = "  OK" if rate / 1024 <= float(goal.split()[-1]) else f"  OVER GOAL ({goal} KB/s)"
        print(f"  {name:<{width}}  {shown}{ratio}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
