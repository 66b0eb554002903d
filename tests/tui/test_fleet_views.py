"""Pilot tests of issue 14's views on the frozen demo lab: fleet exec (dialog, per-host view, the `:` line's
action), the deploy dialog's closure diffs and waves, and the deploy pane's tree of running builds."""

from __future__ import annotations

import asyncio
import time

from textual.widgets import DataTable, Input, Log, Static, Tree

from labtui.closure.diff import ClosureDiff, PackageChange
from labtui.deploy.preview import HostPreview, Preview
from labtui.runs.events import (
    BuildProgress,
    ExecResult,
    NodeResult,
    Output,
    RunningBuild,
    RunStarted,
    StageChanged,
    WaveResult,
    WaveStarted,
)
from labtui.tui.build_view import BuildTree
from labtui.tui.deploy_model import RunView
from labtui.tui.deploy_pane import DeployScreen
from labtui.tui.dialogs import DeployDialog, TypeNameDialog
from labtui.tui.exec_view import ExecDialog, ExecScreen
from labtui.tui.glyphs import UNICODE
from labtui.tui.preview_view import DiffScreen, PreviewPanel
from tests.support.frozen import FROZEN_NOW, FrozenClock, ScriptedDeploy, frozen_app
from tests.tui.test_flows import SIZE, _select, _settle, wait_for


class ScriptedExec:
    """An ExecSource: each host prints its lines and exits with its code once `go` is set."""

    def __init__(self, answers: dict[str, tuple[list[str], int]]) -> None:
        self.answers = answers
        self.calls: list[tuple[list[str], tuple[str, ...], bool]] = []
        self.go = asyncio.Event()
        self.go.set()

    async def run(self, hosts, argv, *, sudo=False, passwords=None):
        self.calls.append(([h.name for h in hosts], tuple(argv), sudo))
        yield RunStarted(ts=time.time(), run_id="20261128-120000-exec", method="labtui",
                         nodes=[h.name for h in hosts], argv=[])
        await self.go.wait()
        for host in hosts:
            lines, code = self.answers.get(host.name, ([], 0))
            for line in lines:
                yield Output(ts=time.time(), node=host.name, stage=None, line=line, source="stdout")
            yield ExecResult(ts=time.time(), node=host.name, exit_code=code, duration=0.25)


async def test_exec_from_a_key_shows_each_host_and_its_output(tmp_path):
    source = ScriptedExec({"grey-area": (["up 3 days", "evil \x1b]52;c;eA==\x07 title"], 0),
                           "nas": (["nginx: inactive"], 3)})
    app = frozen_app(tmp_path, exec=source)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "grey-area")
        await pilot.press("space")
        await _select(app, pilot, "nas")
        await pilot.press("space", "exclamation_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecDialog))
        await pilot.press(*"systemctl is-active 'nginx service'", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecScreen) and not app.screen.running)
        screen = app.screen
        assert source.calls == [(["grey-area", "nas"], ("systemctl", "is-active", "nginx service"), False)]
        table = screen.query_one("#exec-rows", DataTable)
        assert str(table.get_cell("grey-area", "status")) == "exit 0"
        assert str(table.get_cell("nas", "status")) == "exit 3"
        assert str(screen.query_one("#exec-summary", Static).render()) == "1/2 hosts succeeded; failed: nas (exit 3)"
        log = screen.query_one("#exec-output", Log)
        assert list(log.lines) == ["up 3 days", "evil \\x1b]52;c;eA==\\x07 title"]  # harmless
        await pilot.press("down")
        await pilot.pause()
        assert list(screen.query_one("#exec-output", Log).lines) == ["nginx: inactive"]
        assert "run 20261128-120000-exec" in str(screen.query_one("#exec-title", Static).render())


async def test_the_command_line_action_runs_on_the_marked_hosts(tmp_path):
    source = ScriptedExec({"nas": (["ok"], 0)})
    app = frozen_app(tmp_path, exec=source)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "nas")
        app.action_exec_command("df -h /")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecScreen) and not app.screen.running)
        assert source.calls == [(["nas"], ("df", "-h", "/"), False)]
        app.action_exec_command("unbalanced 'quote")
        await pilot.pause()
        assert len(source.calls) == 1  # refused with a note, nothing run


async def test_exec_typed_on_the_command_line_runs_on_the_marked_hosts(tmp_path):
    from tests.tui.test_commands import _type

    source = ScriptedExec({"nas": (["/dev/sda1 50%"], 0), "grey-area": (["/dev/nvme0n1p2 91%"], 1)})
    app = frozen_app(tmp_path, exec=source)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        for name in ("nas", "grey-area"):
            await _select(app, pilot, name)
            await pilot.press("space")
        await _type(pilot, "exec df -h '/'")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecScreen) and not app.screen.running)
        assert [(sorted(hosts), argv) for hosts, argv, _ in source.calls] == [(["grey-area", "nas"],
                                                                            ("df", "-h", "/"))]
        summary = str(app.screen.query_one("#exec-summary", Static).render())
        assert summary == "1/2 hosts succeeded; failed: grey-area (exit 1)"


async def test_leaving_the_exec_view_stops_what_still_runs(tmp_path):
    source = ScriptedExec({"nas": (["late"], 0)})
    source.go.clear()  # the host never answers
    app = frozen_app(tmp_path, exec=source)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "nas")
        app.action_exec_command("sleep 100")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecScreen) and app.screen.run_id)
        screen = app.screen
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ExecScreen))
        await wait_for(pilot, lambda: not screen.workers)  # the screen's worker (the exec) was cancelled


def diff(host: str, *, unchanged: bool = False, reboot: bool = False) -> HostPreview:
    changes = () if unchanged else (PackageChange("nginx", ("1.26.2",), ("1.27.0",), 2048),
                                    PackageChange("curl", (), ("8.10.1",), 4096))
    return HostPreview(host, ClosureDiff(
        host=host, current="/nix/store/a-old", new="/nix/store/b-new", unchanged=unchanged, changes=changes,
        paths_added=2, paths_removed=1, size_before=10_000, size_after=16_144, copy_size=6144, copy_paths=2,
        reboot=reboot, boot_changes=("kernel",) if reboot else (), kernel_booted="6.6.61", kernel_before="6.6.61",
        kernel_after="6.6.62" if reboot else "6.6.61", nixos_before="24.11", nixos_after="24.11"))


class ScriptedPreview:
    def __init__(self, previews: list[HostPreview]) -> None:
        self.previews = previews
        self.asked: list[tuple[list[str], str | None]] = []

    async def preview(self, hosts, method, emit=None):
        self.asked.append(([h.name for h in hosts], method))
        if emit is not None:
            emit(BuildProgress(ts=FROZEN_NOW, node=hosts[0].name, built=1, to_build=3))
        return Preview([p for p in self.previews if p.host in {h.name for h in hosts}])


async def test_the_deploy_dialog_shows_each_hosts_diff_and_skips_unchanged_ones(tmp_path):
    clock = FrozenClock(FROZEN_NOW + 4)
    deploy = ScriptedDeploy(clock)
    preview = ScriptedPreview([diff("grey-area", reboot=True), diff("nas", unchanged=True),
                               diff("reverse-proxy", unchanged=True)])
    app = frozen_app(tmp_path, clock=clock, deploy=deploy, preview=preview)
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(app, pilot)
        for name in ("grey-area", "nas", "reverse-proxy"):
            await _select(app, pilot, name)
            await pilot.press("space")
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, DeployDialog))
        dialog = app.screen
        panel = dialog.query_one(PreviewPanel)
        await wait_for(pilot, lambda: panel.preview is not None)
        table = panel.query_one("#preview-table", DataTable)
        cells = {row: str(table.get_row(row)[1]) for row in ("grey-area", "nas", "reverse-proxy")}
        assert cells == {"grey-area": "+1 -0 ~1, +6 KiB, reboot", "nas": "unchanged", "reverse-proxy": "unchanged"}
        assert preview.asked == [(["grey-area", "nas", "reverse-proxy"], "deploy-rs")]
        assert "skipping nas, reverse-proxy: already running" in str(
            dialog.query_one("#dialog-note", Static).render())
        panel.query_one("#preview-table", DataTable).focus()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
        lines = app.screen.shown_lines
        assert lines[0] == "grey-area: +1 -0 ~1, +6 KiB, reboot"
        assert "    [U] nginx  1.26.2 → 1.27.0  +2 KiB" in lines and "    [A] curl   ∅ → 8.10.1  +4 KiB" in lines
        assert "  reboot needed: the switch changes the kernel (kernel 6.6.61 → 6.6.62)" in lines
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DeployDialog))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: deploy.choices)
        assert deploy.choices[0].hosts == ("grey-area",)
        # The skipped hosts are no part of the run: no critical name to type for reverse-proxy, no row waiting
        # (queued) for them in the pane, no plan question held back until they ask (they never will).
        await wait_for(pilot, lambda: app.deploys.active_run is not None)
        assert list(app.deploys.active_run.nodes) == ["grey-area"]
        assert not isinstance(app.screen, TypeNameDialog)


async def test_waves_in_the_deploy_dialog(tmp_path):
    clock = FrozenClock(FROZEN_NOW + 4)
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(app, pilot)
        for name in ("grey-area", "nas", "printer-pi"):
            await _select(app, pilot, name)
            await pilot.press("space")
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, DeployDialog))
        dialog = app.screen
        await pilot.press("w", *"0,5")
        await pilot.pause()
        assert "`0` is not a wave size" in str(dialog.query_one("#dialog-note", Static).render())
        await pilot.press("enter")
        await pilot.pause()
        assert not deploy.choices  # refused
        dialog.query_one("#waves", Input).value = "1,100%"
        await pilot.pause()
        note = str(dialog.query_one("#dialog-note", Static).render())
        assert "2 waves: wave 1: grey-area · wave 2: nas, printer-pi; an unhealthy wave stops the run" in note
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: deploy.choices)
        assert deploy.choices[0].waves == "1,100%" and not deploy.choices[0].rollback_unhealthy


async def test_the_deploy_pane_shows_running_builds_as_a_tree(tmp_path):
    run = RunView(["web1", "web2"])
    t = FROZEN_NOW
    run.apply(RunStarted(ts=t, run_id="r", method="deploy-rs", nodes=["web1", "web2"], argv=[]))
    for node in ("web1", "web2"):
        run.apply(StageChanged(ts=t, node=node, profile=None, stage="build"))
    running = [RunningBuild(drv="/nix/store/a-nginx-1.27.0.drv", name="nginx-1.27.0", phase="buildPhase",
                            last_line="cc -O2 -c ngx_http.c \x1b[2J", started=t)]
    run.apply(BuildProgress(ts=t, node="web1", built=2, to_build=5, running=running))
    run.apply(BuildProgress(ts=t, node="web2", built=5, to_build=5, done=True))
    app = frozen_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)
        screen = DeployScreen(run, UNICODE, FrozenClock(t + 3), animate=False)
        await app.push_screen(screen)
        await pilot.pause()
        tree = screen.query_one(BuildTree)
        assert tree.has_class("-shown")
        (branch,) = tree.root.children
        assert str(branch.label) == "web1  built 2/5, building nginx-1.27.0 (buildPhase)"
        assert [str(leaf.label) for leaf in branch.children] == [
            "nginx-1.27.0 (buildPhase): cc -O2 -c ngx_http.c \\x1b[2J"]
        row = screen.query_one("#deploy-rows", DataTable).get_row("web1")
        assert "built 2/5" in str(row[-1])
        await pilot.press("b")
        await pilot.pause()
        assert not tree.has_class("-shown")
        run.apply(BuildProgress(ts=t + 1, node="web1", built=5, to_build=5, done=True))
        await pilot.press("b")
        screen.sync()
        await pilot.pause()
        assert not tree.has_class("-shown") and isinstance(tree, Tree)  # nothing builds any more


async def test_the_deploy_pane_shows_the_waves_and_where_the_run_stopped(tmp_path):
    run = RunView(["web1", "web2", "web3"])
    t = FROZEN_NOW
    run.apply(RunStarted(ts=t, run_id="r", method="deploy-rs", nodes=["web1", "web2", "web3"], argv=[],
                         waves=[["web1"], ["web2"], ["web3"]]))
    run.apply(WaveStarted(ts=t, wave=1, waves=3, nodes=["web1"]))
    run.apply(StageChanged(ts=t, node="web1", profile=None, stage="activate"))
    app = frozen_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await _settle(app, pilot)
        screen = DeployScreen(run, UNICODE, FrozenClock(t + 3), animate=False)
        await app.push_screen(screen)
        await pilot.pause()
        table = screen.query_one("#deploy-rows", DataTable)

        def stage(node: str) -> str:
            return str(table.get_row(node)[2])

        assert "wave 1/3" in str(screen.query_one("#run-header", Static).render())
        assert (stage("web2"), stage("web3")) == ("wave 2", "wave 3")  # waiting for their wave, not queued
        run.apply(NodeResult(ts=t + 1, node="web1", profile=None, outcome="succeeded", stage="activate"))
        run.apply(WaveResult(ts=t + 1, wave=1, ok=True))
        run.apply(WaveStarted(ts=t + 1, wave=2, waves=3, nodes=["web2"]))
        run.apply(NodeResult(ts=t + 2, node="web2", profile=None, outcome="rolled_back", stage="health",
                             message="health check `ready` failed"))
        run.apply(WaveResult(ts=t + 2, wave=2, ok=False, message="wave 2: web2 unhealthy", rolled_back=["web2"]))
        screen.sync()
        await pilot.pause()
        assert "wave 2/3 stopped" in str(screen.query_one("#run-header", Static).render())
        assert stage("web3") == "wave 3"
        assert "labtui: wave 2: web2 unhealthy; the run stops here" in run.run_lines
