"""`labtui status` end to end: a real flake (real nix), ~/.ssh/config + known_hosts in the test HOME,
a real sshd; plus the table and exit codes on fixed statuses."""

from __future__ import annotations

import json
import socket
import textwrap
import time

import pytest

from labtui.cli.main import main
from labtui.cli.status import exit_code, render_fleet
from labtui.ssh.api import HostState
from labtui.status.model import DiskUsage, HostStatus
from tests.support import require_tool
from tests.support.sshd import sshd  # noqa: F401  (fixture)

FLAKE = textwrap.dedent("""\
    {
      outputs = { self }:
        let
          system = "x86_64-linux";
          mk = name: derivation { inherit name system; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; };
        in {
          nixosConfigurations.lab.config.system.build.toplevel = mk "nixos-system-lab";
          deploy.nodes = {
            lab = { hostname = "lab-alias"; profiles.system = { path = mk "lab-activatable"; user = "root"; }; };
            gone = { hostname = "127.0.0.1"; sshOpts = [ "-p" "@GONE_PORT@" ];
                     profiles.system = { path = mk "gone-activatable"; user = "root"; }; };
          };
        };
    }
""")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fleet(tmp_path, sshd, monkeypatch):
    require_tool("nix", "labtui status reads the fleet from a flake")
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    sshd.write_ssh_config(home, alias="lab-alias")
    flake = tmp_path / "flake"
    flake.mkdir()
    (flake / "flake.nix").write_text(FLAKE.replace("@GONE_PORT@", str(closed_port())))
    return flake


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.integration
def test_status_json_against_real_sshd(fleet, capsys):
    code, out, err = run(capsys, "--flake", str(fleet), "status", "--json", "--timeout", "60", "lab")
    data = json.loads(out)
    assert data["schema"] == "labtui.status/1"
    (lab,) = data["hosts"]
    assert lab["state"] == "up", (lab, err)
    assert code == 0 and data["ok"] is True and data["counts"] == {"up": 1}
    assert lab["hostname"] and lab["cpus"] >= 1 and lab["load"] and lab["boot_id"]
    assert lab["memory"]["total_bytes"] > 0 and lab["disks"][0]["mount"] == "/"
    assert lab["drift"] == "unknown" and lab["missing"]["drift"]  # not NixOS: nothing to compare
    assert lab["reboot_needed"] is None and "not NixOS" in lab["missing"]["current_system"]


@pytest.mark.integration
def test_status_table_and_exit_1_when_a_host_is_down(fleet, capsys):
    code, out, err = run(capsys, "--flake", str(fleet), "status", "--no-drift", "--timeout", "60")
    assert code == 1, out + err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["HOST", "STATE", "LOAD"]
    assert any(line.split()[:2] == ["lab", "up"] for line in lines)
    assert any(line.split()[:2] == ["gone", "down"] for line in lines)
    assert "gone: connection refused" in out
    assert all(line.isascii() for line in lines)
    table = lines[: lines.index("")]
    assert all(len(line) <= 80 for line in table)
    assert all(len(line) <= 80 for line in lines if not line.startswith("  fix: "))
    assert "\x1b[" not in out  # not a terminal: no colour


@pytest.mark.integration
def test_usage_errors_exit_2(fleet, capsys):
    code, _, err = run(capsys, "--flake", str(fleet), "status", "--timeout", "0")
    assert code == 2 and "--timeout" in err
    code, _, err = run(capsys, "--flake", str(fleet), "status", "nosuchhost")
    assert code == 2 and "nosuchhost" in err


def make_status(name: str, state: HostState, **kw) -> HostStatus:
    return HostStatus(host=name, state=state, observed_at=time.time(), **kw)


def test_table_fits_80_columns_with_long_values_and_colours_only_on_request():
    statuses = [
        make_status("a-very-long-host-name-that-goes-on-and-on", HostState.HOST_KEY_CHANGED,
                    error="HOST KEY CHANGED for [10.0.0.5]:2222", hint="ssh-keygen -R '[10.0.0.5]:2222'"),
        make_status("web1", HostState.UP, load=(0.5, 0.4, 0.3), mem_total_bytes=100, mem_available_bytes=25,
                    disks=(DiskUsage("/", 95, 100), DiskUsage("/nix", 10, 100)), generation=42, drift="outdated",
                    reboot_needed=True, uptime_s=3 * 86400 + 5),
    ]
    text = render_fleet(statuses)
    assert all(len(line) <= 80 for line in text.splitlines() if not line.startswith("  fix: "))
    assert "95% /" in text and "3d" in text and "outdated" in text
    assert "fix: ssh-keygen -R" in text
    assert "\x1b[" not in text and "\x1b[" in render_fleet(statuses, color=True)
    assert exit_code(statuses) == 1
    assert exit_code(statuses[1:]) == 0
    stale = make_status("db1", HostState.DOWN, error="connection lost", answered_at=time.time() - 125)
    assert "db1: connection lost (values above from 2m ago)" in render_fleet([stale])


def _watch(fleet, *extra: str):
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "labtui", "--flake", str(fleet), "status", "--watch", "--no-drift",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, signal.SIGINT


@pytest.mark.integration
@pytest.mark.parametrize("as_json", [True, False])
def test_watch_streams_until_ctrl_c(fleet, as_json):
    import threading

    proc, sigint = _watch(fleet, *(["--json"] if as_json else []), "lab")
    watchdog = threading.Timer(60, proc.kill)  # bounds the wait below if nothing ever comes
    watchdog.start()
    try:
        seen_up = False
        for line in proc.stdout:
            if as_json:
                seen_up = json.loads(line)["state"] == "up"
            else:
                seen_up = line.split()[:2] == ["lab", "up"]
            if seen_up:
                break
        assert seen_up
        proc.send_signal(sigint)
        out, err = proc.communicate(timeout=30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "Traceback" not in err
