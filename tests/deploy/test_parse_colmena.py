"""ColmenaParser: `colmena apply --on NODE` output mapped to the deploy events, on the transcripts in
tests/deploy/logs/colmena/ (hand-written from Colmena's source, plus the recorded real ones: see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtui.deploy.parse import parse_lines
from labtui.deploy.parse.colmena import ColmenaParser
from labtui.runs.events import NodeResult, Output, RunResult, StageChanged

LOGS = Path(__file__).parent / "logs" / "colmena"


def run(name_or_lines, exit_code, action="switch", cancelled=False, node="web1"):
    lines = (LOGS / f"{name_or_lines}.log").read_text().splitlines() if isinstance(name_or_lines, str) \
        else name_or_lines
    parser = ColmenaParser(node, action)
    return parser, parse_lines(parser, lines, exit_code, cancelled=cancelled)


def of(events, cls):
    return [e for e in events if isinstance(e, cls)]


def result(events):
    [node] = of(events, NodeResult)
    [run_result] = of(events, RunResult)
    return node, run_result


def test_success_stages_path_and_result():
    parser, events = run("success-switch", 0)
    assert [e.stage for e in of(events, StageChanged)] == ["eval", "build", "push", "activate"]
    node, run_result = result(events)
    assert (node.node, node.profile, node.outcome, node.stage, node.message) == (
        "web1", "system", "succeeded", "activate", "activated")
    assert run_result.outcome == "succeeded" and run_result.exit_code == 0
    assert parser.new_path == "/nix/store/8kd2lwy7xq2nzgh4rfmsj1d9r3y0cba5-nixos-system-web1-24.05.20240601.5e3b6f0"
    copying = [e for e in of(events, Output) if "copying path" in e.line]
    assert copying and all(e.stage == "push" and e.node == "web1" for e in copying)
    # every line is kept, labels included, for the log pane and the journal
    assert len(of(events, Output)) == len((LOGS / "success-switch.log").read_text().splitlines())


def test_activation_failure_is_failed_and_not_rolled_back():
    _p, events = run("activation-fails", 1)
    node, run_result = result(events)
    assert (node.outcome, node.stage) == ("failed", "activate")
    assert node.message == ("switch-to-configuration switch failed: the following units failed: nginx.service; "
                            "colmena does not roll back, the host is left on the new configuration")
    assert run_result.outcome == "failed" and "web1: failed:" in run_result.message
    # the failure summary replays earlier lines: they stay output, and change no stage
    assert [e.stage for e in of(events, StageChanged)] == ["eval", "build", "push", "activate"]


@pytest.mark.parametrize(("log", "stage", "why"), [
    ("build-fails", "build", "build failed: error: builder for '/nix/store/c5d3j9l0fsz1wq4m2r7ph6xk8an0gyvb-etc.drv' "
                             "failed with exit code 1;"),
    ("push-fails", "push", "push failed: error: cannot open connection to remote store 'ssh-ng://root@web1.lan': "
                           "error: cannot connect to 'root@web1.lan'"),
    ("eval-fails", "eval", "evaluation failed: error: The option `services.nginxx' does not exist. Definition "
                           "values:"),
    ("unknown-profile", "activate", "activation failed: Unknown active profile: Profile(StorePath(\"/nix/store/"
                                    "zz1k2m3n4p5q6r7s8v9w0x1y2z3a4b5c-nixos-system-web1-24.05.20240501.1a2b3c4\"))"),
])
def test_failures_before_the_switch(log, stage, why):
    """Its own build or copy failed: `failed` at that stage; evaluation or a refused activation: `not_deployed`.
    Nothing was activated either way."""
    _p, events = run(log, 1)
    node, run_result = result(events)
    outcome = "failed" if stage in ("build", "push") else "not_deployed"
    assert (node.outcome, node.stage, node.message) == (outcome, stage, why)
    assert run_result.outcome == "failed"


def test_no_hosts_selected_exits_0_but_is_not_a_success():
    _p, events = run("no-hosts-selected", 0)
    node, run_result = result(events)
    assert node.outcome == "not_deployed" and "colmena selected no host for `--on web1`" in node.message
    assert run_result.outcome == "failed"


@pytest.mark.parametrize(("log", "action", "outcome", "message"), [
    ("dry-activate", "dry-activate", "dry_activated", "dry activation completed"),
    ("boot", "boot", "succeeded", "activated for next boot"),
])
def test_other_goals(log, action, outcome, message):
    _p, events = run(log, 0, action=action)
    node, run_result = result(events)
    assert (node.outcome, node.message) == (outcome, message) and run_result.outcome == "succeeded"


@pytest.mark.parametrize(("log", "exit_code", "why"), [
    ("recorded-eval-no-nixpkgs", 1,
     "evaluation failed: error: file 'nixpkgs' was not found in the Nix search path (add it using $NIX_PATH or -I)"),
    ("recorded-eval-flake-no-nixpkgs", 1, "evaluation failed: error: meta.nixpkgs must be specified in hermetic mode."),
    ("recorded-no-hive", 101, 'colmena failed: Could not find `hive.nix` or `flake.nix` in "/home/me/empty" or any '
                              "parent directory"),
])
def test_recorded_real_failures(log, exit_code, why):
    """Real Colmena 0.4.0 output (recorded, paths replaced): failures before any job starts."""
    _p, events = run(log, exit_code)
    node, run_result = result(events)
    assert (node.outcome, node.message) == ("not_deployed", why)
    assert run_result.exit_code == exit_code and run_result.outcome == "failed"


def test_a_panic_without_an_error_line_says_colmena_crashed():
    lines = ["thread 'main' (4242) panicked at src/nix/deployment/mod.rs:400:23:", "called `Result::unwrap()` on an "
             "`Err` value: JoinError", "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"]
    _p, events = run(lines, 101)
    node, _ = result(events)
    assert node.message == ("colmena crashed: src/nix/deployment/mod.rs:400:23: called `Result::unwrap()` on an "
                            "`Err` value: JoinError")


def test_cancel_and_kill_and_silent_exit_0():
    lines = (LOGS / "success-switch.log").read_text().splitlines()
    _p, events = run(lines[:8], None, cancelled=True)
    node, run_result = result(events)
    assert (node.outcome, node.message, run_result.outcome) == ("cancelled", "cancelled during build", "cancelled")
    _p, events = run(lines[:22], None)  # killed during the switch
    node, _ = result(events)
    assert (node.outcome, node.stage) == ("failed", "activate") and "colmena was killed" in node.message
    _p, events = run([lines[0], "      | All done!"], 0)  # never call an exit 0 without the node's activation a success
    node, run_result = result(events)
    assert node.outcome == "not_deployed" and run_result.outcome == "failed"


def test_other_nodes_lines_do_not_move_this_node_and_ansi_is_stripped():
    lines = ["\x1b[1m db1\x1b[0m | Building db1", "\x1b[1m web1\x1b[0m | Evaluating web1",
             "\x1b[1;31m db1\x1b[0m | \x1b[31mBuild failed: Child process exited with error code: 1\x1b[0m",
             " web1 | Activating system profile", " web1 | Activation successful", "      | All done!"]
    _p, events = run(lines, 0)
    assert [e.stage for e in of(events, StageChanged)] == ["eval", "activate"]
    node, _ = result(events)
    assert node.outcome == "succeeded"
    assert not any("\x1b" in e.line for e in of(events, Output))


def test_lines_after_finish_are_output_only():
    parser = ColmenaParser("web1", "switch")
    parser.finish(0, 1.0)
    assert [type(e) for e in parser.feed(" web1 | Activation failed: late", 2.0)] == [Output]
    assert parser.results[("web1", "system")].outcome == "not_deployed"


@pytest.mark.parametrize(("log", "exit_code", "action", "outcome", "stage", "message"), [
    ("recorded-apply-switch", 0, "switch", "succeeded", "activate", "activated"),
    ("recorded-apply-boot", 0, "boot", "succeeded", "activate", "activated for next boot"),
    ("recorded-apply-test", 0, "test", "succeeded", "activate", "activated until the next reboot"),
    ("recorded-apply-dry-activate", 0, "dry-activate", "dry_activated", "activate", "dry activation completed"),
    ("recorded-apply-activation-fails", 1, "switch", "failed", "activate",
     "switch-to-configuration switch failed: error(s) occurred while switching to the new configuration; colmena does "
     "not roll back, the host is left on the new configuration"),
    ("recorded-apply-build-fails", 1, "switch", "failed", "build",
     "build failed: error: builder for '/nix/store/ky5pcxqn2vk1b26jl2x0699d9zm5sr89-nixos-system-host1-broken.drv' "
     "failed with exit code 1"),
    ("recorded-apply-eval-fails", 1, "switch", "not_deployed", "eval",
     "evaluation failed: error: hive: evaluation error in host1"),
    ("recorded-apply-host-down", 1, "switch", "failed", "push",
     "push failed: error: cannot open connection to remote store 'ssh-ng://root@host1-lo': error: unexpected "
     "end-of-file"),
])
def test_recorded_real_apply_runs(log, exit_code, action, outcome, stage, message):
    """Real `colmena apply --on host1` runs (Colmena 0.4.0 against the testbed, the hive on the stand-in nixpkgs)."""
    _p, events = run(log, exit_code, action=action, node="host1")
    node, run_result = result(events)
    assert (node.outcome, node.stage, node.message) == (outcome, stage, message)
    assert run_result.outcome == ("succeeded" if exit_code == 0 else "failed")


def test_recorded_no_such_node_and_two_nodes():
    _p, events = run("recorded-apply-no-such-node", 0, node="host9")
    node, run_result = result(events)
    assert node.outcome == "not_deployed" and run_result.outcome == "failed"
    for host in ("host1", "host2"):  # one process for two nodes: each node's own lines decide (labtui runs one each)
        parser, events = run("recorded-apply-two-nodes", 0, node=host)
        node, _ = result(events)
        assert node.outcome == "succeeded" and (parser.new_path or "").endswith(f"{host}-24.11.20241201.c0ffee0")
        assert [e.stage for e in of(events, StageChanged)] == ["eval", "build", "push", "activate"]
