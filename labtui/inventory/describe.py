"""The inventory as JSON, every merged value next to where it came from (`labtui hosts --json`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labtui.inventory.model import CheckSpec, Host, Inventory, Profile

PROFILE_FIELDS = ("ssh_user", "user", "sudo", "interactive_sudo", "ssh_opts", "fast_connection", "auto_rollback",
                  "magic_rollback", "confirm_timeout", "activation_timeout", "temp_path", "remote_build",
                  "profile_path")


def _sourced(value: Any, sources: Mapping[str, str], key: str) -> dict[str, Any]:
    return {"value": list(value) if isinstance(value, tuple) else value, "source": sources.get(key, "default")}


def describe_check(check: CheckSpec) -> dict[str, Any]:
    return {"kind": check.kind, "name": check.name, "params": dict(check.params), "period": check.period,
            "timeout": check.timeout, "retries": check.retries}


def describe_profile(profile: Profile) -> dict[str, Any]:
    settings = {key: _sourced(getattr(profile, key), profile.sources, key) for key in PROFILE_FIELDS}
    settings["ssh_opts"]["item_sources"] = [profile.sources.get(f"ssh_opts[{i}]", "default")
                                            for i in range(len(profile.ssh_opts))]
    return {"name": profile.name, "settings": settings}


def describe_host(host: Host) -> dict[str, Any]:
    s = host.sources
    ssh = host.ssh
    return {
        "name": host.name,
        "hostname": _sourced(host.hostname, s, "hostname"),
        "method": _sourced(host.method, s, "method"),
        "tags": _sourced(host.tags, s, "tags"),
        "critical": _sourced(host.critical, s, "critical"),
        "poll_interval": _sourced(host.poll_interval, s, "poll_interval"),
        "in_deploy": host.in_deploy,
        "in_nixos_configurations": host.in_nixos_configurations,
        "ssh": {
            "destination": ssh.destination,
            "user": _sourced(ssh.user, s, "ssh_user"),
            "port": _sourced(ssh.port, s, "port"),
            "jump_hosts": _sourced(ssh.jump_hosts, s, "jump_hosts"),
            "identity_files": list(ssh.identity_files),
            "config_file": ssh.config_file,
            "options": [[k, v] for k, v in ssh.options],
            "raw_opts": list(ssh.raw_opts),
        },
        "checks": {"value": [describe_check(c) for c in host.checks], "source": s.get("checks", "default")},
        "profiles": [describe_profile(p) for p in host.profiles],
        "colmena": describe_colmena(host),
    }


def describe_colmena(host: Host) -> dict[str, Any] | None:
    """The node's deployment.* options (null for a host that is not in a Colmena hive); key names only."""
    node = host.colmena
    if node is None:
        return None
    return {"target_host": node.target_host, "target_user": node.target_user, "target_port": node.target_port,
            "tags": list(node.tags), "build_on_target": node.build_on_target,
            "allow_local_deployment": node.allow_local_deployment,
            "replace_unknown_profiles": node.replace_unknown_profiles,
            "privilege_escalation_command": list(node.privilege_escalation_command), "keys": list(node.keys)}


def describe_inventory(inventory: Inventory, hosts: list[Host] | None = None) -> dict[str, Any]:
    return {
        "flake": inventory.flake,
        "flake_dir": inventory.flake_dir,
        "config": inventory.config_path,
        "revision": inventory.revision,
        "dirty": inventory.dirty,
        "deploy": {"parallel": inventory.deploy.parallel, "build_first": inventory.deploy.build_first},
        "warnings": list(inventory.warnings),
        "hosts": [describe_host(h) for h in (inventory.hosts if hosts is None else hosts)],
    }
