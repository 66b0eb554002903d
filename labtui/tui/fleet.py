"""The dashboard's model: hosts, their latest statuses, marks, filter, sort order and last deploy outcomes.

Pure Python (no Textual), the one place these live: the host table, the header and the details panel are views
of it. Every change returns a `Change` naming what moved (the hosts whose row may read differently, whether the
shown order changed, whether the header's counts did), so a view repaints only that.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from labtui.inventory.model import Host
from labtui.ssh.api import HostState
from labtui.status.model import HostStatus
from labtui.tui import filtering
from labtui.tui import format as fmt
from labtui.tui.filtering import Filter

SORT_KEYS: tuple[str, ...] = ("name", "state", "load", "mem", "disk", "up", "gen", "age")

# Worst first: sorting by state puts what needs attention on top.
_STATE_ORDER = {HostState.HOST_KEY_CHANGED: 0, HostState.AUTH_FAILED: 1, HostState.HOST_KEY_UNKNOWN: 2,
                HostState.DOWN: 3, HostState.DEGRADED: 4, HostState.CONNECTING: 5, HostState.UP: 6}
# The order the header counts states in.
HEADER_STATES: tuple[HostState, ...] = (HostState.UP, HostState.DEGRADED, HostState.DOWN, HostState.CONNECTING,
                                        HostState.AUTH_FAILED, HostState.HOST_KEY_UNKNOWN,
                                        HostState.HOST_KEY_CHANGED)


@dataclass(frozen=True)
class Change:
    """What a change to the fleet touched."""

    rows: frozenset[str] = frozenset()  # hosts whose row may read differently
    order: bool = False  # which hosts are shown, or their order, changed: the table is rebuilt
    header: bool = False  # the header's counts (states, shown, marked, filter, sort) changed

    def __or__(self, other: Change) -> Change:
        return Change(self.rows | other.rows, self.order or other.order, self.header or other.header)

    def __bool__(self) -> bool:
        return bool(self.rows) or self.order or self.header


NOTHING = Change()


@dataclass(frozen=True)
class HeaderCounts:
    """What the dashboard's header says about the fleet."""

    total: int
    shown: int
    states: tuple[tuple[HostState, int], ...]  # in HEADER_STATES order, states with no host left out
    marked: int
    filter_text: str
    sort_key: str
    sort_reverse: bool


SortValue = str | int | float


class Fleet:
    """The hosts of the inventory as the dashboard shows them."""

    def __init__(self, hosts: Iterable[Host]) -> None:
        self.hosts: dict[str, Host] = {h.name: h for h in hosts}
        self.statuses: dict[str, HostStatus] = {}
        self.last_outcomes: dict[str, str | None] = {}
        self.marked: set[str] = set()
        self.filter: Filter = filtering.parse("")
        self.sort_key = "name"
        self.sort_reverse = False
        self._shown: list[str] = self._order()

    # -- queries ------------------------------------------------------------------------------------
    @property
    def shown(self) -> list[str]:
        """The hosts the filter lets through, in display order."""
        return list(self._shown)

    def shown_at(self, index: int) -> str | None:
        """The host shown at `index` (None past either end), without copying the list as `shown` does."""
        return self._shown[index] if 0 <= index < len(self._shown) else None

    def state(self, name: str) -> HostState:
        st = self.statuses.get(name)
        return st.state if st is not None else HostState.CONNECTING

    def targets(self, current: str | None) -> list[str]:
        """What an action applies to: the marked hosts (in display order), else the host under the cursor."""
        if self.marked:
            order = self._shown + [n for n in self.hosts if n not in self._shown]
            return [n for n in order if n in self.marked]
        return [current] if current else []

    def counts(self) -> HeaderCounts:
        per_state: dict[HostState, int] = {}
        for name in self.hosts:
            state = self.state(name)
            per_state[state] = per_state.get(state, 0) + 1
        return HeaderCounts(
            total=len(self.hosts), shown=len(self._shown),
            states=tuple((s, per_state[s]) for s in HEADER_STATES if per_state.get(s)),
            marked=len(self.marked), filter_text=self.filter.text, sort_key=self.sort_key,
            sort_reverse=self.sort_reverse)

    def next_sort_key(self) -> str:
        return SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]

    # -- changes ------------------------------------------------------------------------------------
    def set_status(self, status: HostStatus) -> Change:
        """A host's new status. The row changes in place: rows do not jump while the operator reads them
        (the order is brought up to date by the next sort, filter or `set_statuses`)."""
        if status.host not in self.hosts:
            return NOTHING
        before = self.state(status.host)
        self.statuses[status.host] = status
        return Change(rows=frozenset({status.host}), header=status.state is not before)

    def set_statuses(self, statuses: Iterable[HostStatus]) -> Change:
        """Many at once (the first snapshot): one reorder instead of a row update each."""
        for st in statuses:
            if st.host in self.hosts:
                self.statuses[st.host] = st
        return self._reorder()

    def set_last_outcome(self, name: str, outcome: str | None) -> Change:
        if name not in self.hosts or self.last_outcomes.get(name) == outcome and name in self.last_outcomes:
            return NOTHING
        self.last_outcomes[name] = outcome
        return Change(rows=frozenset({name}))

    def toggle_mark(self, name: str) -> Change:
        if name not in self.hosts:
            return NOTHING
        self.marked.symmetric_difference_update({name})
        return Change(rows=frozenset({name}), header=True)

    def mark_all_shown(self) -> Change:
        """Mark every shown host; when they all are already, unmark every host."""
        shown = set(self._shown)
        if shown <= self.marked:
            return self.clear_marks()
        added = shown - self.marked
        self.marked |= added
        return Change(rows=frozenset(added), header=True)

    def unmark(self, names: Iterable[str]) -> Change:
        """Unmark these hosts (those a deploy just deployed)."""
        gone = self.marked & set(names)
        if not gone:
            return NOTHING
        self.marked -= gone
        return Change(rows=frozenset(gone), header=True)

    def clear_marks(self) -> Change:
        if not self.marked:
            return NOTHING
        cleared, self.marked = self.marked, set()
        return Change(rows=frozenset(cleared), header=True)

    def set_filter(self, flt: Filter) -> Change:
        self.filter = flt
        return self._reorder()

    def set_sort(self, key: str, reverse: bool) -> Change:
        if key not in SORT_KEYS:
            raise ValueError(f"cannot sort by {key!r}; one of {', '.join(SORT_KEYS)}")
        self.sort_key, self.sort_reverse = key, reverse
        return self._reorder()

    # -- order --------------------------------------------------------------------------------------
    def sort_value(self, name: str) -> SortValue | None:
        """The value sorted on; None when unknown (unknown values go last whatever the direction)."""
        key = self.sort_key
        if key == "name":
            return name
        st = self.statuses.get(name)
        if st is None:
            return None
        values: dict[str, SortValue | None] = {
            "state": _STATE_ORDER.get(st.state, 9),
            "load": st.load[0] if st.load else None,  # what the LOAD column shows (1 min), not per CPU
            "mem": st.mem_used_percent,
            "disk": fmt.worst_disk(st),
            "up": st.uptime_s,
            "gen": st.generation,
            "age": -(st.answered_at or 0),
        }
        return values[key]

    def _order(self) -> list[str]:
        names = sorted(n for n, h in self.hosts.items() if self.filter.matches(h))
        values = {n: self.sort_value(n) for n in names}
        known = [n for n in names if values[n] is not None]
        # Every known value of one key has one type (names: str, the rest: numbers).
        known.sort(key=lambda n: values[n], reverse=self.sort_reverse)  # type: ignore[arg-type,return-value]
        return known + [n for n in names if values[n] is None]

    def _reorder(self) -> Change:
        self._shown = self._order()
        return Change(rows=frozenset(self._shown), order=True, header=True)
