"""Closure diffs for the simulated lab (the demo): what deploying a simulated host would change.

The simulated flake has no Nix behind it, so there is nothing to build and compare; this answers the deploy
dialog's question (labtui.tui.sources.PreviewSource) from the lab's state instead, with the core's own types: a
host whose current system is what the simulated flake builds is unchanged; an outdated one gets a few package
upgrades, the same every time for the same host (chosen from its name), and a reboot when the kernel it booted
is not its system's. A demo only: real fleets use labtui.deploy.preview.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

from labtui.closure.diff import ClosureDiff, PackageChange
from labtui.deploy.preview import HostPreview, Preview
from labtui.inventory.model import Host
from labtui.runs.events import BuildProgress, RunEvent
from labtui.sim.state import SimLab

# name, version before, version after (None: not there), NAR size change in bytes
_CHANGES: tuple[tuple[str, str | None, str | None, int], ...] = (
    ("nginx", "1.26.2", "1.27.3", 180_224),
    ("openssl", "3.0.14", "3.0.15", 12_288),
    ("systemd", "256.8", "256.10", 1_048_576),
    ("python3", "3.12.7", "3.12.8", 204_800),
    ("htop", None, "3.3.0", 438_272),
    ("tailscale", "1.76.1", "1.78.1", 3_145_728),
    ("curl", "8.10.1", "8.11.0", 53_248),
    ("jellyfin", "10.9.11", "10.10.3", 18_874_368),
    ("nano", "8.2", None, -2_887_680),
)


class SimPreview:
    """The demo's PreviewSource."""

    def __init__(self, lab: SimLab) -> None:
        self.lab = lab

    async def preview(self, hosts: Sequence[Host], method: str | None,
                      emit: Callable[[RunEvent], None] | None = None) -> Preview:
        found = []
        for host in hosts:
            sim = self.lab.load(host.name)
            if not sim.reachable:
                found.append(HostPreview(host.name, None, "host", "no SSH answer (simulated host is down)"))
                continue
            current = next(g for g in sim.generations if g.number == sim.current)
            booted = next((g for g in sim.generations if g.number == sim.booted), current)
            if emit is not None:
                emit(BuildProgress(ts=0.0, node=host.name, built=0, to_build=0, done=True))
            if sim.flake_path == current.path:
                changes: tuple[PackageChange, ...] = ()
            else:
                seed = zlib.crc32(host.name.encode())
                picked = [c for i, c in enumerate(_CHANGES) if (seed >> i) & 1] or list(_CHANGES[:2])
                changes = tuple(PackageChange(name, (old,) if old else (), (new,) if new else (), size)
                                for name, old, new, size in picked)
            size_before = 2_400_000_000 + zlib.crc32(current.path.encode()) % 400_000_000
            delta = sum(c.size_delta for c in changes)
            found.append(HostPreview(host.name, ClosureDiff(
                host=host.name, current=current.path, new=sim.flake_path, unchanged=not changes,
                changes=changes, paths_added=len(changes) * 3, paths_removed=len(changes) * 3,
                size_before=size_before, size_after=size_before + delta,
                copy_size=sum(max(0, c.size_delta) for c in changes) + 40_960 * len(changes) if changes else 0,
                copy_paths=len(changes) * 3, reboot=booted.kernel != current.kernel, boot_changes=(),
                kernel_booted=booted.kernel, kernel_before=current.kernel, kernel_after=current.kernel,
                nixos_before=current.nixos_version, nixos_after=current.nixos_version)))
        return Preview(found)
