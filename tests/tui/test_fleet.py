"""The dashboard's fleet model, without Textual: statuses, marks, filter, sort, last outcomes, what changed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from labtui.inventory.model import Host, SshTarget
from labtui.ssh.api import HostState
from labtui.status.model import HostStatus
from labtui.tui import filtering
from labtui.tui.fleet import Change, Fleet


def _host(name: str, *tags: str, critical: bool = False) -> Host:
    return Host(name=name, hostname=name, ssh=SshTarget(name), tags=tags, critical=critical)


def _status(name: str, state: HostState = HostState.UP, *, load: float = 0.1, mem_used: int = 1) -> HostStatus:
    return HostStatus(host=name, state=state, observed_at=1.0, answered_at=1.0, load=(load, load, load), cpus=1,
                      mem_total_bytes=10, mem_available_bytes=10 - mem_used)


@pytest.fixture
def fleet() -> Fleet:
    return Fleet([_host("web", "prod"), _host("db", "prod", critical=True), _host("laptop")])


def test_hosts_start_connecting_shown_by_name(fleet):
    assert fleet.shown == ["db", "laptop", "web"]
    assert [fleet.shown_at(i) for i in (-1, 0, 2, 3)] == [None, "db", "web", None]
    assert fleet.state("web") is HostState.CONNECTING
    counts = fleet.counts()
    assert (counts.total, counts.shown, counts.states) == (3, 3, ((HostState.CONNECTING, 3),))


def test_a_status_changes_its_row_and_the_header_only_when_the_state_moves(fleet):
    change = fleet.set_status(_status("web"))
    assert change == Change(rows=frozenset({"web"}), header=True)
    change = fleet.set_status(_status("web", load=0.9))  # still up: the counts stay
    assert change == Change(rows=frozenset({"web"}))
    assert fleet.set_status(_status("not-in-inventory")) == Change() and not Change()
    assert fleet.counts().states == ((HostState.UP, 1), (HostState.CONNECTING, 2))


def test_rows_keep_their_place_until_the_next_reorder(fleet):
    fleet.set_sort("load", reverse=True)
    fleet.set_statuses([_status("web", load=0.1), _status("db", load=0.5), _status("laptop", load=0.3)])
    assert fleet.shown == ["db", "laptop", "web"]
    fleet.set_status(_status("web", load=0.9))
    assert fleet.shown == ["db", "laptop", "web"]  # no jump under the operator's eyes
    change = fleet.set_sort("load", reverse=True)
    assert change.order and fleet.shown == ["web", "db", "laptop"]


def test_unknown_values_sort_last_either_way(fleet):
    fleet.set_statuses([_status("web", load=0.1), _status("db", load=0.5)])
    fleet.set_sort("load", reverse=False)
    assert fleet.shown == ["web", "db", "laptop"]
    fleet.set_sort("load", reverse=True)
    assert fleet.shown == ["db", "web", "laptop"]
    assert fleet.next_sort_key() == "mem"
    with pytest.raises(ValueError):
        fleet.set_sort("colour", reverse=False)


def test_filter_marks_and_targets(fleet):
    change = fleet.set_filter(filtering.parse("@prod"))
    assert change.order and change.header and fleet.shown == ["db", "web"]
    assert fleet.counts().filter_text == "@prod" and fleet.counts().shown == 2
    assert fleet.targets("web") == ["web"]  # nothing marked: the host under the cursor
    assert fleet.targets(None) == []
    assert fleet.mark_all_shown() == Change(rows=frozenset({"db", "web"}), header=True)
    fleet.toggle_mark("laptop")  # marked hosts hidden by the filter are targets too, after the shown ones
    assert fleet.targets("web") == ["db", "web", "laptop"]
    change = fleet.mark_all_shown()  # all shown are marked already: unmark every host
    assert change.rows == frozenset({"db", "web", "laptop"}) and fleet.marked == set()
    assert fleet.clear_marks() == Change()


def test_last_outcomes_change_a_row_once(fleet):
    assert fleet.set_last_outcome("db", "rolled_back") == Change(rows=frozenset({"db"}))
    assert fleet.set_last_outcome("db", "rolled_back") == Change()
    assert fleet.set_last_outcome("gone", "failed") == Change()
    assert fleet.last_outcomes == {"db": "rolled_back"}


def test_the_pure_models_do_not_load_textual():
    code = ("import sys, labtui.tui.fleet, labtui.tui.controller, labtui.tui.deploy_model, labtui.tui.sources, "
            "labtui.tui.adapters; print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
