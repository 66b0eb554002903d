"""deploy-rs merge rules on evaluated data (no nix): precedence, sshOpts order, defaults, errors."""

from __future__ import annotations

import pytest

from labtui.errors import ConfigError
from labtui.inventory.merge import build_hosts


def level(settings=None, unknown=None, **extra):
    return {"settings": settings or {}, "unknown": unknown or [], **extra}


def profile(settings=None, has_path=True, unknown=None):
    return level(settings, unknown, hasPath=has_path)


def data(deploy_settings=None, nodes=None, nixos=None):
    deploy = None if nodes is None else level(deploy_settings, nodes=nodes)
    return {"deploy": deploy, "nixosConfigurations": nixos}


def node(hostname="h.lan", profiles=None, **settings):
    return level({"hostname": hostname, **settings}, profiles=profiles if profiles is not None else
                 {"system": profile({"user": "root"})})


def test_precedence_profile_node_deploy_default() -> None:
    keys = {"fastConnection": True, "confirmTimeout": 11, "tempPath": "/d"}
    hosts, _ = build_hosts(data(
        {**keys, "sshUser": "d"},
        {"n": node(confirmTimeout=22, tempPath="/n",
                   profiles={"system": profile({"tempPath": "/p", "user": "root"})})}), "me")
    p = hosts[0].profile("system")
    assert (p.fast_connection, p.sources["fast_connection"]) == (True, "deploy")
    assert (p.confirm_timeout, p.sources["confirm_timeout"]) == (22, "node")
    assert (p.temp_path, p.sources["temp_path"]) == ("/p", "profile")
    assert (p.magic_rollback, p.sources["magic_rollback"]) == (True, "default")
    assert (p.sudo, p.interactive_sudo, p.remote_build) == ("sudo -u", False, False)


def test_ssh_opts_concatenate_profile_node_deploy() -> None:
    hosts, _ = build_hosts(data({"sshOpts": ["-A"]}, {"n": node(
        sshOpts=["-p", "2"], profiles={"system": profile({"sshOpts": ["-t"], "user": "root"})})}), "me")
    p = hosts[0].profile("system")
    assert p.ssh_opts == ("-t", "-p", "2", "-A")
    assert p.sources["ssh_opts"] == "profile"


def test_ssh_user_defaults_to_local_user_and_user_to_ssh_user() -> None:
    hosts, warnings = build_hosts(data(None, {"n": node(profiles={"a": profile(), "b": profile({"user": "x"})})}),
                                  "localme")
    a, b = hosts[0].profile("a"), hosts[0].profile("b")
    assert (a.ssh_user, a.sources["ssh_user"]) == ("localme", "default")
    assert a.user is None  # deploy-rs: "Neither `user` nor `sshUser` are set"
    assert any("neither `user` nor `sshUser`" in w for w in warnings)
    assert b.user == "x"
    hosts, _ = build_hosts(data({"sshUser": "ops"}, {"n": node(profiles={"a": profile()})}), "localme")
    assert (hosts[0].profile("a").user, hosts[0].profile("a").sources["user"]) == ("ops", "deploy")


def test_profiles_order_then_sorted_rest() -> None:
    profiles = {name: profile({"user": "root"}) for name in ("c", "a", "system", "b")}
    hosts, _ = build_hosts(data(None, {"n": node(profiles=profiles, profilesOrder=["system", "b"])}), "me")
    assert [p.name for p in hosts[0].profiles] == ["system", "b", "a", "c"]


def test_profiles_order_naming_a_missing_profile() -> None:
    with pytest.raises(ConfigError, match="No profile named `nope` was found"):
        build_hosts(data(None, {"n": node(profilesOrder=["nope"])}), "me")


def test_system_profile_drives_the_ssh_target() -> None:
    profiles = {"home": profile({"user": "u", "sshOpts": ["-p", "1"]}),
                "system": profile({"user": "root", "sshOpts": ["-p", "2"]})}
    hosts, _ = build_hosts(data(None, {"n": node(profiles=profiles)}), "me")
    assert hosts[0].ssh.port == 2


def test_l_flag_is_used_only_without_an_ssh_user_in_the_flake() -> None:
    hosts, _ = build_hosts(data(None, {"n": node(sshOpts=["-l", "admin"])}), "me")
    assert (hosts[0].ssh.user, hosts[0].sources["ssh_user"]) == ("admin", "ssh-opts")
    hosts, _ = build_hosts(data({"sshUser": "ops"}, {"n": node(sshOpts=["-l", "admin"])}), "me")
    assert hosts[0].ssh.user == "ops"


def test_nixos_configurations_merge_with_nodes() -> None:
    hosts, _ = build_hosts(data(None, {"both": node()}, ["both", "only"]), "me")
    both, only = hosts
    assert both.in_deploy and both.in_nixos_configurations and both.method == "deploy-rs"
    assert not only.in_deploy and only.method == "nixos-rebuild" and only.hostname == "only"


@pytest.mark.parametrize("bad_node, message", [
    (level({}, profiles={}), "has no `hostname`"),
    (level({"hostname": "h"}), "has no `profiles`"),
    (level({"hostname": "h"}, profiles={"system": profile(has_path=False)}), "has no `path`"),
    (node(confirmTimeout="30"), "`deploy.nodes.n.confirmTimeout` must be a whole number of seconds"),
    (node(fastConnection=1), "must be true or false"),
    (node(sshOpts=["-p", 22]), "must be a list of strings"),
    (node(hostname="h; reboot"), "refusing host name 'h; reboot'"),
    (node(sshUser="$(id)"), "refusing ssh user '$(id)'"),
    (node(profiles={"system": profile({"user": "-oProxyCommand=x"})}), "refusing profile user '-oProxyCommand=x'"),
    (node(profiles={"sys tem": profile({"user": "root"})}), "refusing profile name 'sys tem'"),
    (node(sshOpts=["-J", "a;b"]), "refusing jump host 'a;b'"),
])
def test_bad_flake_values(bad_node, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("$", r"\$").replace("(", r"\(").replace(")", r"\)")):
        build_hosts(data(None, {"n": bad_node}), "me")


def test_bad_node_and_nixos_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="refusing node name '`id`'"):
        build_hosts(data(None, {"`id`": node()}), "me")
    with pytest.raises(ConfigError, match="refusing nixosConfigurations name '-x'"):
        build_hosts(data(None, None, ["-x"]), "me")


def test_unknown_keys_warn_with_nearest() -> None:
    _, warnings = build_hosts({"deploy": level({}, ["sshOpt"], nodes={"n": node()}), "nixosConfigurations": None},
                              "me")
    assert warnings == ["unknown key `sshOpt` in `deploy` (deploy-rs ignores it); did you mean `sshOpts`?"]
