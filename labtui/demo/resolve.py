"""Drift detection in the demo: what the simulated flake builds for a host, with the shape of
labtui.inventory.flake_paths.FlakePathResolver (`await system_paths(host)`, `reasons`, `invalidate()`)."""

from __future__ import annotations

from typing import Any

from labtui.inventory.flake_paths import FlakePaths
from labtui.inventory.model import Host


class DemoResolver:
    def __init__(self, demo: Any) -> None:
        self.demo = demo
        self.reasons: dict[str, str] = {}

    async def system_paths(self, host: Host) -> FlakePaths | None:
        path = self.demo.flake_path(host.name)
        if path is None:
            self.reasons[host.name] = "not in the demo flake"
            return None
        return FlakePaths(profile_path=path, toplevel=path)

    def invalidate(self) -> None:
        pass
