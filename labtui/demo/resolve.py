"""Drift detection in the demo: what the simulated flake builds for a host, with the shape of
labtui.inventory.flake_paths.FlakePathResolver (`await system_paths(host)`, `reasons`, `invalidate()`)."""

from __future__ import annotations

from collections.abc import Callable

from labtui.inventory.flake_paths import FlakePaths
from labtui.inventory.model import Host


class DemoResolver:
    def __init__(self, flake_path: Callable[[str], str | None]) -> None:
        self.flake_path = flake_path  # host -> what the simulated flake builds for it, None when not in it
        self.reasons: dict[str, str] = {}

    async def system_paths(self, host: Host) -> FlakePaths | None:
        path = self.flake_path(host.name)
        if path is None:
            self.reasons[host.name] = "not in the demo flake"
            return None
        return FlakePaths(profile_path=path, toplevel=path)

    def invalidate(self) -> None:
        pass
