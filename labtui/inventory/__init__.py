"""The fleet inventory: hosts from the flake, merged like deploy-rs merges, plus labtui.toml."""

from labtui.inventory.model import CheckSpec, Host, Inventory, Profile, SshTarget
from labtui.inventory.schema import ConfigSchema

__all__ = ["CheckSpec", "Host", "Inventory", "Profile", "SshTarget", "load_inventory"]


def load_inventory(flake: str | None = None, config: str | None = None, *,
                   schema: ConfigSchema | None = None) -> Inventory:
    """Evaluate the flake with real nix (cached) and apply labtui.toml. Raises UserError on bad input.

    `schema` says which deploy methods and check kinds labtui.toml may name (labtui.cli.common.config_schema)."""
    from labtui.inventory.loader import load

    return load(flake=flake, config=config, schema=schema)
