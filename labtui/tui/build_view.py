"""The deploy pane's tree of running builds while labtui builds the profiles (the nix-output-monitor idea, for many
hosts at once): a branch per host still building (its counts), a leaf per derivation it is building now (its
phase and the builder's last line). Hosts' words (builder output) are shown harmless."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.widgets import Tree

from labtui.deploy.build import summary
from labtui.runs.events import BuildProgress
from labtui.text import harmless
from labtui.tui.deploy_model import RunView


def build_signature(progress: BuildProgress) -> tuple[Any, ...]:
    return (progress.built, progress.to_build, progress.fetched, progress.bytes_fetched,
            tuple((b.drv, b.phase, b.last_line) for b in progress.running))


class BuildTree(Tree[str]):
    """Rebuilt from the RunView when what it shows changed; branches the operator folded stay folded."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("builds", **kwargs)
        self.show_root = False
        self.guide_depth = 2
        self._signature: tuple[Any, ...] | None = None
        self.folded: set[str] = set()

    def sync(self, run: RunView) -> bool:
        """Show the hosts still building; whether there is any."""
        building = [(name, view.build) for name, view in run.nodes.items()
                    if view.build is not None and not view.build.done]
        signature = tuple((name, build_signature(b)) for name, b in building)
        if signature == self._signature:
            return bool(building)
        self._signature = signature
        self.clear()
        for name, progress in building:
            label = Text.assemble((name, "bold"), ("  ", ""), (harmless(summary(progress)), "dim"))
            branch = self.root.add(label, data=name, expand=name not in self.folded)
            for build in progress.running:
                phase = f" ({harmless(build.phase)})" if build.phase else ""
                leaf = Text.assemble((harmless(build.name), ""), (phase, "dim"))
                if build.last_line:
                    leaf.append(f": {harmless(build.last_line.strip())}", style="dim")
                branch.add_leaf(leaf, data=name)
        return bool(building)

    @on(Tree.NodeCollapsed)
    def _folded(self, event: Tree.NodeCollapsed[str]) -> None:
        if event.node.data:
            self.folded.add(event.node.data)

    @on(Tree.NodeExpanded)
    def _unfolded(self, event: Tree.NodeExpanded[str]) -> None:
        if event.node.data:
            self.folded.discard(event.node.data)
