"""The nixos-rebuild emulator (labtui.sim.nixos_rebuild), checked through NixosRebuildParser."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from labtui.deploy.commands import nixos_rebuild_command
from labtui.deploy.parse import parse_lines
from labtui.deploy.parse.nixos_rebuild import NixosRebuildParser
from labtui.inventory.model import Host, Profile, SshTarget
from labtui.runs.events import NodeResult
from labtui.sim.emulators import install_emulators
from labtui.sim.state import Generation, SimHost, SimLab, fake_store_path


@pytest.fixture
def rebuild(tmp_path):
    bin_dir = install_emulators(tmp_path / "bin")
    scenario = tmp_path / "scenario.json"
    env = {**os.environ, "LABTUI_SIM_SCENARIO": str(scenario), "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def run(scenario_name: str, action="switch", user="deploy", env_extra=None, **node):
        scenario.write_text(json.dumps({"time_scale": 0, "nodes": {"web1": {"scenario": scenario_name, **node}}}))
        ssh = SshTarget(hostname="10.0.0.11", user=user, raw_opts=("-p", "22"))
        host = Host(name="web1", hostname="10.0.0.11", ssh=ssh,
                    profiles=(Profile(name="system", ssh_user=user, user="root"),))
        argv, extra = nixos_rebuild_command(".", host, action)
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60,
                              env={**env, **extra, **(env_extra or {})})
        parser = NixosRebuildParser("web1", action)
        events = parse_lines(parser, proc.stdout.splitlines(), proc.returncode)
        result = [e for e in events if isinstance(e, NodeResult)][0]
        return proc, result, events

    return run


@pytest.mark.parametrize("scenario, action, code, outcome, stage", [
    ("success", "switch", 0, "succeeded", "activate"),
    ("success", "boot", 0, "succeeded", "activate"),
    ("success", "test", 0, "succeeded", "activate"),
    ("success", "dry-activate", 0, "dry_activated", "activate"),
    ("activation-fails", "switch", 1, "failed", "activate"),
    ("breaks-ssh", "switch", 255, "failed", "activate"),
    ("build-fails", "switch", 1, "failed", "build"),
    ("push-fails", "switch", 1, "failed", "push"),
    ("eval-fails", "switch", 1, "not_deployed", "eval"),
    ("check-fails", "switch", 0, "succeeded", "activate"),  # nixos-rebuild runs no flake checks
])
def test_scenarios(rebuild, scenario, action, code, outcome, stage):
    proc, result, events = rebuild(scenario, action)
    assert proc.returncode == code, proc.stdout
    assert (result.outcome, result.stage) == (outcome, stage)
    assert events[-1].outcome == ("succeeded" if code == 0 else "failed")


def test_without_sudo_a_non_root_user_cannot_switch(tmp_path):
    bin_dir = install_emulators(tmp_path / "bin")
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"time_scale": 0, "nodes": {"web1": {"scenario": "success"}}}))
    env = {**os.environ, "LABTUI_SIM_SCENARIO": str(scenario)}
    proc = subprocess.run([str(bin_dir / "nixos-rebuild"), "switch", "--flake", ".#web1", "--target-host",
                           "deploy@web1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                          timeout=30)
    assert proc.returncode == 1 and "Permission denied" in proc.stdout
    parser = NixosRebuildParser("web1", "switch")
    result = [e for e in parse_lines(parser, proc.stdout.splitlines(), 1) if isinstance(e, NodeResult)][0]
    # the profile could not be set: nothing changed on the host
    assert result.outcome == "not_deployed" and result.stage == "activate" and "Permission denied" in result.message


def test_usage_errors(tmp_path):
    bin_dir = install_emulators(tmp_path / "bin")
    proc = subprocess.run([str(bin_dir / "nixos-rebuild"), "explode", "--flake", ".#web1"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "nixos-rebuild: error: argument action: invalid choice: 'explode'" in proc.stderr


def test_lab_switch_and_failure_leave_new_generation(tmp_path):
    lab = SimLab(tmp_path / "lab")
    lab.save(SimHost(name="web1", generations=[Generation(3, "2026-11-01T00:00:00Z", fake_store_path("a"), "24.05",
                                                          "6.6.30")], current=3, booted=3,
                     flake_path=fake_store_path("b"), next_deploy="activation-fails"))
    bin_dir = install_emulators(tmp_path / "bin")
    env = {**os.environ, "LABTUI_SIM_LAB": str(lab.root), "LABTUI_SIM_TIME_SCALE": "0"}
    env.pop("LABTUI_SIM_SCENARIO", None)
    proc = subprocess.run([str(bin_dir / "nixos-rebuild"), "switch", "--flake", ".#web1", "--target-host",
                           "root@web1"], capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 1
    host = lab.load("web1")
    assert host.current == 4 and host.generation(4).path == host.flake_path  # no rollback with nixos-rebuild
