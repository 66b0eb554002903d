"""DeployRun end to end against the deploy-rs / nixos-rebuild emulators: every scenario's honest outcome."""

from __future__ import annotations

import asyncio
import time

import pytest

from labtui.deploy.commands import DeployRsOptions
from labtui.deploy.orchestrator import DeployRun
from labtui.deploy.request import DeployRequest
from labtui.deploy.runner import RunnerTimings
from labtui.errors import UserError
from labtui.runs.events import (
    NodeResult,
    Output,
    PasswordPrompt,
    Rollback,
    RunResult,
    RunStarted,
    StageChanged,
    Stall,
)
from labtui.runs.locks import HostLocked, HostLocks
from tests.deploy.cli_harness import make_inventory
from tests.deploy.emulated import emulated  # noqa: F401  (fixture)

FAST = RunnerTimings(quiet_flush=0.05, cancel_grace=(1.0, 1.0), late_output=1.0, stall_after=None)


async def run_all(run: DeployRun, on_event=None) -> list:
    events = []
    async for event in run.events():
        events.append(event)
        if on_event is not None:
            result = on_event(event)
            if asyncio.iscoroutine(result):
                await result
    return events


def outcomes(events) -> dict[str, str]:
    final: dict[str, str] = {}
    for event in events:
        if isinstance(event, NodeResult):
            final[event.node] = event.outcome
    return final


def deploy(nodes, *, hosts="web1,web2,db1,db2,app1,app2,app3,app4", timings=FAST, **request):
    inventory = make_inventory(hosts)
    return DeployRun(DeployRequest(targets=[(n, None) for n in nodes], **request), inventory, timings=timings)


async def test_success(emulated):
    emulated.scenario({"web1": "success"})
    events = await run_all(deploy(["web1"]))
    assert isinstance(events[0], RunStarted) and events[0].nodes == ["web1"]
    assert isinstance(events[-1], RunResult) and (events[-1].outcome, events[-1].exit_code) == ("succeeded", 0)
    assert outcomes(events) == {"web1": "succeeded"}
    stages = [e.stage for e in events if isinstance(e, StageChanged) and e.node == "web1"]
    assert {"build", "push", "activate"} <= set(stages)


@pytest.mark.parametrize("scenario, outcome, stage, rollback", [
    ("activation-fails", "rolled_back", "activate", "auto"),
    ("magic-timeout", "rolled_back", None, "magic"),
    ("build-fails", "failed", "build", None),
    ("push-fails", "failed", "push", None),
    ("check-fails", "not_deployed", "check", None),
])
async def test_failure_scenarios(emulated, scenario, outcome, stage, rollback):
    emulated.scenario({"web1": scenario})
    events = await run_all(deploy(["web1"]))
    result = [e for e in events if isinstance(e, NodeResult)][-1]
    assert result.outcome == outcome
    if stage:
        assert result.stage == stage
    rollbacks = [e.rollback_kind for e in events if isinstance(e, Rollback)]
    assert (rollback in rollbacks) if rollback else not rollbacks
    assert (events[-1].outcome, events[-1].exit_code) == ("failed", 1)


async def test_result_within_seconds_while_an_orphan_holds_the_pipe(emulated):
    """deploy-rs exits after the failed activation; its orphaned `wait` ssh prints 60 s later."""
    emulated.scenario({"web1": "activation-fails"}, top={"orphan_late_line": True, "orphan_seconds": 60})
    run = deploy(["web1"])
    started = time.monotonic()
    events = await run_all(run)
    assert time.monotonic() - started < 6
    assert outcomes(events) == {"web1": "rolled_back"} and events[-1].outcome == "failed"
    assert not any(isinstance(e, Output) and "Error waiting for activation" in e.line for e in events)
    await asyncio.wait_for(run.wait_late_output(), 10)  # the orphan is ended after the late window


async def test_dry_activate_and_boot(emulated):
    emulated.scenario({"web1": "success", "web2": "success"})
    events = await run_all(deploy(["web1"], action="dry-activate"))
    assert outcomes(events) == {"web1": "dry_activated"} and events[-1].outcome == "succeeded"
    assert "--dry-activate" in events[0].argvs[0]
    events = await run_all(deploy(["web2"], action="boot"))
    assert outcomes(events) == {"web2": "succeeded"} and "--boot" in events[0].argvs[0]


async def test_parallel_with_one_failing_node(emulated):
    emulated.scenario({"web1": "success", "web2": "activation-fails", "db1": "success"})
    events = await run_all(deploy(["web1", "web2", "db1"], parallel=3))
    assert outcomes(events) == {"web1": "succeeded", "web2": "rolled_back", "db1": "succeeded"}
    assert len(events[0].argvs) == 3 and all("--targets" not in argv for argv in events[0].argvs)
    assert events[-1].outcome == "failed"
    # Events of one node all name it, even the ones deploy-rs did not attribute (check/eval).
    assert all(e.node in ("web1", "web2", "db1") for e in events if isinstance(e, (StageChanged, Output)))


async def test_atomic_run_revokes_succeeded_nodes(emulated):
    emulated.scenario({"web1": "success", "web2": "activation-fails"})
    events = await run_all(deploy(["web1", "web2"], atomic=True))
    assert len(events[0].argvs) == 1 and "--targets" in events[0].argvs[0]
    assert outcomes(events) == {"web1": "rolled_back", "web2": "rolled_back"}
    assert any(isinstance(e, Rollback) and e.node == "web1" and e.rollback_kind == "revoke" for e in events)
    assert events[-1].outcome == "failed"


@pytest.mark.parametrize("answer, outcome, run_outcome", [(True, "succeeded", "succeeded"),
                                                         (False, "cancelled", "cancelled")])
async def test_interactive_prompt(emulated, answer, outcome, run_outcome):
    """deploy-rs's plan question answered no: the operator chose not to deploy, so the run is cancelled, not failed
    (with deploy-rs's own status 1: no Ctrl-C)."""
    emulated.scenario({"web1": "success"})
    run = deploy(["web1"], interactive=True)

    def on_event(event):
        if event.kind == "prompt":
            assert [p.node for p in event.plan] == ["web1"] and event.plan[0].path.startswith("/nix/store/")
            assert run.pending_prompts == ["web1"]
            run.answer_prompt(answer)

    events = await run_all(run, on_event)
    assert "--interactive" in events[0].argvs[0]
    assert outcomes(events) == {"web1": outcome}
    assert any(e.kind == "prompt_answered" and e.yes is answer for e in events)
    assert (events[-1].outcome, events[-1].exit_code) == (run_outcome, 0 if answer else 1)
    if not answer:
        assert events[-1].message == "declined at the deploy-rs prompt: web1.system cancelled"


async def test_interactive_runs_ask_every_question_up_front_then_build_in_turns(emulated):
    """parallel 1, three hosts: the three plans come before anything builds; then one host at a time."""
    emulated.scenario({"web1": "success", "web2": "success", "db1": "success"})
    run = deploy(["web1", "web2", "db1"], interactive=True, parallel=1, action="switch")
    prompts: list[str] = []
    active: set[str] = set()
    most = 0

    def on_event(event):
        nonlocal most
        if event.kind == "prompt":
            prompts.extend(p.node for p in event.plan)
            if len(prompts) == 3:
                assert sorted(run.pending_prompts) == ["db1", "web1", "web2"]
                run.answer_prompt(True)  # one answer, up front, for every host
                assert run.pending_prompts == []  # answered; two of them wait for their turn
        elif isinstance(event, StageChanged) and event.stage in ("build", "push", "activate"):
            assert len(prompts) == 3, "a host built before every host had asked"
            active.add(event.node)
            most = max(most, len(active))
        elif isinstance(event, NodeResult):
            active.discard(event.node)

    events = await run_all(run, on_event)
    assert sorted(prompts) == ["db1", "web1", "web2"]
    assert outcomes(events) == {"web1": "succeeded", "web2": "succeeded", "db1": "succeeded"}
    assert most == 1  # the parallel limit holds for building and activating


async def test_cancel_a_hanging_deploy(emulated):
    emulated.scenario({"web1": "hang"})
    run = deploy(["web1"])
    started = time.monotonic()

    def on_event(event):
        if isinstance(event, StageChanged) and event.stage in ("build", "push", "activate"):
            asyncio.get_running_loop().create_task(run.cancel())

    events = await run_all(run, on_event)
    assert time.monotonic() - started < 10
    assert (events[-1].outcome, events[-1].exit_code) == ("cancelled", 130)
    assert outcomes(events)["web1"] in ("cancelled", "failed")  # failed: it was stopped while activating


async def test_cancel_one_node_the_others_go_on(emulated):
    """One node cancelled while it runs, another while it waits for a slot: both `cancelled`, the third deploys."""
    emulated.scenario({"web1": "hang", "web2": "success", "db1": "success"})
    run = deploy(["web1", "web2", "db1"], parallel=2)
    cancels: list[str] = []

    def on_event(event):
        if isinstance(event, StageChanged) and event.node == "web1" and not cancels:
            cancels.append("web1")
            loop = asyncio.get_running_loop()
            loop.create_task(run.cancel("db1"))  # queued behind web1 and web2 (parallel 2)
            loop.create_task(run.cancel("web1"))

    events = await run_all(run, on_event)
    final = outcomes(events)
    assert final["db1"] == "cancelled" and final["web2"] == "succeeded"
    assert final["web1"] in ("cancelled", "failed")  # failed only when it was stopped while activating
    if final["web1"] == "cancelled":
        assert (events[-1].outcome, events[-1].exit_code) == ("cancelled", 130)
    db1 = [e for e in events if isinstance(e, NodeResult) and e.node == "db1"][-1]
    assert db1.message == "cancelled before it started"


async def test_stall_event_on_a_silent_stage(emulated):
    emulated.scenario({"web1": "hang"})
    run = deploy(["web1"], timings=RunnerTimings(quiet_flush=0.05, stall_after=0.3, cancel_grace=(1.0, 1.0)))

    def on_event(event):
        if isinstance(event, Stall):
            asyncio.get_running_loop().create_task(run.cancel())

    events = await run_all(run, on_event)
    stall = next(e for e in events if isinstance(e, Stall))
    assert stall.node == "web1" and "ControlMaster" in stall.hint
    assert events[-1].outcome == "cancelled"


async def test_nixos_rebuild_one_process_per_host(emulated):
    emulated.scenario({"web1": "success", "web2": "activation-fails"})
    events = await run_all(deploy(["web1", "web2"], method="nixos-rebuild", action="test"))
    argvs = events[0].argvs
    assert [a[:2] for a in argvs] == [["nixos-rebuild", "test"], ["nixos-rebuild", "test"]]
    result = outcomes(events)
    assert result["web1"] == "succeeded" and result["web2"] in ("failed", "rolled_back")


async def test_timeouts_from_inventory_with_cli_override(emulated):
    emulated.scenario({"web1": "success"})
    events = await run_all(deploy(["web1"], options=DeployRsOptions(confirm_timeout=7)))
    windows = [e for e in events if e.kind == "confirm_window"]
    assert windows and windows[0].seconds == 7
    assert ["--confirm-timeout", "7"] == events[0].argvs[0][events[0].argvs[0].index("--confirm-timeout"):][:2]


async def test_post_node_hook_changes_the_final_outcome(emulated):
    emulated.scenario({"web1": "success", "web2": "success"})
    calls = []

    async def gate(node, result):
        calls.append((node, result.outcome))
        yield Output(ts=time.time(), node=node, stage="health", line=f"checking {node}")
        if node == "web2":
            yield NodeResult(ts=time.time(), node=node, profile=result.profile, outcome="rolled_back",
                             stage="health", message="http check failed")

    run = deploy(["web1", "web2"])
    run.post_node = gate
    events = await run_all(run)
    assert sorted(calls) == [("web1", "succeeded"), ("web2", "succeeded")]
    assert outcomes(events) == {"web1": "succeeded", "web2": "rolled_back"}
    # Consumers see one final result per node: the provisional one is held back.
    assert len([e for e in events if isinstance(e, NodeResult) and e.node == "web2"]) == 1
    assert events[-1].outcome == "failed"


async def test_hook_that_raises_fails_the_node(emulated):
    emulated.scenario({"web1": "success"})

    async def gate(node, result):
        raise RuntimeError("no route to host")
        yield  # pragma: no cover

    run = deploy(["web1"])
    run.post_node = gate
    events = await run_all(run)
    result = [e for e in events if isinstance(e, NodeResult)][-1]
    assert (result.outcome, result.stage) == ("failed", "health") and "no route" in result.message


async def test_parallel_limit_is_respected(emulated):
    emulated.scenario({n: "success" for n in ("web1", "web2", "db1")}, time_scale=0.02)
    run = deploy(["web1", "web2", "db1"], parallel=1)
    running, peak = set(), 0

    def on_event(event):
        nonlocal peak
        if isinstance(event, StageChanged):
            running.add(event.node)
        if isinstance(event, NodeResult):
            running.discard(event.node)
        peak = max(peak, len(running))

    await run_all(run, on_event)
    assert peak == 1


async def test_locked_host_is_refused(emulated):
    emulated.scenario({"web1": "success"})
    with HostLocks(["web1"], run_id="other-run", operator="alice"):
        run = deploy(["web1"])
        with pytest.raises(HostLocked, match="alice"):
            await run_all(run)


class ScriptedLock:
    """A host's lock script as a fake conversation: answers `word` (taken, busy + holder, unavailable ...)."""

    def __init__(self, answer: str) -> None:
        self.answer_text = answer
        self.closed = False
        self.dropped = False  # the connection went away under it (the host released the lock)

    @property
    def ended(self) -> bool:
        return self.closed or self.dropped

    async def answer(self, end_line, *, timeout, max_chars):
        return f"{self.answer_text}\n{end_line}\n"

    def close(self) -> None:
        self.closed = True


async def test_the_locks_on_the_hosts_are_held_for_the_run_and_their_faults_said(emulated):
    from labtui.runs.remote_locks import RemoteHostLocks

    emulated.scenario({"web1": "success", "web2": "success"})
    opened: dict[str, ScriptedLock] = {}

    async def open_conversation(host: str, command: str) -> ScriptedLock:
        assert "flock -n" in command and "/run/lock/labtui-deploy.lock" in command
        opened[host] = ScriptedLock("taken" if host == "web1" else "unavailable flock(1) is not installed")
        return opened[host]

    remote = RemoteHostLocks(["web1", "web2"], "run-1", "op", open_conversation)
    run = DeployRun(DeployRequest(targets=[("web1", None), ("web2", None)]), make_inventory("web1,web2"),
                    timings=FAST, remote_locks=remote)

    def cut_web1(event):
        if isinstance(event, RunStarted):
            assert not opened["web1"].closed  # held while the run goes
            opened["web1"].dropped = True

    events = await run_all(run, cut_web1)
    notes = [e.line for e in events if isinstance(e, Output) and e.source == "raw" and "deploy lock" in e.line]
    assert notes == ["labtui: cannot take the deploy lock on the host (flock(1) is not installed); the run goes on "
                     "with this machine's lock only",
                     "labtui: the deploy lock on the host went away during the run (its SSH connection dropped, so "
                     "the host released it)"]
    assert outcomes(events) == {"web1": "succeeded", "web2": "succeeded"}
    assert opened["web1"].closed and remote.held == []  # released with the run


async def test_a_host_locked_by_another_machine_refuses_the_run_and_gives_back_the_local_locks(emulated):
    from labtui.runs.remote_locks import RemoteHostLocks, holder_json

    emulated.scenario({"web1": "success"})
    holder = holder_json("alice", "run-a", since=1795694400)

    async def open_conversation(host: str, command: str) -> ScriptedLock:
        return ScriptedLock(f"busy\n{holder}")

    remote = RemoteHostLocks(["web1"], "run-1", "bob", open_conversation)
    run = DeployRun(DeployRequest(targets=[("web1", None)]), make_inventory("web1"), timings=FAST,
                    remote_locks=remote)
    with pytest.raises(HostLocked, match=r"alice@.* \(the lock on the host, /run/lock/labtui-deploy.lock\)"):
        await run_all(run)
    with HostLocks(["web1"], run_id="next", operator="bob"):  # this machine's lock was given back
        pass


def test_bad_requests_are_user_errors():
    with pytest.raises(UserError, match="no profile `home`"):
        DeployRun(DeployRequest(targets=[("web1", "home")]), make_inventory("web1"))
    with pytest.raises(UserError, match="no `test` action"):
        DeployRun(DeployRequest(targets=[("web1", None)], action="test"), make_inventory("web1"))
    from dataclasses import replace as dc_replace

    legacy = make_inventory("legacy")
    legacy = dc_replace(legacy, hosts=(dc_replace(legacy.hosts[0], in_deploy=False, method="nixos-rebuild"),))
    with pytest.raises(UserError, match="no deploy.nodes entry"):
        DeployRun(DeployRequest(targets=[("legacy", None)], method="deploy-rs"), legacy)
    with pytest.raises(UserError, match="--atomic needs deploy-rs"):
        DeployRun(DeployRequest(targets=[("web1", None)], method="nixos-rebuild", atomic=True),
                  make_inventory("web1"))


async def test_password_prompt_without_callback_is_an_event(emulated):
    """With interactiveSudo the run runs deploy-rs in a pty and asks through an event (faces answer)."""
    emulated.scenario({"box": "success"}, interactive_sudo=True)
    run = deploy(["box"], hosts="box:sudo")
    asked = []

    def on_event(event):
        if isinstance(event, PasswordPrompt):
            asked.append(event.hostname)
            run.send_password(event.hostname, "pa55-word-xyz")

    events = await run_all(run, on_event)
    assert run.jobs[0].use_pty
    if not asked:
        pytest.skip("the deploy-rs emulator does not ask for sudo passwords")
    assert asked == ["box.lab"] and outcomes(events) == {"box": "succeeded"}
    assert "pa55-word-xyz" not in repr([e.to_dict() for e in events])


async def test_generation_probe_before_and_after(emulated, tmp_path, monkeypatch):
    """With the simulated lab: the emulator really moves the host's generation, the probe (over SimShell)
    sees it before and after, and the journal records both."""
    from labtui.demo.lab import create_demo_lab
    from labtui.ops.generations import generation_probe
    from labtui.runs.events import NodeState
    from labtui.runs.journal import Journal
    from labtui.sim.state import fake_store_path
    from tests.support.sim_shell import SimShell

    lab = create_demo_lab(tmp_path / "lab", now=time.time())
    with lab.update("nas") as host:  # the flake now builds something new for nas
        host.flake_path = fake_store_path("nixos-system-nas-26.05", salt="probe-test")
    monkeypatch.setenv("LABTUI_SIM_LAB", str(tmp_path / "lab"))
    emulated.path.write_text('{"time_scale": 0.01, "nodes": {}}')
    before = lab.load("nas").current
    run = DeployRun(DeployRequest(targets=[("nas", None)]), make_inventory("nas"), timings=FAST,
                    probe=generation_probe(SimShell(lab)))
    journal = Journal.open()
    journal.begin_run(run.run_id, operator="t", method="deploy-rs", action="switch", targets=[("nas", None)])
    events = await run_all(run)
    for event in events:
        journal.record(run.run_id, event)
    states = {e.when: e for e in events if isinstance(e, NodeState)}
    assert states["before"].generation == before and not states["before"].error
    assert states["after"].generation == lab.load("nas").current == before + 1
    node = journal.get_run(run.run_id).nodes[0]
    assert (node.before_generation, node.after_generation) == (before, before + 1)
    assert node.after_path == lab.load("nas").generation(before + 1).path


async def test_failing_probe_is_recorded_not_fatal(emulated):
    from labtui.runs.events import NodeState

    emulated.scenario({"web1": "success"})

    async def unreachable(node):
        raise OSError("no route to host")

    run = DeployRun(DeployRequest(targets=[("web1", None)]), make_inventory("web1"), timings=FAST,
                    probe=unreachable)
    events = await run_all(run)
    assert outcomes(events) == {"web1": "succeeded"}
    # the after-probe is in the stream, before the result (and not asked again afterwards)
    after = [e for e in events if isinstance(e, NodeState) and e.when == "after"]
    assert len(after) == 1 and "no route" in after[0].error
    assert events.index(after[0]) < len(events) - 1 and isinstance(events[-1], RunResult)
    assert await run.probe_after() == []


async def test_parallel_runs_the_flake_check_once(emulated):
    emulated.scenario({"web1": "success", "web2": "success", "db1": "success"})
    events = await run_all(deploy(["web1", "web2", "db1"], parallel=3))
    argvs = events[0].argvs
    assert "--skip-checks" not in argvs[0] and all("--skip-checks" in a for a in argvs[1:])
    assert outcomes(events) == {"web1": "succeeded", "web2": "succeeded", "db1": "succeeded"}
    checks = [e.node for e in events if isinstance(e, StageChanged) and e.stage == "check"]
    assert checks == ["web1"]
    # The others started only after the check passed.
    first_other = min(i for i, e in enumerate(events) if isinstance(e, StageChanged) and e.node != "web1")
    passed = min(i for i, e in enumerate(events) if isinstance(e, StageChanged) and e.node == "web1"
                 and e.stage != "check")
    assert first_other > passed


async def test_failed_flake_check_stops_every_node(emulated):
    emulated.scenario({"web1": "check-fails", "web2": "success"})
    events = await run_all(deploy(["web1", "web2"]))
    results = {e.node: e for e in events if isinstance(e, NodeResult)}
    assert {n: (r.outcome, r.stage) for n, r in results.items()} == {
        "web1": ("not_deployed", "check"), "web2": ("not_deployed", "check")}
    assert "flake check failed (in web1's deploy)" in results["web2"].message
    assert len([e for e in events if isinstance(e, RunStarted)]) == 1


async def test_skip_checks_everywhere_when_asked(emulated):
    emulated.scenario({"web1": "success", "web2": "success"})
    events = await run_all(deploy(["web1", "web2"], options=DeployRsOptions(skip_checks=True)))
    assert all("--skip-checks" in a for a in events[0].argvs)


async def test_jump_host_from_labtui_toml_reaches_deploy_rs(emulated):
    from dataclasses import replace

    emulated.scenario({"web1": "success"})
    inventory = make_inventory("web1")
    web1 = inventory.get("web1")
    routed = replace(web1, ssh=replace(web1.ssh, jump_hosts=("root@bastion",)))
    inventory = replace(inventory, hosts=(routed,))
    events = await run_all(DeployRun(DeployRequest(targets=[("web1", None)]), inventory, timings=FAST))
    argv = events[0].argvs[0]
    assert argv[argv.index("--ssh-opts") + 1].endswith("-J root@bastion")
    assert outcomes(events) == {"web1": "succeeded"}
