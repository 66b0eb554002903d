"""The demo lab as a flake directory, so labtui's CLI works on it as on a real lab (`labtui demo --shell`).

`write_flake()` writes what a lab's repository holds: a `flake.nix` whose `deploy.nodes` reach the
simulated hosts (hostname, sshUser, sshOpts with the lab's port, key and known_hosts, the demo's
timeouts), a `labtui.toml` with their tags, critical flags, poll interval and checks, and an ssh_config
for OpenSSH (`ssh -F ssh_config nas`). The simulated systems are not Nix derivations, so nix could
not build them; instead the demo stores what evaluating the flake gives in labtui's own caches (the
same files and keys labtui.inventory and its flake-path resolver use), and labtui never needs nix on
it. The flake.nix is still honest data: `nix eval .#deploy.nodes --json` reads the same nodes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from labtui.demo.inventory import (
    DEMO_ACTIVATION_TIMEOUT,
    DEMO_CONFIRM_TIMEOUT,
    DEMO_POLL_INTERVAL,
    SSH_USER,
    demo_checks,
    demo_ssh_opts,
)
from labtui.demo.lab import DemoHostSpec
from labtui.inventory.cache import JsonCache, source_state
from labtui.inventory.evaluate import EXPRESSION_VERSION
from labtui.inventory.flake_paths import FlakePaths
from labtui.inventory.flakeref import resolve_flake

LOOPBACK = "127.0.0.1"


def _nix(value: Any) -> str:
    """A JSON value as Nix text (strings, numbers, booleans, lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[ " + " ".join(_nix(v) for v in value) + " ]"
    if isinstance(value, str):
        return json.dumps(value).replace("${", "\\${")
    return json.dumps(value)


def _node_settings(spec: DemoHostSpec, port: int, key: Path, known_hosts: Path) -> dict[str, Any]:
    return {"hostname": LOOPBACK, "sshUser": SSH_USER, "user": "root",
            "sshOpts": list(demo_ssh_opts(port, key, known_hosts)),
            "confirmTimeout": DEMO_CONFIRM_TIMEOUT, "activationTimeout": DEMO_ACTIVATION_TIMEOUT}


def evaluation(specs: tuple[DemoHostSpec, ...], ports: Mapping[str, int], key: Path,
               known_hosts: Path) -> dict[str, Any]:
    """What labtui's flake evaluation (labtui.inventory.evaluate) answers for the demo flake."""
    nodes = {spec.name: {
        "settings": _node_settings(spec, ports[spec.name], key, known_hosts), "unknown": [],
        "profiles": {"system": {"settings": {"profilePath": "/nix/var/nix/profiles/system"}, "unknown": [],
                                "hasPath": True}},
    } for spec in specs}
    return {"deploy": {"settings": {}, "unknown": [], "nodes": nodes},
            "nixosConfigurations": [spec.name for spec in specs], "revision": None}


def flake_nix(specs: tuple[DemoHostSpec, ...], ports: Mapping[str, int], key: Path, known_hosts: Path) -> str:
    lines = ["# The demo lab of labtui (`labtui demo`): its hosts are simulated on 127.0.0.1.",
             "# Written by labtui at every start (the ports change); edits are lost.",
             "{", "  outputs = { self }: {", "    deploy.nodes = {"]
    for spec in specs:
        settings = _node_settings(spec, ports[spec.name], key, known_hosts)
        lines.append(f"      {_nix(spec.name)} = {{")
        lines += [f"        {k} = {_nix(v)};" for k, v in settings.items()]
        lines.append('        profiles.system = { profilePath = "/nix/var/nix/profiles/system"; '
                     f'path = "/nix/store/simulated-{spec.name}"; }};')
        lines.append("      };")
    lines += ["    };",
              "    # Only the names matter to labtui; the systems themselves are simulated.",
              "    nixosConfigurations = {"]
    lines += [f"      {_nix(spec.name)} = {{ }};" for spec in specs]
    lines += ["    };", "  };", "}", ""]
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value)


def labtui_toml(specs: tuple[DemoHostSpec, ...]) -> str:
    lines = ["# labtui's settings for the demo lab (written at every start).", "[defaults]",
             f"poll_interval = {DEMO_POLL_INTERVAL:g}", "",
             "[deploy]", "# The simulated systems are not Nix derivations: nothing for labtui to build first.",
             "build_first = false", ""]
    for spec in specs:
        lines.append(f"[hosts.{json.dumps(spec.name)}]")
        lines.append(f"tags = {_toml_value(list(spec.tags))}")
        if spec.critical:
            lines.append("critical = true")
        for check in demo_checks(spec):
            lines.append(f"[[hosts.{json.dumps(spec.name)}.checks]]")
            lines.append(f"kind = {_toml_value(check.kind)}")
            lines.append(f"name = {_toml_value(check.name)}")
            lines += [f"{k} = {_toml_value(v)}" for k, v in check.params.items()]
            lines += [f"period = {check.period:g}", f"timeout = {check.timeout:g}", f"retries = {check.retries}"]
        lines.append("")
    return "\n".join(lines)


def ssh_config(specs: tuple[DemoHostSpec, ...], ports: Mapping[str, int], key: Path, known_hosts: Path) -> str:
    blocks = []
    for spec in specs:
        blocks.append(f"Host {spec.name}\n  HostName {LOOPBACK}\n  Port {ports[spec.name]}\n  User {SSH_USER}\n"
                      f"  IdentityFile {key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {known_hosts}\n"
                      "  StrictHostKeyChecking yes\n")
    return "\n".join(blocks)


def write_flake(flake_dir: Path, specs: tuple[DemoHostSpec, ...], ports: Mapping[str, int], key: Path,
                known_hosts: Path, flake_path: Callable[[str], str | None]) -> None:
    """Write the flake, labtui.toml and ssh_config, and store their evaluation in labtui's caches
    (cache_dir() of the environment this runs in: the demo's own). `flake_path(host)`: the system the
    simulated flake builds for a host (drift)."""
    flake_dir.mkdir(parents=True, exist_ok=True)
    (flake_dir / "flake.nix").write_text(flake_nix(specs, ports, key, known_hosts))
    (flake_dir / "labtui.toml").write_text(labtui_toml(specs))
    (flake_dir / "ssh_config").write_text(ssh_config(specs, ports, key, known_hosts))
    ref = resolve_flake(str(flake_dir))
    fingerprint = source_state(ref).fingerprint
    assert fingerprint is not None, "a local directory always has a fingerprint"
    JsonCache("flake-eval", ref).store(f"{EXPRESSION_VERSION}:{fingerprint}",
                                       evaluation(specs, ports, key, known_hosts))
    paths = {}
    for spec in specs:
        path = flake_path(spec.name)
        if path is not None:
            paths[spec.name] = asdict(FlakePaths(profile_path=path, toplevel=path))
    JsonCache("flake-paths", ref).store(fingerprint, paths)
