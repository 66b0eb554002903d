"""80x24 cuts nothing essential (issue 12, point 9) and nothing shown is stale or wrong (point 12)."""

from __future__ import annotations

from labtui.ops.checks.base import CheckResult
from labtui.runs.events import PlanEntry, Prompt
from labtui.status.model import SystemLink
from labtui.tui import format as fmt
from labtui.tui.dashboard import DetailsScreen
from labtui.tui.dialogs import DeployDialog, PlanDialog, YesNoDialog
from labtui.tui.fleet import Fleet
from labtui.tui.screens import GenerationsScreen, HistoryScreen, LogScreen
from labtui.tui.sources import HistorySource, RunSummary
from tests.support.frozen import FROZEN_NOW, FrozenClock, ScriptedDeploy, frozen_app, frozen_lab
from tests.tui.test_flows import _select, _settle, wait_for

SMALL = (80, 24)
PATH = "/nix/store/6grh1qk9kqzlkwwvcjq5bz2lcx4fmsbf-activatable-nixos-system-grey-area-25.11.20251120.d399402"


def test_store_paths_keep_the_hash_prefix_and_the_name():
    assert fmt.short_store_path(PATH) == "6grh1qk…-activatable-nixos-system-grey-area-25.11.20251120.d399402"
    cut = fmt.short_store_path(PATH, 40)
    assert cut.startswith("6grh1qk…-activatable-nixos-system-") and cut.endswith("…") and len(cut) == 40
    assert fmt.short_store_path("/nix/store/abcdefghijabcdefghijabcdefghijab-linux-6.6.63/bzImage") == \
        "abcdefg…-linux-6.6.63/bzImage"


def test_check_lines_fit_80_columns():
    results = [CheckResult("nas", "zfs-scrub", "unit", False, 2, "zfs-scrub.service is failed", 0.12),
               CheckResult("nas", "disk /nix", "disk", False, 2, "disk /nix 91% (max 90%)", 0.05),
               CheckResult("nas", "memory", "memory", True, 1, "memory 78% (max 90%)", 0.01)]
    lines = fmt.check_lines(results)
    assert lines[0] == "FAIL  zfs-scrub  unit    zfs-scrub.service is failed  (2 attempts, 0.1s)"
    assert lines[-1] == "PASS  memory     memory  memory 78% (max 90%)  (0.0s)"
    assert all(len(line) <= 80 for line in lines)


def test_reboot_reason_says_what_differs():
    def system(kernel: str, initrd: str, modules: str) -> SystemLink:
        return SystemLink(path="/nix/store/x-nixos-system", kernel=f"/nix/store/{'a' * 32}-{kernel}/bzImage",
                          initrd=f"/nix/store/{'b' * 32}-{initrd}/initrd", kernel_modules=f"/nix/store/{modules}")
    booted = system("linux-6.6.63", "initrd-linux-6.6.63", "c" * 32 + "-linux-6.6.63-modules")
    current = system("linux-6.12.4", "initrd-linux-6.12.4", "d" * 32 + "-linux-6.12.4-modules")
    assert fmt.reboot_reason(current, booted) == ("kernel linux-6.6.63 → linux-6.12.4, "
                                                  "initrd initrd-linux-6.6.63 → initrd-linux-6.12.4, "
                                                  "modules linux-6.6.63-modules → linux-6.12.4-modules")
    rebuilt = SystemLink(path="/nix/store/y", kernel=booted.kernel, kernel_modules=booted.kernel_modules,
                         initrd=f"/nix/store/{'e' * 32}-initrd-linux-6.6.63/initrd")
    assert fmt.reboot_reason(rebuilt, booted) == "initrd bbbbbbb… → eeeeeee…"  # same name: the hashes differ
    assert "bzImage" not in fmt.reboot_reason(current, booted)


async def test_plan_dialog_keeps_hash_and_name_and_expands(tmp_path):
    app = frozen_app(tmp_path)
    prompt = Prompt(ts=FROZEN_NOW, plan=[PlanEntry(node="grey-area", profile="system", user="root",
                                                   ssh_user="root", hostname="127.0.0.1", path=PATH)])
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        app.push_screen(PlanDialog(prompt))
        await pilot.pause()
        dialog = app.screen
        shown = dialog.query_one("#plan").render().plain if hasattr(dialog.query_one("#plan").render(), "plain") \
            else str(dialog.query_one("#plan").render())
        assert "6grh1qk…-activatable-nixos-system-grey-area-" in shown
        assert "ssh root@127.0.0.1  as root\n  6grh1qk…" in shown  # a line each, no escaped newline (\x0a)
        await pilot.press("e")
        await pilot.pause()
        assert dialog.full_paths and PATH in dialog.plan_text(70).plain
        svg = app.export_screenshot()
        assert "6grh1qk9kqzlkwwvcjq5bz2lcx4fmsbf" in svg.replace("&#160;", "")  # wrapped, but all there


class ManyHostsHistory(HistorySource):
    nodes = ("grey-area", "little-rascal", "nas", "printer-pi", "reverse-proxy", "sleeper-service")

    def __init__(self) -> None:
        self.outcome: str | None = None

    def list_runs(self, host=None):
        return [RunSummary(run_id="20261126-115500-abcd", started=FROZEN_NOW - 300,
                           finished=None if self.outcome is None else FROZEN_NOW - 280, method="deploy-rs switch",
                           nodes=self.nodes, outcome=self.outcome,
                           node_outcomes={} if self.outcome is None else {n: "succeeded" for n in self.nodes})]

    def run_events(self, run_id):
        return []

    def last_outcome(self, host):
        return None


async def test_history_abbreviates_hosts_and_shows_the_whole_run_below(tmp_path):
    history = ManyHostsHistory()
    app = frozen_app(tmp_path, history=history)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await pilot.press("h")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        hosts = str(screen.query_one("#history").get_row_at(0)[3])
        assert hosts.endswith(tuple(f"+{n}" for n in range(1, 6))), hosts  # the rest counted, not cut mid-name
        detail = str(screen.query_one("#history-detail").render())
        assert "run 20261126-115500-abcd" in detail and "running" in detail
        assert all(n in detail for n in ManyHostsHistory.nodes)
        # Stale: the run ends; the view reads the journal again while it shows a running run.
        history.outcome = "succeeded"
        screen._poll_running()
        await pilot.pause()
        assert "✔ succeeded" in str(screen.query_one("#history").get_row_at(0)[1])


async def test_generations_show_their_flags_whole_at_80_columns(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "nas")
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GenerationsScreen) and app.screen.generations)
        await pilot.pause()
        table = app.screen.query_one("#generations")
        assert str(table.get_cell("54", "flags")) == "current booted next-boot"
        assert sum(c.get_render_width(table) for c in table.columns.values()) <= 78  # every column whole
        assert "listing" not in str(app.screen.query_one("#generations-note").render())  # the waiting line went
        assert "current booted next-boot" in next(line for line in app.screen.lines if "current" in line)


async def test_titles_end_with_an_ellipsis(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=(30, 12)) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "nas")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        await pilot.pause()
        first_row = app.export_screenshot()
        assert "…" in first_row and "journal of nas" in first_row.replace("&#160;", " ")


async def test_details_say_what_differs_for_a_reboot(tmp_path):
    app = frozen_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "little-rascal")
        await pilot.press("enter")
        assert isinstance(app.screen, DetailsScreen)
        assert "reboot ⟳ needed: kernel linux-6.6.63 → linux-6.12.4" in app.screen.text.plain


def test_sort_by_load_sorts_by_the_load_column(tmp_path):
    lab, inventory = frozen_lab(tmp_path)
    from tests.support.sim_status import SimStatusSource

    fleet = Fleet(inventory.hosts)
    fleet.set_statuses(SimStatusSource(lab, lambda: FROZEN_NOW).snapshot().values())
    fleet.set_sort("load", reverse=True)
    loads = [fleet.statuses[n].load[0] for n in fleet.shown if fleet.statuses[n].load]
    assert loads == sorted(loads, reverse=True)  # the 1-minute load the LOAD column shows, not per CPU


async def test_a_long_question_wraps_inside_its_dialog(tmp_path):
    """The rollback question names generations and dates: at 80x24 it wraps, never runs under the border."""
    question = ("Roll back little-rascal? It switches from generation 63 (2026-11-27) to generation 61 "
                "(2026-11-18), which it keeps as the current one until the next deploy.")
    app = frozen_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        app.push_screen(YesNoDialog(question))
        await pilot.pause()
        dialog = app.screen.query_one("#dialog")
        label = app.screen.query_one("#dialog > Label")
        assert label.region.height >= 2 and label.region.right <= dialog.content_region.right
        shown = " ".join(line.strip() for line in str(label.render()).splitlines())
        assert "until the next deploy." in shown


async def test_the_deploy_dialog_scrolls_at_60x20_and_keeps_its_keys_in_view(tmp_path):
    from tests.tui.test_fleet_views import ScriptedPreview, diff

    app = frozen_app(tmp_path, deploy=ScriptedDeploy(FrozenClock()), preview=ScriptedPreview([diff("grey-area")]))
    async with app.run_test(size=(60, 20)) as pilot:
        await _settle(app, pilot)
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, DeployDialog))
        dialog = app.screen.query_one("#dialog")
        keys = app.screen.query_one("#dialog-keys")
        assert dialog.max_scroll_y > 0  # taller than the terminal: it scrolls rather than cutting its end
        assert keys.region.bottom <= dialog.content_region.bottom and keys.region.height >= 1
        waves = app.screen.query_one("#waves")
        waves.focus()
        await pilot.pause()
        assert dialog.content_region.contains_region(waves.region)  # a field reached by tab is scrolled into view
        assert keys.region.bottom <= dialog.content_region.bottom


async def test_the_command_log_shows_the_highlighted_command_whole(tmp_path):
    from labtui.commandlog import CommandLog
    from labtui.tui.screens import CommandLogScreen

    log = CommandLog()
    long = "journalctl -o json --no-pager -n 200 -u nginx.service -u zfs-scrub.service -u zfs-zed.service --follow"
    log.remote("sleeper-service", long)
    log.remote("nas", "systemctl --failed")
    app = frozen_app(tmp_path, command_log=log)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await pilot.press("at")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandLogScreen))
        detail = app.screen.query_one("#command-detail")
        await wait_for(pilot, lambda: "systemctl --failed" in str(detail.render()))
        await pilot.press("k")  # the long one: cut in its column, whole below
        await wait_for(pilot, lambda: long in str(detail.render()))
        assert detail.region.height >= 3  # wrapped, with its border


def test_the_help_wraps_each_line_under_its_own_text():
    from rich.text import Text

    from labtui.tui.actions import help_text
    from labtui.tui.glyphs import UNICODE

    lines = [Text.from_markup(line).plain for line in help_text(UNICODE, width=76).splitlines()]
    assert all(len(line) <= 76 for line in lines), [line for line in lines if len(line) > 76]
    at = lines.index("  d       what the deploy changes on the highlighted host (packages, sizes,")
    assert lines[at + 1] == "          reboot)"  # under the text, not at the margin


async def test_after_a_deploy_the_details_show_what_the_host_runs_now(tmp_path):
    """Not the old NixOS version beside the new system path, nor the generations from before the deploy."""
    from labtui.sim.state import Generation
    from labtui.tui.dashboard import HostDetails
    from tests.support.frozen import FrozenClock, ScriptedDeploy, deploy_events
    from tests.tui.test_flows import _open_deploy

    clock = FrozenClock(FROZEN_NOW + 100)
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    lab = app.sources.ops.shell.lab
    app.sources.status.follow = True  # statuses come again when asked (the app asks after a run)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "grey-area")
        details = app.query_one(HostDetails)
        await wait_for(pilot, lambda: "generations" in details.render_text(
            app.inventory.get("grey-area"), app.fleet.statuses.get("grey-area"), [],
            app.extras.generations("grey-area")).plain and app.extras.generations("grey-area"))
        run = await _open_deploy(app, pilot, deploy)
        events = deploy_events(lab, ["grey-area"], clock.now)
        run.feed_all(events[:-1])
        with lab.update("grey-area") as host:  # what the deploy did on the host
            number = host.current + 1
            host.generations.append(Generation(number, "2026-11-26T12:00:00Z", host.flake_path,
                                               "25.11.20251126.newnew", host.generation(host.current).kernel))
            host.current = number
        run.feed(events[-1])
        await app.deploys.run_done.wait()
        await pilot.press("escape")

        def shown() -> str:
            return app.details.render_text(app.inventory.get("grey-area"), app.fleet.statuses.get("grey-area"), [],
                                           app.extras.generations("grey-area")).plain

        # (while the generations are fetched again, the details have no generations part: wait, never index it)
        await wait_for(pilot, lambda: f"gen    {number} " in shown() and "25.11.20251126.newnew" in shown()
                       and f"  {number} " in (shown().split("generations", 1) + [""])[1])
        assert "nixos 25.11.20251126.newnew" in shown() and fmt.short_store_path(
            lab.load("grey-area").flake_path) in shown()


def test_wrap_line_keeps_every_character_in_rows_of_the_width():
    line = f"[activate] Activating profile system for node grey-area {PATH} done"
    for width in (30, 41, 78):
        rows = fmt.wrap_line(line, width)
        assert len(rows) > 1 and all(len(row) <= width for row in rows)
        assert all(row.startswith("  ") for row in rows[1:])  # where each line starts stays plain
        assert "".join(rows).replace(" ", "") == line.replace(" ", "")
    assert fmt.wrap_line("short", 30) == ["short"]


async def test_full_log_wraps_long_lines_with_w_at_80x24(tmp_path):
    """Point 9, "let the operator expand": a host's full log (enter in the deploy pane) shows a line longer than the
    terminal cut at the edge; `w` (in the footer) wraps it whole into rows of the width, still harmless; `w` again
    gives one row per line back. The next log view opens wrapped as the operator left it; so does the pane's
    output panel (its `w`, named in the panel's title)."""
    from textual.widgets._footer import FooterKey

    from labtui.runs.events import Output, RunStarted, StageChanged
    from labtui.tui.deploy_pane import DeployScreen, HostLogScreen
    from labtui.tui.widgets import KeyLog
    from tests.support.frozen import RUN_ID
    from tests.tui.test_flows import _open_deploy

    clock = FrozenClock(FROZEN_NOW + 100)
    deploy = ScriptedDeploy(clock)
    app = frozen_app(tmp_path, clock=clock, deploy=deploy)
    long = f"copying path '{PATH}' to 'ssh://root@grey-area'... \x1b]0;pwned\x07 and the last words: THE END"
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        run = await _open_deploy(app, pilot, deploy)
        t0 = clock.now
        run.feed_all([RunStarted(ts=t0, run_id=RUN_ID, method="deploy-rs", nodes=["grey-area"], argv=[]),
                      StageChanged(ts=t0 + 1, node="grey-area", profile="system", stage="push"),
                      Output(ts=t0 + 2, node="grey-area", stage="push", line=long, source="local"),
                      StageChanged(ts=t0 + 3, node="grey-area", profile="system", stage="activate")])
        await wait_for(pilot, lambda: app.deploys.active_run.nodes["grey-area"].total_lines == 1)
        assert isinstance(app.screen, DeployScreen)
        pane = app.screen
        assert "w: wrap" in str(pane.query_one("#tail-title").render())
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HostLogScreen))
        log = app.screen.query_one(KeyLog)
        await wait_for(pilot, lambda: log.line_count == 1)
        assert "Wrap" in [k.description for k in app.screen.query(FooterKey)]
        assert "THE END" not in _screen_text(app)  # cut at the edge
        await pilot.press("w")
        await wait_for(pilot, lambda: log.line_count > 1)
        assert log.wrap and app.wrap_lines
        rows = list(log.lines)
        assert all(len(row) <= 80 for row in rows)
        shown = _screen_text(app)
        assert "THE END" in shown and "\x1b" not in shown and "\\x1b]0;pwned\\x07" in "".join(r.strip() for r in rows)
        assert PATH.replace(" ", "") in "".join(row.strip() for row in rows)  # the store path whole, folded
        await pilot.resize_terminal(60, 20)  # rows follow the width
        await wait_for(pilot, lambda: all(len(row) <= 60 for row in log.lines) and log.line_count > len(rows))
        await pilot.resize_terminal(*SMALL)
        await wait_for(pilot, lambda: log.line_count == len(rows))
        copied: list[str] = []
        app.copy_to_clipboard = copied.append
        await pilot.press("y")
        assert copied[0].count("\n") == 0  # the copy is the line, not its rows
        await pilot.press("w")
        await wait_for(pilot, lambda: log.line_count == 1)
        await pilot.press("w", "escape")  # wrapped again, back to the pane: its panel wraps too
        await wait_for(pilot, lambda: isinstance(app.screen, DeployScreen) and pane.query_one("#tail", KeyLog).wrap)
        await pilot.press("w")  # the panel's own toggle: unwrapped
        await wait_for(pilot, lambda: not pane.query_one("#tail", KeyLog).wrap)
        assert not app.wrap_lines


def _screen_text(app) -> str:
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")


async def test_a_hosts_journal_wraps_with_w_and_filters_wrapped(tmp_path):
    """The text views (`l` journal, checks, diffs) have the same `w` in their footer; a filter keeps the wrap."""
    from textual.widgets._footer import FooterKey

    from labtui.tui.widgets import KeyLog

    app = frozen_app(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await _settle(app, pilot)
        await _select(app, pilot, "nas")
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen))
        screen = app.screen
        assert "Wrap" in [k.description for k in screen.query(FooterKey)]
        log = screen.query_one(KeyLog)
        screen.write(["x " * 100])  # a long journal line
        await pilot.pause()
        unwrapped = log.line_count
        await pilot.press("w")
        await wait_for(pilot, lambda: log.line_count > unwrapped)
        assert all(len(row) <= 80 for row in log.lines)
        await pilot.press("slash", *"x x", "enter")
        await wait_for(pilot, lambda: log.line_count > 1 and log.wrap)
        assert all(row.strip().startswith("x") for row in log.lines)
