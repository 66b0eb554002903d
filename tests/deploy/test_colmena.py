"""The colmena method: the command labtui builds (accepted by the real Colmena 0.4.0), its emulator
(labtui.sim.colmena) read back by ColmenaParser, and the emulator against the transcripts and the real usage errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from labtui.deploy.methods import METHODS
from labtui.deploy.methods.colmena import colmena_command, colmena_config
from labtui.deploy.parse import parse_lines
from labtui.deploy.parse.colmena import JOB_RE, ColmenaParser
from labtui.deploy.request import Action, DeployRequest
from labtui.errors import UserError
from labtui.inventory.model import ColmenaNode, Host, SshTarget
from labtui.runs.events import NodeResult
from labtui.sim.emulators import install_emulators
from tests.support.colmena import real_colmena  # noqa: F401  (fixture)

LOGS = Path(__file__).parent / "logs" / "colmena"


def hive_host(name: str = "web1", **node: object) -> Host:
    colmena = ColmenaNode(target_host=f"{name}.lan", **node)  # type: ignore[arg-type]
    return Host(name=name, hostname=f"{name}.lan", ssh=SshTarget(hostname=f"{name}.lan", user="root"),
                method="colmena", in_deploy=False, colmena=colmena)


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
    env["NIX_CONFIG"] = "experimental-features = nix-command flakes\nsubstituters =\nsandbox = false"
    return env


# ---- the command ------------------------------------------------------------------------------------------------


def test_command_one_node_plain_output():
    assert colmena_command("/home/me/lab", hive_host(), Action.BOOT) == [
        "colmena", "apply", "--on", "web1", "boot", "--config", "/home/me/lab/flake.nix", "--verbose", "--color",
        "never"]
    assert colmena_config("github:me/lab") == "github:me/lab"
    with pytest.raises(UserError, match="absolute directory or a flake URI"):
        colmena_config("lab")


def test_plan_validate_and_the_registry():
    method = METHODS.get("colmena")
    assert method.actions == {Action.SWITCH, Action.BOOT, Action.TEST, Action.DRY_ACTIVATE}
    [job] = method.plan(DeployRequest(targets=[("web1", None)], method="colmena", flake="/lab"), {"web1": hive_host()})
    assert job.argv[:5] == ["colmena", "apply", "--on", "web1", "switch"] and job.targets == [("web1", None)]
    plain = Host(name="db1", hostname="db1", ssh=SshTarget(hostname="db1"))
    with pytest.raises(UserError, match="colmena cannot deploy `db1`: the flake has no Colmena hive node `db1`"):
        method.validate(plain)
    local = Host(name="box", hostname="box", ssh=SshTarget(hostname="box"), colmena=ColmenaNode(target_host=None))
    with pytest.raises(UserError, match="deployment.targetHost = null: only `colmena apply-local`"):
        method.validate(local)


@pytest.mark.parametrize("action", list(Action))
def test_the_real_colmena_accepts_the_command(real_colmena, tmp_path, action):
    """Colmena's own clap parser takes labtui's argv for every action: it gets past it and looks for the hive
    (a flake without a `colmena` output: exit 1 with nix's error), never a usage error (exit 2)."""
    flake = tmp_path / "lab"
    flake.mkdir()
    (flake / "flake.nix").write_text("{ outputs = _: { }; }\n")
    argv = colmena_command(str(flake), hive_host(), action, program=str(real_colmena))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=clean_env())
    assert proc.returncode == 1, proc.stderr
    assert "error: Flake must define outputs.colmena." in proc.stderr
    events = parse_lines(ColmenaParser("web1", action.value), proc.stderr.splitlines(), proc.returncode)
    [node] = [e for e in events if isinstance(e, NodeResult)]
    assert (node.outcome, node.stage, node.message) == (
        "not_deployed", "eval", "evaluation failed: error: Flake must define outputs.colmena.")


def test_real_colmena_help_lists_what_labtui_passes(real_colmena):
    out = subprocess.run([str(real_colmena), "apply", "--help"], capture_output=True, text=True, timeout=60).stdout
    for flag in ("--on <NODES>", "--config <CONFIG>", "--verbose", "--color <WHEN>"):
        assert flag in out
    assert "[possible values: build, push, switch, boot, test, dry-activate, keys]" in out


# ---- the emulator --------------------------------------------------------------------------------------------------


@pytest.fixture
def emulated(tmp_path):
    bin_dir = install_emulators(tmp_path / "bin")
    scenario = tmp_path / "scenario.json"
    env = {**clean_env(), "LABTUI_SIM_SCENARIO": str(scenario), "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def run(scenario_name: str, action: Action = Action.SWITCH, node: str = "web1"):
        scenario.write_text(json.dumps({"time_scale": 0, "nodes": {"web1": {"scenario": scenario_name},
                                                                   "db1": {}}}))
        argv = colmena_command("/home/me/lab", hive_host(node), action)
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60, env=env)
        events = parse_lines(ColmenaParser(node, action.value), proc.stdout.splitlines(), proc.returncode)
        [result] = [e for e in events if isinstance(e, NodeResult)]
        return proc, result

    return run


@pytest.mark.parametrize(("scenario", "action", "code", "outcome", "stage"), [
    ("success", Action.SWITCH, 0, "succeeded", "activate"),
    ("success", Action.BOOT, 0, "succeeded", "activate"),
    ("success", Action.TEST, 0, "succeeded", "activate"),
    ("success", Action.DRY_ACTIVATE, 0, "dry_activated", "activate"),
    ("activation-fails", Action.SWITCH, 1, "failed", "activate"),
    ("breaks-ssh", Action.SWITCH, 1, "failed", "activate"),
    ("build-fails", Action.SWITCH, 1, "failed", "build"),
    ("push-fails", Action.SWITCH, 1, "failed", "push"),
    ("eval-fails", Action.SWITCH, 1, "not_deployed", "eval"),
    ("check-fails", Action.SWITCH, 0, "succeeded", "activate"),  # colmena runs no flake checks
])
def test_emulator_scenarios_read_back(emulated, scenario, action, code, outcome, stage):
    proc, result = emulated(scenario, action)
    assert proc.returncode == code, proc.stdout
    assert (result.outcome, result.stage) == (outcome, stage), proc.stdout


def test_emulator_for_a_node_not_in_the_hive_selects_nothing(emulated):
    proc, result = emulated("success", node="mail1")
    assert proc.returncode == 0 and "[WARN ] No hosts selected." in proc.stdout
    assert result.outcome == "not_deployed"


def _shape(lines: list[str]) -> list[str]:
    """Job state texts (not child output): what the transcripts and the emulator must agree on, in order."""
    keep = ("Evaluating", "Evaluated", "Building", "Built", "Pushing", "Pushed", "No pre-activation", "Activating "
            "system", "Activation", "No post-activation", "All done!", "Failed:", "Build failed", "Push failed",
            "Evaluation failed")
    out = []
    for line in lines:
        match = JOB_RE.match(line)
        if match and (match.group("text") or "").startswith(keep):
            out.append(re.sub(r"/nix/store/\S+", "PATH", match.group("text")))
    return out


@pytest.mark.parametrize(("scenario", "log"), [
    ("success", "success-switch"), ("activation-fails", "activation-fails"), ("build-fails", "build-fails"),
    ("push-fails", "push-fails"), ("eval-fails", "eval-fails"),
])
def test_emulator_prints_the_transcripts_job_lines(emulated, scenario, log):
    proc, _ = emulated(scenario)
    assert _shape(proc.stdout.splitlines()) == _shape((LOGS / f"{log}.log").read_text().splitlines())


@pytest.mark.parametrize("args", [["apply", "reboot-now"], ["apply", "--frobnicate"], ["apply", "--color", "x"],
                                  ["apply", "switch", "boot"]])
def test_emulator_usage_errors_are_the_real_ones(real_colmena, tmp_path, args):
    """clap 4.0's words and exit 2, as the real binary prints them (recorded too: ../recordings/colmena/usage-*)."""
    bin_dir = install_emulators(tmp_path / "bin")
    real = subprocess.run([str(real_colmena), *args], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    emulated = subprocess.run([str(bin_dir / "colmena"), *args], capture_output=True, text=True, timeout=30)
    assert (emulated.returncode, emulated.stderr) == (real.returncode, real.stderr) == (2, real.stderr)


# ---- `labtui deploy` end to end: detached supervisor, the emulated colmena, the journal -----------------------------


@pytest.fixture
def hive_fleet(monkeypatch, tmp_path):
    import labtui.cli.common as common
    from labtui.inventory.model import Inventory

    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "flake.nix").write_text("{ outputs = _: { }; }\n")
    monkeypatch.chdir(lab)
    inventory = Inventory(flake=".", flake_dir=str(lab),
                          hosts=(hive_host("web1", tags=("web",)), hive_host("db1")), revision="0123abc", dirty=False)
    monkeypatch.setattr(common, "load_inventory", lambda args: inventory)
    return inventory


def test_labtui_deploy_runs_colmena_and_journals_it(emulated_run, hive_fleet, monkeypatch, capsys):
    import io
    import sys

    from labtui.cli.main import main
    from labtui.runs.journal import Journal

    emulated_run.scenario({"web1": "success", "db1": "activation-fails"})
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = main(["deploy", ".#web1", "db1", "--yes"])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    [run] = Journal.open().list_runs()
    detail = Journal.open().get_run(run.run_id)
    assert run.method == "colmena" and run.outcome == "failed"
    assert {n: o for n, _p, o in detail.summary.targets} == {"web1": "succeeded", "db1": "failed"}
    assert any(argv[:5] == ["colmena", "apply", "--on", "web1", "switch"] for argv in detail.argv)
    assert "colmena does not roll back" in out
    assert " web1 | Activation successful" in detail.output()


@pytest.fixture
def emulated_run(tmp_path, monkeypatch):
    from tests.deploy.emulated import Emulated

    return Emulated(tmp_path, monkeypatch)
