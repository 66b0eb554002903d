"""NixosRebuildParser on output recorded from the real bash nixos-rebuild (nixpkgs 35c631a, Nix 2.8, on the testbed;
tests/deploy/logs/real) and on nixos-rebuild-ng transcripts hand-written from its source (tests/deploy/logs/ng).
Stages come from what the script does; outcomes agree with the host's real state."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtui.deploy.parse import parse_lines
from labtui.deploy.parse.nixos_rebuild import NixosRebuildParser
from labtui.runs.events import NodeResult, Output, RunResult, StageChanged
from tests.deploy.real_logs import names, recorded, replay

NG = Path(__file__).parent / "logs" / "ng"

# scenario -> (outcome, stage) of host1 (the parallel runs: of their host)
EXPECTED = {
    "switch": ("succeeded", "activate"),
    "switch-fast": ("succeeded", "activate"),
    "switch-verbose": ("succeeded", "activate"),
    "switch-pty": ("succeeded", "activate"),
    "boot": ("succeeded", "activate"),
    "test": ("succeeded", "activate"),
    "dry-activate": ("dry_activated", "activate"),
    "parallel-a": ("succeeded", "activate"),
    "parallel-b": ("succeeded", "activate"),
    "parallel-one-failing-a": ("succeeded", "activate"),
    "parallel-one-failing-b": ("failed", "activate"),
    "switch-failure": ("failed", "activate"),
    "test-failure": ("failed", "activate"),
    "build-failure": ("failed", "build"),
    "eval-error": ("not_deployed", "eval"),
    "host-down": ("failed", "push"),
    "host-down-verbose": ("failed", "push"),
    "remote-sudo-missing": ("not_deployed", "activate"),
}


def action_of(argv: list[str]) -> str:
    words = " ".join(argv).split()  # switch-pty ran it inside `script -qefc "nixos-rebuild switch …"`
    return next(a for a in words if a in ("switch", "boot", "test", "dry-activate"))


def parse_real(name: str):
    run = recorded(f"nixos-rebuild/{name}")
    (host,) = run.hosts
    parser = NixosRebuildParser(host, action_of(run.argv))
    return run, host, replay(parser, run)


def result_of(events) -> NodeResult:
    (result,) = [e for e in events if isinstance(e, NodeResult)]
    return result


def test_every_recorded_run_has_an_expectation():
    assert {f"nixos-rebuild/{n}" for n in EXPECTED} == set(names("nixos-rebuild"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_outcome_of_each_recorded_run(name):
    run, host, events = parse_real(name)
    result = result_of(events)
    assert (result.outcome, result.stage) == EXPECTED[name]
    (run_result,) = [e for e in events if isinstance(e, RunResult)]
    assert run_result.exit_code == run.exit_code
    # against the host's real state
    if result.outcome == "succeeded" and action_of(run.argv) in ("switch", "test"):
        assert run.running_changed(host)
    if result.outcome in ("not_deployed", "dry_activated") or result.stage in ("build", "push"):
        assert not run.running_changed(host) and not run.changed(host)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ssh_t_noise_is_not_host_output(name):
    """Point 6: `Pseudo-terminal will not be allocated…` (and `Shared connection … closed.` under a pty) are ssh's
    remarks about the script's `ssh -t`, not the host's output."""
    _run, _host, events = parse_real(name)
    lines = [e.line for e in events if isinstance(e, Output)]
    assert not any("Pseudo-terminal" in line or "Shared connection" in line for line in lines)


def test_a_host_that_is_down_stops_at_the_copy():
    """Point 6: nix-copy-closure connects before it prints `copying`: the ssh errors alone say it is the copy."""
    _run, _host, events = parse_real("host-down")
    result = result_of(events)
    assert result.stage == "push" and "cannot connect to 'root@host1-lo'" in result.message
    assert [e.stage for e in events if isinstance(e, StageChanged)] == ["build", "push"]


def test_a_failing_switch_is_reported_at_activation_and_says_what_moved():
    """Point 6: the profile moved to the new generation (it boots next), the running system did not switch."""
    run, host, events = parse_real("switch-failure")
    result = result_of(events)
    assert result.stage == "activate" and result.outcome == "failed"
    assert "error(s) occurred while switching" in result.message
    assert "boots next" in result.message and "partly switched" in result.message
    assert run.changed(host) and not run.running_changed(host)  # the truth the message describes
    _run, _host, events = parse_real("test-failure")
    assert "next boot runs the old one" in result_of(events).message


def test_sudo_not_found_is_explained():
    """Point 6: exit 127 at the profile switch: sudo is missing on the host, nothing changed."""
    run, host, events = parse_real("remote-sudo-missing")
    result = result_of(events)
    assert run.exit_code == 127 and not run.changed(host)
    assert result.outcome == "not_deployed"
    assert "`sudo` is not installed on host1" in result.message and "nothing was changed" in result.message
    assert "exited with code 127" not in result.message


def test_stages_follow_the_scripts_steps():
    _run, _host, events = parse_real("switch")
    assert [e.stage for e in events if isinstance(e, StageChanged)] == ["build", "push", "activate"]
    _run, _host, events = parse_real("switch-verbose")
    assert [e.stage for e in events if isinstance(e, StageChanged)] == ["build", "push", "activate"]


def test_an_evaluation_error_of_nix_2_8_is_evaluation():
    _run, _host, events = parse_real("eval-error")
    result = result_of(events)
    assert (result.stage, result.message) == ("eval", "evaluation failed: error: testbed: evaluation error in host1")


# ---- nixos-rebuild-ng (hand-written from its source, tests/deploy/logs/ng/README.md) ------------------------------

NG_EXPECTED = {
    # file: (action, exit code, outcome, stage, words in the message)
    "switch": ("switch", 0, "succeeded", "activate", "activated"),
    "switch-verbose": ("switch", 0, "succeeded", "activate", "activated"),
    "deprecated-flag": ("switch", 0, "succeeded", "activate", "activated"),
    "dry-activate": ("dry-activate", 0, "dry_activated", "activate", "dry activation"),
    "switch-failure": ("switch", 4, "failed", "activate", "the following units failed: nginx.service"),
    "host-down": ("switch", 1, "failed", "push", "cannot connect to 'root@web1.lab'"),
    "sudo-missing": ("switch", 127, "not_deployed", "activate", "`sudo` is not installed on web1"),
    "sudo-password": ("switch", 1, "not_deployed", "activate", "sudo on web1 needs a password"),
    "eval-error": ("switch", 1, "not_deployed", "eval", "does not exist"),
    "build-failure": ("switch", 1, "failed", "build", "builder for"),
    "nix-too-old": ("switch", 1, "failed", "build", "needs Nix 2.18 or newer"),
}


def test_every_ng_transcript_has_an_expectation():
    assert {p.stem for p in NG.glob("*.log")} == set(NG_EXPECTED)


@pytest.mark.parametrize("name", sorted(NG_EXPECTED))
def test_nixos_rebuild_ng_transcripts(name):
    action, code, outcome, stage, words = NG_EXPECTED[name]
    lines = (NG / f"{name}.log").read_text().splitlines()
    events = parse_lines(NixosRebuildParser("web1", action), lines, code)
    result = result_of(events)
    assert (result.outcome, result.stage) == (outcome, stage)
    assert words in result.message
    shown = [e for e in events if isinstance(e, Output)]
    assert len(shown) == len([line for line in lines if line.strip()])  # every line shown, none dropped


def test_ng_verbose_commands_mark_the_stages():
    lines = (NG / "switch-verbose.log").read_text().splitlines()
    events = parse_lines(NixosRebuildParser("web1", "switch"), lines, 0)
    stages = [(e.stage, i) for i, e in enumerate(events) if isinstance(e, StageChanged)]
    assert [s for s, _ in stages] == ["build", "push", "activate"]
    # the re-exec build of nixos-rebuild itself is not the system's build
    first_output = next(e for e in events if isinstance(e, Output))
    assert "config.system.build.nixos-rebuild" in first_output.line and first_output.stage is None
