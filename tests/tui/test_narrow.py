"""80x24 cuts nothing essential (issue 12, point 9) and nothing shown is stale or wrong (point 12)."""

from __future__ import annotations

from labtui.runs.events import PlanEntry, Prompt
from labtui.status.model import SystemLink
from labtui.tui import format as fmt
from labtui.tui.dashboard import DetailsScreen
from labtui.tui.dialogs import PlanDialog
from labtui.tui.fleet import Fleet
from labtui.tui.screens import GenerationsScreen, HistoryScreen, LogScreen
from labtui.tui.sources import HistorySource, RunSummary
from tests.support.frozen import FROZEN_NOW, frozen_app, frozen_lab
from tests.tui.test_flows import _select, _settle, wait_for

SMALL = (80, 24)
PATH = "/nix/store/6grh1qk9kqzlkwwvcjq5bz2lcx4fmsbf-activatable-nixos-system-grey-area-25.11.20251120.d399402"


def test_store_paths_keep_the_hash_prefix_and_the_name():
    assert fmt.short_store_path(PATH) == "6grh1qk…-activatable-nixos-system-grey-area-25.11.20251120.d399402"
    cut = fmt.short_store_path(PATH, 40)
    assert cut.startswith("6grh1qk…-activatable-nixos-system-") and cut.endswith("…") and len(cut) == 40
    assert fmt.short_store_path("/nix/store/abcdefghijabcdefghijabcdefghijab-linux-6.6.63/bzImage") == \
        "abcdefg…-linux-6.6.63/bzImage"


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
