"""Pure parts of the TUI: the deploy pane's model, the filter, the core adapters."""

from __future__ import annotations

from labtui.inventory.model import Host, SshTarget
from labtui.runs.events import ConfirmWindow, NodeResult, Output, RunResult, RunStarted, StageChanged, Stall
from labtui.tui import filtering
from labtui.tui.adapters import RunHandle, deploy_request
from labtui.tui.deploy_model import RunView
from labtui.tui.deploy_pane import ascii_line, compact_line
from labtui.tui.sources import DeployChoice
from tests.support.frozen import ScriptedRun, deploy_events, frozen_lab


def test_countdown_is_a_deadline_from_the_event(tmp_path):
    run = RunView()
    run.apply(RunStarted(ts=100.0, run_id="r", method="deploy-rs", nodes=["a"], argv=[]))
    run.apply(ConfirmWindow(ts=110.0, node="a", profile="system", seconds=30))
    label, window = run.nodes["a"].active_window(125.0)
    assert label == "confirm" and window.deadline == 140.0
    assert window.fraction_left(125.0) == 0.5


def test_rollback_stays_and_first_failure(tmp_path):
    lab, _ = frozen_lab(tmp_path)
    run = RunView()
    for e in deploy_events(lab, ["grey-area", "printer-pi"], 1000.0):
        run.apply(e)
    pi = run.nodes["printer-pi"]
    assert pi.rollback == "magic" and pi.outcome == "rolled_back" and pi.active_window(2000.0) is None
    assert run.nodes["grey-area"].outcome == "succeeded" and run.nodes["grey-area"].confirmed
    assert run.first_failure() == "printer-pi"
    assert run.outcome == "failed"
    assert run.counts() == {"rolled_back": 1, "succeeded": 1}


def test_output_buffers_are_bounded_and_batched():
    run = RunView(["a"])
    run.apply_lines("a", [f"line {i}" for i in range(30_000)])
    view = run.nodes["a"]
    assert view.total_lines == 30_000 and len(view.lines) == 20_000
    assert view.last_line == "line 29999"
    assert view.lines_since(29_990) == [f"line {i}" for i in range(29_990, 30_000)]
    run.apply(Output(ts=1.0, node=None, stage=None, line="run-wide"))
    assert list(run.run_lines) == ["run-wide"]


def test_stall_shows_until_output_resumes_and_unreported_hosts_end_not_deployed():
    run = RunView(["a", "b"])
    run.apply(StageChanged(ts=1.0, node="a", profile="system", stage="push"))
    run.apply(Stall(ts=2.0, node="a", stage="push", seconds=60, hint="-oControlMaster=no"))
    assert run.nodes["a"].stall is not None
    run.apply(Output(ts=3.0, node="a", stage="push", line="copying"))
    assert run.nodes["a"].stall is None
    run.apply(NodeResult(ts=4.0, node="a", profile="system", outcome="failed", stage="push"))
    run.apply(RunResult(ts=5.0, outcome="failed", exit_code=1))
    assert run.nodes["b"].outcome == "not_deployed"


def test_filter_words():
    host = Host(name="reverse-proxy", hostname="10.0.0.1", ssh=SshTarget("10.0.0.1"), tags=("edge", "prod"),
                critical=True)
    assert filtering.parse("@edge").matches(host)
    assert filtering.parse("@critical").matches(host)
    assert filtering.parse("^rev @pro*").matches(host)
    assert not filtering.parse("!proxy").matches(host)
    bad = filtering.parse("rev(")
    assert bad.error and "literally" in bad.error and not bad.matches(host)


def test_compact_and_ascii_lines():
    assert compact_line("🚀 ℹ️ [deploy] [INFO] Building") == "deploy: Building"
    assert compact_line("⭐ ⚠️ [activate] [WARN] De-activating") == "activate WARN: De-activating"
    assert ascii_line("copying 'ü'") == "copying '?'"


def test_the_output_panel_keeps_store_names_in_view():
    """Issue 12 point 9: at 80 columns a store path keeps its hash prefix and its name, not 32 hash characters."""
    from labtui.tui.deploy_pane import short_hashes

    line = ("copying path '/nix/store/6grh1qk3x302a7akbsx9my2s36pwbpw7-activatable-nixos-system-grey-area-25.11' "
            "to 'ssh://root@127.0.0.1'...")
    assert short_hashes(line) == ("copying path '/nix/store/6grh1qk…-activatable-nixos-system-grey-area-25.11' "
                                  "to 'ssh://root@127.0.0.1'...")
    assert short_hashes(line, "~").startswith("copying path '/nix/store/6grh1qk~-activatable")
    assert short_hashes("/nix/store/not-a-hash-path") == "/nix/store/not-a-hash-path"


def test_deploy_request_from_the_dialog():
    req = deploy_request(DeployChoice(hosts=("a", "b"), mode="atomic", magic_rollback=False, skip_checks=True))
    assert req.targets == [("a", None), ("b", None)] and req.atomic and req.interactive
    assert req.options.magic_rollback is False and req.options.auto_rollback is None and req.options.skip_checks
    req = deploy_request(DeployChoice(hosts=("a",), method="nixos-rebuild", action="boot", show_plan=True))
    assert req.method == "nixos-rebuild" and req.action == "boot" and not req.interactive and not req.atomic


async def test_run_handle_asks_for_sudo_passwords():
    from labtui.runs.events import PasswordPrompt

    class Run(ScriptedRun):
        def __init__(self):
            super().__init__(lambda: 0.0)
            self.passwords = []

        def send_password(self, hostname, password):
            self.passwords.append((hostname, password))

    run = Run()
    asked = []

    async def ask(host):
        asked.append(host)
        return "hunter2"

    handle = RunHandle(run, ask, detachable=True)
    run.feed(PasswordPrompt(ts=1.0, node="nas", hostname="10.0.0.5"))
    run.feed(RunResult(ts=2.0, outcome="succeeded", exit_code=0))
    events = [e async for e in handle.events()]
    assert asked == ["nas"] and run.passwords == [("10.0.0.5", "hunter2")]
    assert [type(e).__name__ for e in events] == ["RunResult"]


def test_events_of_other_modules_show_as_lines():
    from labtui.runs.events import CheckResultEvent, NodeState

    run = RunView(["a"])
    run.apply(NodeState(ts=1.0, node="a", when="before", generation=87))
    run.apply(CheckResultEvent(ts=2.0, node="a", check="nginx", check_kind="unit", ok=False, attempts=3,
                               message="nginx.service is failed", duration=6.0))
    view = run.nodes["a"]
    assert view.generations == {"before": 87}
    assert view.last_line == "labtui: check nginx (unit) FAILED: nginx.service is failed"
    assert list(view.lines)[0] == "labtui: before the deploy: generation 87"
