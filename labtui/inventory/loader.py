"""load(): the flake (evaluated once, then cached) + labtui.toml -> Inventory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from labtui.inventory.cache import JsonCache, SourceState, source_state
from labtui.inventory.config import apply_config, find_config, parse_config
from labtui.inventory.evaluate import EXPRESSION_VERSION, evaluate_flake
from labtui.inventory.flakeref import FlakeRef, resolve_flake
from labtui.inventory.merge import build_hosts
from labtui.inventory.model import DeployConfig, Inventory
from labtui.inventory.nix import NixRunner
from labtui.inventory.schema import ConfigSchema


def evaluate_cached(flake: FlakeRef, runner: NixRunner | None = None) -> tuple[dict[str, Any], SourceState, bool]:
    """The raw evaluation of `flake`, from the cache when nothing changed; (data, state, from_cache)."""
    state = source_state(flake)
    if state.fingerprint is None:
        return evaluate_flake(flake, runner), state, False
    key = f"{EXPRESSION_VERSION}:{state.fingerprint}"
    cache = JsonCache("flake-eval", flake)
    data = cache.load(key)
    if data is not None:
        return data, state, True
    data = evaluate_flake(flake, runner)
    cache.store(key, data)
    return data, state, False


def load(flake: str | None = None, config: str | None = None, *, runner: NixRunner | None = None,
         cwd: str | os.PathLike[str] | None = None, use_config: bool = True,
         schema: ConfigSchema | None = None) -> Inventory:
    """The fleet of `flake` (default: the current directory) with labtui.toml applied.

    `config`: an explicit labtui.toml; otherwise <flake dir>/labtui.toml, else the user's config.toml.
    `use_config=False` ignores labtui.toml entirely (`labtui init` writing a fresh one).
    `schema`: the deploy methods and check kinds labtui.toml may name (labtui.cli.common.config_schema);
    needed when there is a labtui.toml to read.
    Raises UserError (or its ConfigError/ToolMissing subclasses) with a one-line fix on bad input.
    """
    ref = resolve_flake(flake, cwd)
    data, state, _ = evaluate_cached(ref, runner)
    hosts, warnings = build_hosts(data)
    config_path: Path | None = find_config(config, ref.local_dir) if use_config else None
    deploy_config = DeployConfig()
    if config_path is not None:
        if schema is None:
            raise TypeError("reading labtui.toml needs the deploy methods and check kinds: pass schema=")
        lab_config = parse_config(config_path, schema)
        hosts, config_warnings = apply_config(hosts, lab_config, ref.ref)
        warnings += config_warnings
        deploy_config = lab_config.deploy
    return Inventory(
        flake=ref.ref, hosts=tuple(hosts), flake_dir=str(ref.local_dir) if ref.local_dir else None,
        config_path=str(config_path) if config_path else None,
        revision=state.revision or data.get("revision"), dirty=state.dirty,
        deploy=deploy_config, warnings=tuple(warnings))
