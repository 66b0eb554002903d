"""A closure diff as lines for people, the same in every face (the CLI paints them, the TUI styles them).

Each line comes with its kind, so a face can colour it: `title`, `upgraded`, `downgraded`, `changed`, `added`,
`removed`, `size`, `implication`. The text is the core's: package names and versions come from store paths
(hosts' included), so faces still pass it through labtui.text.harmless.
"""

from __future__ import annotations

from labtui.closure.diff import ClosureDiff
from labtui.closure.units import human_size

_MARKS = {"upgraded": "U", "downgraded": "D", "changed": "C", "added": "A", "removed": "R"}
_GROUPS = (("changed", ("upgraded", "downgraded", "changed")), ("added", ("added",)), ("removed", ("removed",)))


def diff_lines(diff: ClosureDiff, *, indent: str = "  ") -> list[tuple[str, str]]:
    """(kind, text) lines: the packages by group, the closure sizes, what to copy, the implications."""
    out: list[tuple[str, str]] = []
    width = max((len(c.name) for c in diff.changes), default=0)
    for title, kinds in _GROUPS:
        changes = [c for c in diff.changes if c.kind in kinds]
        if not changes:
            continue
        out.append(("title", f"{indent}{title}:"))
        for change in changes:
            size = f"  {human_size(change.size_delta, signed=True)}" if change.size_delta else ""
            out.append((change.kind, f"{indent}  [{_MARKS[change.kind]}] {change.name.ljust(width)}  "
                                     f"{change.versions()}{size}"))
    out.append(("size", f"{indent}closure: {diff.paths_added} paths added, {diff.paths_removed} removed; "
                        f"{human_size(diff.size_before)} → {human_size(diff.size_after)} "
                        f"({human_size(diff.size_delta, signed=True)})"))
    if diff.copy_size is not None:
        out.append(("size", f"{indent}to copy: {diff.copy_paths} path{'s' if diff.copy_paths != 1 else ''}, "
                            f"{human_size(diff.copy_size)}"))
    out += [("implication", f"{indent}{line}") for line in diff.implications()]
    return out
