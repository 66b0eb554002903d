"""NixosRebuildParser: nixos-rebuild output mapped to the deploy events."""

from __future__ import annotations

from pathlib import Path

from labtui.deploy.parse import parse_lines
from labtui.deploy.parse.nixos_rebuild import NixosRebuildParser
from labtui.runs.events import NodeResult, Output, RunResult, StageChanged

LOGS = Path(__file__).parent / "logs"


def run(name_or_lines, exit_code, action="switch", cancelled=False):
    if isinstance(name_or_lines, str):
        lines = (LOGS / f"{name_or_lines}.log").read_text().splitlines()
    else:
        lines = name_or_lines
    parser = NixosRebuildParser("web1", action)
    return parser, parse_lines(parser, lines, exit_code, cancelled=cancelled)


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


def test_switch_success_stages_and_result():
    parser, events = run("nixos-rebuild-switch", 0)
    assert [e.stage for e in of(events, StageChanged)] == ["build", "push", "activate"]
    result = of(events, NodeResult)[0]
    assert (result.node, result.profile, result.outcome, result.stage) == ("web1", "system", "succeeded", "activate")
    assert of(events, RunResult)[0].outcome == "succeeded"
    assert parser.new_path.endswith("nixos-system-web1-24.05.20240601.5e3b6f0")
    copying = [e for e in of(events, Output) if e.line.startswith("copying path")]
    assert all(e.stage == "push" and e.node == "web1" for e in copying)


def test_units_fail_is_failed_without_rollback():
    _p, events = run("nixos-rebuild-units-fail", 1)
    result = of(events, NodeResult)[0]
    assert result.outcome == "failed" and result.stage == "activate"
    assert "the following units failed: nginx.service" in result.message
    assert "does not roll back" in result.message
    assert of(events, RunResult)[0].outcome == "failed"


def test_eval_failure_is_not_deployed():
    _p, events = run("nixos-rebuild-eval-fails", 1)
    result = of(events, NodeResult)[0]
    assert (result.outcome, result.stage) == ("not_deployed", "eval")
    assert "services.nginxx" in result.message


def test_push_failure_is_failed_at_push():
    lines = ["building the system configuration...", "copying 2 paths...",
             "ssh: connect to host 10.0.0.11 port 22: Connection refused",
             "error: failed to start SSH connection to 'deploy@10.0.0.11'"]
    _p, events = run(lines, 1)
    result = of(events, NodeResult)[0]
    assert (result.outcome, result.stage) == ("failed", "push")
    assert "failed to start SSH connection" in result.message


def test_actions():
    lines = ["building the system configuration...", "updating GRUB 2 menu..."]
    _p, events = run(lines, 0, action="boot")
    assert of(events, NodeResult)[0].message == "activated for next boot"
    lines = ["building the system configuration...", "would restart the following units: nginx.service"]
    _p, events = run(lines, 0, action="dry-activate")
    assert of(events, NodeResult)[0].outcome == "dry_activated"


def test_cancelled_during_build():
    _p, events = run(["building the system configuration...", "building '/nix/store/x.drv'..."], None, cancelled=True)
    assert of(events, NodeResult)[0].outcome == "not_deployed"
    assert of(events, RunResult)[0].outcome == "cancelled"


def test_after_finish_only_output():
    parser, _events = run("nixos-rebuild-switch", 0)
    assert [e.kind for e in parser.feed("late", 1.0)] == ["output"]
    assert parser.finish(0, 1.0) == []
