"""labtui: one tool for a NixOS home lab, a Textual TUI and a CLI over the same core.

The core (inventory, ssh, status, runs, deploy, ops, sim, demo) never imports Textual; `labtui.tui` is the only
face that does, `labtui.cli` the other. pyproject.toml's import contracts and tests/test_import_hygiene.py hold that.
"""

__version__ = "0.1.0"
