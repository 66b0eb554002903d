"""Turn the evaluated flake into Hosts, merging settings exactly as deploy-rs does (lib.rs:426-482).

(A Colmena hive, read when the flake has no deploy.nodes, is merged as Colmena merges it: labtui.inventory.colmena.)

For every setting: profile > node > deploy > default. `sshOpts` is the exception: the lists are
concatenated profile ++ node ++ deploy. `user` defaults to the merged `sshUser`; `sshUser` itself
defaults to the local user name. Every merged value records where it came from.
"""

from __future__ import annotations

import difflib
import getpass
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from labtui.errors import ConfigError
from labtui.inventory.colmena import build_colmena_hosts
from labtui.inventory.evaluate import GENERIC_KEYS, NODE_KEYS, PROFILE_KEYS
from labtui.inventory.model import (
    DEFAULT_CONFIRM_TIMEOUT,
    DEFAULT_SUDO,
    DEFAULT_TEMP_PATH,
    Host,
    Profile,
    Source,
    SshTarget,
)
from labtui.inventory.nix import attr_path
from labtui.inventory.sshopts import parse_ssh_opts
from labtui.inventory.validate import check_hostname, check_jump_hosts, check_name, check_sudo, check_user

# deploy-rs key -> (Profile field, default when unset at every level, expected JSON type).
SETTINGS: dict[str, tuple[str, Any, type]] = {
    "sshUser": ("ssh_user", None, str),
    "user": ("user", None, str),
    "sudo": ("sudo", DEFAULT_SUDO, str),
    "interactiveSudo": ("interactive_sudo", False, bool),
    "sshOpts": ("ssh_opts", (), list),
    "fastConnection": ("fast_connection", False, bool),
    "autoRollback": ("auto_rollback", True, bool),
    "magicRollback": ("magic_rollback", True, bool),
    "confirmTimeout": ("confirm_timeout", DEFAULT_CONFIRM_TIMEOUT, int),
    "activationTimeout": ("activation_timeout", None, int),
    "tempPath": ("temp_path", DEFAULT_TEMP_PATH, str),
    "remoteBuild": ("remote_build", False, bool),
    "profilePath": ("profile_path", None, str),
}
_TYPE_NAMES: dict[type, str] = {str: "a string", bool: "true or false", list: "a list of strings",
                                 int: "a whole number of seconds"}

Level = tuple[Source, str, Mapping[str, Any]]  # (source, where in the flake, settings)
# Host settings only labtui.toml can change start out as defaults.
_HOST_DEFAULTS: dict[str, Source] = {"method": "default", "tags": "default", "critical": "default",
                                     "poll_interval": "default", "checks": "default"}


def local_user() -> str:
    """deploy-rs's default sshUser (`whoami`)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "root"


def _check_type(key: str, value: Any, where: str) -> Any:
    expected = SETTINGS[key][2] if key in SETTINGS else (list if key == "profilesOrder" else str)
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if ok and expected is list:
        ok = all(isinstance(v, str) for v in value)
    if ok and expected is int:
        ok = 0 <= value <= 65535
    if not ok:
        raise ConfigError(f"`{where}.{key}` must be {_TYPE_NAMES[expected]} (deploy-rs's schema), "
                          f"got {value!r}; fix it in the flake")
    return value


def _unknown_warnings(unknown: list[str], valid: tuple[str, ...], where: str) -> list[str]:
    warnings = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        warnings.append(f"unknown key `{key}` in `{where}` (deploy-rs ignores it){hint}")
    return warnings


def merge_profile(name: str, levels: list[Level], default_ssh_user: str) -> Profile:
    """Merge one profile from its levels, most specific first: [profile, node, deploy]."""
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for key, (field_name, default, _) in SETTINGS.items():
        if key == "sshOpts":
            opts: list[str] = []
            most_specific: Source | None = None
            for source, _where, settings in levels:
                part = settings.get("sshOpts") or []
                for i, _ in enumerate(part):
                    sources[f"ssh_opts[{len(opts) + i}]"] = source
                opts.extend(part)
                if part and most_specific is None:
                    most_specific = source
            values["ssh_opts"] = tuple(opts)
            sources["ssh_opts"] = most_specific or "default"
            continue
        for source, _where, settings in levels:
            if settings.get(key) is not None:
                values[field_name], sources[field_name] = settings[key], source
                break
        else:
            values[field_name], sources[field_name] = default, "default"
    # `user` falls back to the merged sshUser (before the whoami default, like deploy-rs).
    if values["user"] is None and values["ssh_user"] is not None:
        values["user"], sources["user"] = values["ssh_user"], sources["ssh_user"]
    if values["ssh_user"] is None:
        values["ssh_user"] = default_ssh_user
    return Profile(name=name, sources=sources, **values)


def _ordered_profiles(profiles: dict[str, Any], order: list[str], where: str) -> list[str]:
    names = []
    for name in order:
        if name not in profiles:
            raise ConfigError(f"`{where}.profilesOrder` names profile `{name}`, which is not in `{where}.profiles` "
                              f"(deploy-rs: No profile named `{name}` was found); fix profilesOrder")
        if name not in names:
            names.append(name)
    return names + sorted(n for n in profiles if n not in names)


def ssh_target(hostname: str, profile: Profile | None, where: str) -> tuple[SshTarget, dict[str, Source]]:
    """The SSH target of a host from its system profile's merged sshUser and sshOpts."""
    if profile is None:
        return SshTarget(hostname=hostname), {"ssh_user": "default", "port": "default", "jump_hosts": "default"}
    parsed = parse_ssh_opts(profile.ssh_opts, where)
    sources: dict[str, Source] = {"port": "ssh-opts" if parsed.port else "default",
                                  "jump_hosts": "ssh-opts" if parsed.jump_hosts else "default"}
    user_source = profile.sources.get("ssh_user", "default")
    user = profile.ssh_user
    if user_source == "default" and parsed.user:
        user, user_source = check_user("ssh user (-l)", parsed.user, f"in sshOpts {where}"), "ssh-opts"
    sources["ssh_user"] = user_source
    target = SshTarget(
        hostname=hostname, user=user, port=parsed.port, identity_files=tuple(parsed.identity_files),
        jump_hosts=tuple(parsed.jump_hosts), config_file=parsed.config_file, options=tuple(parsed.options),
        raw_opts=profile.ssh_opts)
    return target, sources


def build_hosts(data: Mapping[str, Any], default_ssh_user: str | None = None) -> tuple[list[Host], list[str]]:
    """Hosts (sorted by name) and warnings about keys deploy-rs would ignore."""
    default_ssh_user = default_ssh_user or local_user()
    deploy = data.get("deploy")
    nixos = set(data.get("nixosConfigurations") or ())
    warnings: list[str] = []
    hosts: dict[str, Host] = {}
    if deploy is not None:
        deploy_settings = {k: _check_type(k, v, "deploy") for k, v in deploy["settings"].items()}
        warnings += _unknown_warnings(deploy["unknown"], GENERIC_KEYS + ("nodes",), "deploy")
        if deploy.get("nodes") is None:
            warnings.append("the flake has `deploy` but no `deploy.nodes`; deploy-rs needs deploy.nodes.<name>")
        for node_name, node in sorted((deploy.get("nodes") or {}).items()):
            host = _node_host(node_name, node, deploy_settings, default_ssh_user, warnings)
            hosts[node_name] = host
    hive = data.get("colmena")
    if hive is not None and not hosts:
        output = "colmenaHive" if hive.get("kind") == "colmenaHive" else "colmena"
        # Colmena's own way to take an ssh_config: it gives SSH_CONFIG_FILE to every node's ssh (-F).
        hive_hosts, hive_warnings = build_colmena_hosts(hive, output,
                                                        ssh_config=os.environ.get("SSH_CONFIG_FILE") or None)
        hosts.update((h.name, h) for h in hive_hosts)
        warnings += list(data.get("colmena_notes") or ()) + hive_warnings
    for name in sorted(nixos):
        where = f"nixosConfigurations.{attr_path(name)}"
        if name in hosts:
            hosts[name] = replace(hosts[name], in_nixos_configurations=True)
            continue
        check_name("nixosConfigurations name", name, f"({where})")
        check_hostname("host name", name, f"({where}, used as the host name)")
        hosts[name] = Host(name=name, hostname=name, ssh=SshTarget(hostname=name), method="nixos-rebuild",
                           in_deploy=False, in_nixos_configurations=True,
                           sources={"hostname": "default", **_HOST_DEFAULTS, "ssh_user": "default",
                                    "port": "default", "jump_hosts": "default"})
    return [hosts[n] for n in sorted(hosts)], warnings


def _node_host(node_name: str, node: Mapping[str, Any], deploy_settings: Mapping[str, Any], default_ssh_user: str,
               warnings: list[str]) -> Host:
    where = f"deploy.nodes.{attr_path(node_name)}"
    check_name("node name", node_name, f"({where})")
    settings = {k: _check_type(k, v, where) for k, v in node["settings"].items()}
    warnings += _unknown_warnings(node["unknown"], GENERIC_KEYS + NODE_KEYS + ("profiles",), where)
    if "hostname" not in settings:
        raise ConfigError(f"`{where}` has no `hostname` (deploy-rs requires it); add hostname = \"...\" to the node")
    hostname = check_hostname("host name", settings["hostname"], f"({where}.hostname)")
    if node.get("profiles") is None:
        raise ConfigError(f"`{where}` has no `profiles` (deploy-rs requires it); add profiles.system = {{ ... }}")
    profiles = []
    for profile_name in _ordered_profiles(node["profiles"], settings.get("profilesOrder") or [], where):
        raw = node["profiles"][profile_name]
        pwhere = f"{where}.profiles.{attr_path(profile_name)}"
        check_name("profile name", profile_name, f"({pwhere})")
        if not raw.get("hasPath"):
            raise ConfigError(f"`{pwhere}` has no `path` (deploy-rs requires it); set it to e.g. "
                              "deploy-rs.lib.x86_64-linux.activate.nixos self.nixosConfigurations.<host>")
        psettings = {k: _check_type(k, v, pwhere) for k, v in raw["settings"].items()}
        warnings += _unknown_warnings(raw["unknown"], GENERIC_KEYS + PROFILE_KEYS + ("path",), pwhere)
        levels: list[Level] = [("profile", pwhere, psettings), ("node", where, settings),
                               ("deploy", "deploy", deploy_settings)]
        profile = merge_profile(profile_name, levels, default_ssh_user)
        for field_name, kind in (("ssh_user", "ssh user"), ("user", "profile user")):
            value = getattr(profile, field_name)
            if value is not None:
                source = profile.sources[field_name]
                origin = {"profile": pwhere, "node": where, "deploy": "deploy"}.get(source, "the default")
                check_user(kind, value, f"(from {origin}, for profile {pwhere})")
        sudo_origin = {"profile": pwhere, "node": where, "deploy": "deploy"}.get(profile.sources["sudo"], "the default")
        check_sudo(profile.sudo, f"(from {sudo_origin}.sudo, for host {node_name}, profile {pwhere})")
        # Every profile's sshOpts reach ssh through deploy-rs: a flag missing its value fails there too.
        opts = parse_ssh_opts(profile.ssh_opts, pwhere)
        if opts.jump_hosts:
            check_jump_hosts(",".join(opts.jump_hosts), f"in sshOpts of {pwhere}")
        if profile.user is None:
            warnings.append(f"neither `user` nor `sshUser` is set for `{pwhere}`; deploy-rs refuses to deploy it "
                            "(set sshUser or user)")
        profiles.append(profile)
    host = Host(name=node_name, hostname=hostname, ssh=SshTarget(hostname=hostname), profiles=tuple(profiles))
    system = host.system_profile
    swhere = f"{where}.profiles.{attr_path(system.name)}" if system else where
    target, ssh_sources = ssh_target(hostname, system, swhere)
    return replace(host, ssh=target, sources={"hostname": "node", **_HOST_DEFAULTS, **ssh_sources})
