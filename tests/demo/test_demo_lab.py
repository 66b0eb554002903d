"""The demo lab keeps its word: its state lasts between runs (and `--reset` forgets it), it has any number
of hosts in a process of their own that ends with the demo however the demo ends, and labtui's CLI works
on it (`labtui demo --shell`, or its flake directory) without nix."""

from __future__ import annotations

import os
import signal
import stat
import sys
from pathlib import Path

import pytest

from labtui.demo.lab import DEMO_HOSTS, fleet_specs
from labtui.demo.runtime import DemoLab, default_root
from labtui.inventory.loader import load
from labtui.inventory.nix import NixResult
from labtui.status.probe import MARKER, PROBE_COMMAND, PROBE_SCRIPT
from tests.support.pty_app import PtyApp, children, wait_pid_exit

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    dirs = {name: tmp_path / name for name in ("home", "state", "cache", "config", "tmp")}
    for d in dirs.values():
        d.mkdir()
    return {**os.environ, "HOME": str(dirs["home"]), "XDG_STATE_HOME": str(dirs["state"]),
            "XDG_CACHE_HOME": str(dirs["cache"]), "XDG_CONFIG_HOME": str(dirs["config"]),
            "TMPDIR": str(dirs["tmp"]), "PYTHONPATH": str(REPO), "SHELL": "/bin/sh"}


def test_fleet_specs_cast_first_then_generated():
    assert fleet_specs() == DEMO_HOSTS
    assert fleet_specs(3) == DEMO_HOSTS[:3]
    big = fleet_specs(500)
    assert big[:7] == DEMO_HOSTS and len({s.name for s in big}) == 500
    assert fleet_specs(500) == big  # deterministic: the same lab every time
    # Every kind of host shows up in a large lab, the healthy ones the most.
    assert sum(not s.reachable for s in big) >= 2 and sum(s.drift for s in big) > 10
    assert sum(bool(s.failed_units) for s in big) > 10 and sum(bool(s.new_kernel) for s in big) > 10


def test_default_lab_lives_in_the_state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_root() == tmp_path / "labtui" / "demo"
    assert default_root(200) == tmp_path / "labtui" / "demo-200"


async def test_state_lasts_between_runs_and_reset_forgets_it(tmp_path):
    root = tmp_path / "lab"
    demo = DemoLab(root, ticker=False)
    await demo.start()
    try:
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
        assert demo.lab is not None
        with demo.lab.update("grey-area") as host:
            host.current = host.generations[0].number
        moved = demo.lab.load("grey-area").current
    finally:
        await demo.close()

    again = DemoLab(root, ticker=False)
    await again.start()
    try:
        assert again.lab is not None and again.lab.load("grey-area").current == moved
    finally:
        await again.close()

    fresh = DemoLab(root, ticker=False, reset=True)
    await fresh.start()
    try:
        assert fresh.lab is not None and fresh.lab.load("grey-area").current != moved
    finally:
        await fresh.close()


async def test_hosts_run_in_a_process_of_their_own(tmp_path):
    demo = DemoLab(tmp_path / "lab", hosts=30, ticker=False)
    await demo.start()
    try:
        assert demo.inventory is not None and len(demo.inventory.hosts) == 30
        process = demo._hosts_process
        assert process is not None and process.pid != os.getpid()
        pool = demo.make_pool()
        result = await pool.run("web-001", PROBE_COMMAND, input=PROBE_SCRIPT, timeout=20)
        assert result.stdout.splitlines()[0] == MARKER
        assert "hostname\tweb-001" in result.stdout
    finally:
        await demo.close()
    assert process.returncode is not None  # it ended with the demo


async def test_the_cli_reads_the_demo_flake_without_nix(tmp_path, monkeypatch):
    demo = DemoLab(tmp_path / "lab", ticker=False)
    await demo.start()
    try:
        for key, value in demo.env.items():
            monkeypatch.setenv(key, value)

        def no_nix(argv: list[str], timeout: float) -> NixResult:
            raise AssertionError(f"nix was run: {argv}")

        from labtui.cli.common import config_schema

        loaded = load(flake=str(demo.flake_dir), runner=no_nix, schema=config_schema())
        assert demo.inventory is not None
        mine = {h.name: h for h in demo.inventory.hosts}
        assert set(mine) == {h.name for h in loaded.hosts}
        for host in loaded.hosts:
            same = mine[host.name]
            assert (host.hostname, host.ssh.port, host.tags, host.critical, host.poll_interval) == \
                (same.hostname, same.ssh.port, same.tags, same.critical, same.poll_interval)
            assert host.profiles[0].ssh_opts == same.profiles[0].ssh_opts
            assert {c.name for c in same.checks} <= {c.name for c in host.checks}
        assert loaded.deploy == demo.inventory.deploy  # build_first off: nothing to build ahead
    finally:
        await demo.close()


def test_killed_demo_takes_its_hosts_and_temporary_files_along(env):
    with PtyApp([sys.executable, "-m", "labtui", "demo", "--no-ticker"], env=env) as app:
        app.wait_for_screen("old-thinkpad", 60)
        assert app.proc is not None
        hosts = children(app.proc.pid)
        assert len(hosts) == 1, hosts
        app.proc.send_signal(signal.SIGKILL)  # no chance to clean up: the hosts' process does it
        app.wait_exit(10)
        assert wait_pid_exit(hosts[0], 10), "the simulated hosts outlived the demo"
    assert os.listdir(env["TMPDIR"]) == []


def test_the_demo_shell_runs_labtui_on_the_demo_lab(env):
    with PtyApp([sys.executable, "-m", "labtui", "demo", "--shell", "--no-ticker"], env=env,
                size=(120, 40)) as app:
        app.wait_for(b"Leave with `exit`", 60)
        app.send("labtui status; echo status-exit=$?; exit\n")
        end = app.wait_for(b"status-exit=", 60)
        assert app.wait_exit(30) == 0
        shown = bytes(app.output).decode(errors="replace")
    # 1: not every host is up (old-thinkpad is switched off), as `labtui status` says of any lab.
    assert "status-exit=1" in shown[end - len("status-exit="):], shown[-2000:]
    for spec in DEMO_HOSTS:
        assert spec.name in shown
    assert "outdated" in shown  # drift, from the demo flake's cached paths
    assert os.listdir(env["TMPDIR"]) == []
    assert (Path(env["XDG_STATE_HOME"]) / "labtui" / "demo" / "flake" / "flake.nix").is_file()


def descendants(pid: int) -> list[int]:
    out = []
    for child in children(pid):
        out += [child, *descendants(child)]
    return out


@pytest.mark.parametrize("tui", [False, True], ids=["at-the-prompt", "tui-in-the-shell"])
def test_the_demo_shell_ends_with_the_session(env, tui):
    """The SSH session drops while `labtui demo --shell` (and maybe the TUI started in it) runs: the shell, the
    TUI, the demo and its hosts all end, and the demo's temporary files go with them (issue 12, point 1)."""
    with PtyApp([sys.executable, "-m", "labtui", "demo", "--shell", "--no-ticker"], env=env,
                size=(120, 40)) as app:
        app.wait_for(b"Leave with `exit`", 60)
        if tui:
            app.send("labtui\n")
            app.wait_for_screen("old-thinkpad", 60)
        else:
            app.send("echo ready-$((6*7))\n")
            app.wait_for(b"ready-42", 30)
        assert app.proc is not None
        everyone = descendants(app.proc.pid)
        assert len(everyone) >= (3 if tui else 2), everyone  # the hosts' process, the shell (and the TUI)
        app.hang_up()
        app.wait_exit(30)
        left = [pid for pid in everyone if not wait_pid_exit(pid, 30)]
    assert left == [], f"still running after the hang-up: {left}"
    assert os.listdir(env["TMPDIR"]) == []
