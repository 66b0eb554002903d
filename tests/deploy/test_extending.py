"""A new deploy method is its module plus one registration: the toy of docs/extending.md, end to end."""

from __future__ import annotations

import os
import stat

import pytest

from labtui.cli.common import config_schema
from labtui.cli.main import build_parser
from labtui.deploy.methods import METHODS
from labtui.deploy.orchestrator import DeployRun
from labtui.deploy.request import DeployRequest
from labtui.deploy.runner import RunnerTimings
from labtui.errors import UserError
from labtui.inventory.config import apply_config, parse_config
from labtui.runs.events import NodeResult, RunResult, StageChanged
from tests.deploy.cli_harness import make_inventory
from tests.deploy.toy_method import LabApply

FAST = RunnerTimings(quiet_flush=0.05, cancel_grace=(1.0, 1.0), late_output=1.0, stall_after=None)
SCRIPT = """#!/bin/sh
echo "building $2"
echo "activating $2"
[ "$2" = "web2.lab" ] && exit 4
exit 0
"""


@pytest.fixture
def lab_apply(tmp_path, monkeypatch):
    METHODS.register(LabApply())  # the one registration line (in labtui/deploy/methods/__init__.py)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    program = bin_dir / "lab-apply"
    program.write_text(SCRIPT)
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    yield
    METHODS.unregister("lab-apply")


async def test_the_orchestrator_plans_runs_and_parses_a_registered_method(lab_apply):
    run = DeployRun(DeployRequest(targets=[("web1", None), ("web2", None)], method="lab-apply"),
                    make_inventory("web1,web2"), timings=FAST, locking=False)
    assert run.argvs == [["lab-apply", ".", "web1.lab", "switch"], ["lab-apply", ".", "web2.lab", "switch"]]
    events = [e async for e in run.events()]
    assert [(e.node, e.stage) for e in events if isinstance(e, StageChanged) and e.node == "web1"] == [
        ("web1", "build"), ("web1", "activate")]
    final = {e.node: e.outcome for e in events if isinstance(e, NodeResult)}
    assert final == {"web1": "succeeded", "web2": "failed"}
    assert isinstance(events[-1], RunResult) and events[-1].outcome == "failed"
    assert METHODS.get("lab-apply").find_program().endswith("/lab-apply")


def test_its_actions_and_abilities_come_from_the_class(lab_apply):
    inventory = make_inventory("web1")
    with pytest.raises(UserError, match="lab-apply has no `dry-activate` action; use --method deploy-rs or "
                                        "nixos-rebuild or colmena for `dry-activate`"):
        DeployRun(DeployRequest(targets=[("web1", None)], method="lab-apply", action="dry-activate"), inventory)
    with pytest.raises(UserError, match="--atomic needs deploy-rs"):
        DeployRun(DeployRequest(targets=[("web1", None)], method="lab-apply", atomic=True), inventory)


def test_choices_and_labtui_toml_know_it(lab_apply, tmp_path):
    parser, _ = build_parser("deploy")
    assert parser.parse_args(["deploy", "web1", "--method", "lab-apply"]).method == "lab-apply"
    parser, _ = build_parser("parse-log")
    assert parser.parse_args(["parse-log", "x.log", "--method", "lab-apply"]).method == "lab-apply"
    path = tmp_path / "labtui.toml"
    path.write_text('[hosts.web1]\nmethod = "lab-apply"\n')
    config = parse_config(path, config_schema())
    hosts, _ = apply_config(list(make_inventory("web1").hosts), config, ".")
    assert hosts[0].method == "lab-apply"


def test_parse_log_reads_its_saved_output(lab_apply, tmp_path, capsys):
    from labtui.cli.main import main

    log = tmp_path / "apply.log"
    log.write_text("building web1.lab\nactivating web1.lab\n")
    assert main(["parse-log", str(log), "--method", "lab-apply", "--targets", "web1", "--exit-code", "0"]) == 0
    assert "web1                 succeeded: activated" in capsys.readouterr().out


def test_unregistered_it_is_unknown_again():
    assert "lab-apply" not in METHODS
    with pytest.raises(UserError, match="unknown deploy method `lab-apply`; use one of deploy-rs, nixos-rebuild"):
        DeployRun(DeployRequest(targets=[("web1", None)], method="lab-apply"), make_inventory("web1"))
