"""Two closures compared: what a host runs now against what the flake would deploy (pure).

A `Closure` is a system's store paths with their NAR sizes, plus what the switch implies reading: the kernel,
initrd and kernel modules it boots and its NixOS version. `diff_closures` groups both sides by package name
(labtui.closure.names) and says which packages are added, removed or changed (old → new versions), how the
closure size moves, how much has to be copied to the host (the new paths it lacks), and what the switch
implies: a reboot when the kernel, initrd or modules differ from what the host booted, a NixOS version change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from labtui.closure.names import compare_versions, parse_name, sort_versions, store_name
from labtui.closure.units import human_size

BOOT_LINKS = ("kernel", "initrd", "kernel-modules")
ChangeKind = Literal["added", "removed", "upgraded", "downgraded", "changed"]


@dataclass(frozen=True)
class Closure:
    """A system: its top path, every path of its closure with its NAR size (None: unknown), and boot facts."""

    root: str
    paths: Mapping[str, int | None]
    links: Mapping[str, str] = field(default_factory=dict)  # kernel/initrd/kernel-modules -> resolved store path
    nixos_version: str = ""

    @property
    def size(self) -> int:
        return sum(s or 0 for s in self.paths.values())


@dataclass(frozen=True)
class PackageChange:
    name: str
    old: tuple[str, ...]  # the versions before ("" for a path without version)
    new: tuple[str, ...]
    size_delta: int

    @property
    def kind(self) -> ChangeKind:
        if not self.old:
            return "added"
        if not self.new:
            return "removed"
        order = compare_versions(max_version(self.new), max_version(self.old))
        return "upgraded" if order > 0 else "downgraded" if order < 0 else "changed"

    def versions(self, arrow: str = "→", nothing: str = "∅") -> str:
        """`1.26.2 → 1.27.0`, `∅ → 3.3.0`, `5.15, 6.6 → 6.6`."""
        old = ", ".join(v or "(no version)" for v in self.old) or nothing
        new = ", ".join(v or "(no version)" for v in self.new) or nothing
        return f"{old} {arrow} {new}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "old": list(self.old), "new": list(self.new),
                "size_delta": self.size_delta}


def max_version(versions: tuple[str, ...]) -> str:
    return sort_versions(list(versions))[-1] if versions else ""


@dataclass(frozen=True)
class ClosureDiff:
    host: str
    current: str | None  # what /run/current-system is (None: unknown)
    new: str  # what the flake would deploy
    unchanged: bool  # the host runs exactly that already
    changes: tuple[PackageChange, ...]
    paths_added: int
    paths_removed: int
    size_before: int
    size_after: int
    copy_size: int | None  # bytes of new paths the host lacks (None: not asked)
    copy_paths: int | None
    reboot: bool  # after the switch, the booted kernel/initrd/modules differ from the system's
    boot_changes: tuple[str, ...]  # which of kernel/initrd/kernel-modules the switch changes
    kernel_booted: str  # the kernel version the host booted
    kernel_before: str  # the current system's
    kernel_after: str
    nixos_before: str
    nixos_after: str

    @property
    def added(self) -> list[PackageChange]:
        return [c for c in self.changes if c.kind == "added"]

    @property
    def removed(self) -> list[PackageChange]:
        return [c for c in self.changes if c.kind == "removed"]

    @property
    def changed(self) -> list[PackageChange]:
        return [c for c in self.changes if c.kind not in ("added", "removed")]

    @property
    def size_delta(self) -> int:
        return self.size_after - self.size_before

    def implications(self) -> list[str]:
        """What the switch means beyond packages, for people."""
        out = []
        if self.boot_changes:
            kernel = (f" (kernel {self.kernel_before or '?'} → {self.kernel_after})"
                      if self.kernel_after and self.kernel_after != self.kernel_before else "")
            what = " and ".join(self.boot_changes) if len(self.boot_changes) < 3 else "kernel, initrd and modules"
            out.append(f"reboot needed: the switch changes the {what}{kernel}")
        elif self.reboot:
            booted = f" kernel {self.kernel_booted}" if self.kernel_booted else " an older kernel"
            out.append(f"reboot needed (already before this switch): the host booted{booted}, "
                       f"its system has {self.kernel_after or 'another one'}")
        if self.nixos_after and self.nixos_before != self.nixos_after:
            out.append(f"NixOS {self.nixos_before or '?'} → {self.nixos_after}")
        return out

    def summary(self) -> str:
        """`+3 -1 ~12, +48 MiB, reboot`, or `unchanged`."""
        if self.unchanged:
            return "unchanged"
        parts = [f"+{len(self.added)} -{len(self.removed)} ~{len(self.changed)}",
                 human_size(self.size_delta, signed=True)]
        if self.reboot:
            parts.append("reboot")
        if self.nixos_after and self.nixos_before and self.nixos_before != self.nixos_after:
            parts.append(f"NixOS {self.nixos_after}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host, "current": self.current, "new": self.new, "unchanged": self.unchanged,
            "summary": self.summary(),
            "added": [c.to_dict() for c in self.added], "removed": [c.to_dict() for c in self.removed],
            "changed": [c.to_dict() for c in self.changed],
            "paths_added": self.paths_added, "paths_removed": self.paths_removed,
            "closure_size": {"before": self.size_before, "after": self.size_after, "delta": self.size_delta},
            "copy": {"size": self.copy_size, "paths": self.copy_paths},
            "reboot": self.reboot, "boot_changes": list(self.boot_changes),
            "kernel": {"booted": self.kernel_booted, "before": self.kernel_before, "after": self.kernel_after},
            "nixos_version": {"before": self.nixos_before, "after": self.nixos_after},
            "implications": self.implications(),
        }


def kernel_version(link: str) -> str:
    """`/nix/store/<hash>-linux-6.6.61/bzImage` → `6.6.61` ("" when it is not a `linux-*` path)."""
    name, version = parse_name(link) if link else ("", "")
    return version if name == "linux" else ""


def _by_name(paths: Mapping[str, int | None]) -> dict[str, tuple[set[str], int]]:
    grouped: dict[str, tuple[set[str], int]] = {}
    for path, size in paths.items():
        name, version = parse_name(path)
        versions, total = grouped.get(name, (set(), 0))
        versions.add(version)
        grouped[name] = (versions, total + (size or 0))
    return grouped


def diff_closures(host: str, current: Closure | None, new: Closure, *, new_out: str | None = None,
                  current_path: str | None = None, booted: Mapping[str, str] | None = None,
                  missing: Mapping[str, int | None] | None = None) -> ClosureDiff:
    """What switching `host` from `current` to `new` changes. `new_out`: what would be deployed (a deploy-rs
    profile wraps the system `new`); `current_path`: /run/current-system (it may be such a wrapper); `booted`:
    the booted system's resolved kernel/initrd/kernel-modules (the reboot is judged against them; default: the
    current system's); `missing`: the new paths the host lacks, with sizes (what a deploy copies)."""
    before = current.paths if current is not None else {}
    old, now = _by_name(before), _by_name(new.paths)
    changes = []
    for name in sorted(set(old) | set(now)):
        old_versions, old_size = old.get(name, (set(), 0))
        new_versions, new_size = now.get(name, (set(), 0))
        if old_versions == new_versions:
            continue  # same versions (maybe rebuilt): not a package change, as in nvd
        changes.append(PackageChange(name, tuple(sort_versions(list(old_versions))),
                                     tuple(sort_versions(list(new_versions))), new_size - old_size))
    booted_links = dict(booted) if booted is not None else dict(current.links if current else {})
    current_links = current.links if current else {}
    boot_changes = tuple(link for link in BOOT_LINKS
                         if new.links.get(link) and new.links.get(link) != current_links.get(link))
    reboot = any(new.links.get(link) and booted_links.get(link) and new.links[link] != booted_links[link]
                 for link in BOOT_LINKS)
    running = current_path or (current.root if current else None)
    unchanged = running is not None and running in (new.root, new_out)
    return ClosureDiff(
        host=host, current=running, new=new_out or new.root,
        unchanged=unchanged, changes=tuple(changes),
        paths_added=len(set(new.paths) - set(before)), paths_removed=len(set(before) - set(new.paths)),
        size_before=current.size if current else 0, size_after=new.size,
        copy_size=sum(s or 0 for s in missing.values()) if missing is not None else None,
        copy_paths=len(missing) if missing is not None else None,
        reboot=reboot, boot_changes=boot_changes,
        kernel_booted=kernel_version(booted_links.get("kernel", "")),
        kernel_before=kernel_version(current_links.get("kernel", "")),
        kernel_after=kernel_version(new.links.get("kernel", "")),
        nixos_before=current.nixos_version if current else "", nixos_after=new.nixos_version)


def system_of(root: str, references: list[str]) -> str:
    """The system inside a deploy-rs profile: `activatable-X` refers to `X` (deploy-rs's `activate.nixos` wraps
    the toplevel with its activation scripts), and the host runs X (or, on the testbed, the wrapper itself).
    Comparing system with system keeps deploy-rs's own glue out of the diff."""
    name = store_name(root)
    if not name.startswith("activatable-"):
        return root
    inner = name[len("activatable-"):]
    return next((r for r in references if store_name(r) == inner), root)
