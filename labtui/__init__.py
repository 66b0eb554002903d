"""labtui: one tool for a NixOS home lab, a Textual TUI and a CLI over the same core.

The core packages (inventory, ssh, status, deploy, ops, sim) never import Textual;
`labtui.tui` is the only face that does, `labtui.cli` the other.
"""

__version__ = "0.1.0"
