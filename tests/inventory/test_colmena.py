"""A Colmena hive as the inventory: the raw `colmena` output read without the module system, a `colmenaHive` read
through it (Colmena's own eval.nix on the tests' stand-in nixpkgs), and both agreeing."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from labtui.errors import ConfigError, UserError
from labtui.inventory.colmena import build_colmena_hosts
from labtui.inventory.loader import load
from labtui.inventory.merge import build_hosts
from labtui.inventory.model import ColmenaNode
from labtui.inventory.nix import NixResult, run_nix
from labtui.ops.privilege import privilege_for
from tests.support import in_ci
from tests.support.colmena import REPO

pytestmark = pytest.mark.integration

# Colmena 0.4.0's source beside the repository (../shared/colmena/sources), for a real colmenaHive.
TARBALLS = [parent / "shared" / "colmena" / "sources" / "colmena-5fdd743.tar.gz" for parent in REPO.parents]


def with_colmena_src(flake: Path) -> None:
    """Copy Colmena's hive/eval.nix, options.nix and modules.nix into the flake (then it has `colmenaHive`)."""
    tarball = next((t for t in TARBALLS if t.is_file()), None)
    if tarball is None:
        message = "Colmena's source (../shared/colmena/sources/colmena-5fdd743.tar.gz) is not available"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    target = flake / "colmena-src"
    target.mkdir()
    with tarfile.open(tarball) as tar:
        for name in ("eval.nix", "options.nix", "modules.nix"):
            member = tar.getmember(f"colmena/src/nix/hive/{name}")
            source = tar.extractfile(member)
            assert source is not None
            (target / name).write_bytes(source.read())


def counting_runner(calls: list[list[str]]):
    def run(argv, timeout):
        calls.append(argv)
        return run_nix(argv, timeout)
    return run


def by_name(inventory):
    return {h.name: h for h in inventory.hosts}


def test_raw_hive_merged_as_colmena_merges_it(nix, flake_copy):
    flake = flake_copy("colmena")
    calls: list[list[str]] = []
    inventory = load(str(flake), use_config=False, runner=counting_runner(calls))
    hosts = by_name(inventory)
    assert sorted(hosts) == ["bastion", "db1", "web1", "web2"]
    assert len(calls) == 1  # one nix eval; no system, no key contents, no nixosConfigurations entry forced
    web1 = hosts["web1"]
    assert (web1.method, web1.hostname, web1.ssh.user, web1.ssh.port) == ("colmena", "web1.lan", "deploy", None)
    assert web1.tags == ("all", "web", "nginx")  # defaults, the node, then an import's mkAfter
    assert web1.colmena == ColmenaNode(target_host="web1.lan", target_user="deploy", tags=("all", "web", "nginx"),
                                       keys=("tls.key",))
    assert web1.in_nixos_configurations and not web1.in_deploy and web1.profiles == ()
    assert web1.sources["hostname"] == "colmena" and web1.sources["port"] == "default"
    assert (hosts["web2"].ssh.user, hosts["web2"].tags) == ("root", ("all", "nginx"))  # a list of modules
    db1 = hosts["db1"]
    assert (db1.hostname, db1.ssh.port, db1.ssh.user, db1.tags) == ("10.0.0.5", 2222, "dbadmin", ("db", "r2", "all"))
    bastion = hosts["bastion"].colmena
    assert bastion is not None
    assert (bastion.privilege_escalation_command, bastion.build_on_target, bastion.replace_unknown_profiles,
            bastion.allow_local_deployment) == (("doas",), True, False, True)
    assert any("colmena.ops: deployment.targetHost depends on `config`" in w and "left out" in w
               for w in inventory.warnings)
    assert any("colmena.box: deployment.targetHost is null" in w for w in inventory.warnings)


def test_colmena_hive_resolves_what_the_raw_output_cannot(nix, flake_copy):
    """With a colmenaHive too, the one node whose deployment needs `config` is read again through the module
    system (a second, small nix eval); the others keep their one-eval values."""
    flake = flake_copy("colmena")
    with_colmena_src(flake)
    calls: list[list[str]] = []
    hosts = by_name(load(str(flake), use_config=False, runner=counting_runner(calls)))
    assert hosts["ops"].hostname == "ops.ops.lan" and hosts["ops"].ssh.user == "deploy"
    assert len(calls) == 2 and '"ops"' in calls[1][-1] and '"web1"' not in calls[1][-1]
    assert hosts["web1"].colmena and hosts["web1"].colmena.has_hive


def test_shallow_read_agrees_with_colmenas_eval_nix(nix, flake_copy):
    """The same hive through Colmena's own eval.nix (colmenaHive only, the stand-in's module system): every node
    the raw reading resolved has the same deployment options."""
    first = flake_copy("colmena")
    only = first.parent / "colmena-hive"
    shutil.copytree(first, only)
    with_colmena_src(only)
    (only / "only-hive").write_text("")
    raw = by_name(load(str(first), use_config=False))
    deep = by_name(load(str(only), use_config=False))
    assert sorted(deep) == ["bastion", "db1", "ops", "web1", "web2"]
    for name, host in raw.items():
        assert host.colmena is not None and deep[name].colmena is not None
        assert (host.hostname, host.ssh, host.tags) == (deep[name].hostname, deep[name].ssh, deep[name].tags)
        assert host.colmena.__dict__ | {"has_hive": True} == deep[name].colmena.__dict__


def test_a_failed_shallow_read_is_retried_through_the_hive(tmp_path):
    """nix fails on the raw output (a module breaks in a way tryEval cannot catch): labtui reads the colmenaHive
    instead and says so; a flake broken elsewhere fails the second time too and shows the first error."""
    (tmp_path / "flake.nix").write_text("{ outputs = _: { }; }\n")
    answer = {"deploy": None, "nixosConfigurations": None, "revision": None,
              "colmena": {"kind": "colmenaHive", "hasHive": True, "nodes": {"web1": {
                  "settings": {"targetHost": "web1.lan", "targetUser": "root", "tags": ["web"]}, "keys": [],
                  "unresolved": [], "conflicts": []}}}}
    calls: list[list[str]] = []

    def runner(argv, timeout):
        calls.append(argv)
        if len(calls) == 1:
            return NixResult(1, "", "error: value is a function while a set was expected\n")
        return NixResult(0, json.dumps(answer), "")

    inventory = load(str(tmp_path), use_config=False, runner=runner)
    assert [h.name for h in inventory.hosts] == ["web1"] and len(calls) == 2
    assert any("could not read the Colmena hive without the module system (error: value is a function" in w
               for w in inventory.warnings)

    def broken(argv, timeout):
        return NixResult(1, "", "error: syntax error, unexpected '}'\n")

    other = tmp_path / "broken"
    other.mkdir()
    (other / "flake.nix").write_text("{ outputs = _: { }; }\n")
    with pytest.raises(UserError, match="evaluating the flake .* failed") as caught:
        load(str(other), use_config=False, runner=broken)
    assert "syntax error" in caught.value.detail


def node(**settings) -> dict[str, object]:
    return {"settings": settings, "keys": [], "unresolved": [], "conflicts": []}


def test_merge_defaults_sources_and_refusals():
    hosts, warnings = build_colmena_hosts({"nodes": {"a": node(), "b": node(targetUser=None, targetPort=22)}},
                                          "colmena")
    a, b = hosts
    assert (a.hostname, a.ssh.user, a.sources["hostname"], a.sources["ssh_user"]) == ("a", "root", "default",
                                                                                      "default")
    assert (b.ssh.user, b.ssh.port, b.sources["port"]) == (None, 22, "colmena") and warnings == []
    with pytest.raises(ConfigError, match=r"`colmena.a.deployment.targetPort` has the wrong type"):
        build_colmena_hosts({"nodes": {"a": node(targetPort="22")}}, "colmena")
    with pytest.raises(ConfigError, match="refusing host name 'x; rm -rf /'"):
        build_colmena_hosts({"nodes": {"a": node(targetHost="x; rm -rf /")}}, "colmena")
    with pytest.raises(ConfigError, match=r"refusing '\$\(id\)' in colmena.a.deployment.privilegeEscalationCommand"):
        build_colmena_hosts({"nodes": {"a": node(privilegeEscalationCommand=["sudo", "$(id)"])}}, "colmena")
    with pytest.raises(ConfigError, match="conflicting definitions"):
        build_colmena_hosts({"nodes": {"a": {**node(), "conflicts": ["targetUser"]}}}, "colmena")


def test_ssh_config_file_reaches_every_node_as_it_reaches_colmenas_ssh(monkeypatch):
    [host], _ = build_colmena_hosts({"nodes": {"a": node(targetHost="a.lan")}}, "colmena", ssh_config="lab/ssh_config")
    assert host.ssh.config_file == "lab/ssh_config"
    hive = {"kind": "colmena", "nodes": {"a": node(targetHost="a.lan")}}
    monkeypatch.setenv("SSH_CONFIG_FILE", "lab/ssh_config")
    [host], _ = build_hosts({"colmena": hive})
    assert host.ssh.config_file == "lab/ssh_config"
    monkeypatch.setenv("SSH_CONFIG_FILE", "")  # empty: no file
    [host], _ = build_hosts({"colmena": hive})
    assert host.ssh.config_file is None


def test_unresolved_options_are_said_not_guessed():
    opaque = {**node(targetHost="a.lan", tags=["x"]), "unresolved": ["tags", "targetUser"]}
    [host], warnings = build_colmena_hosts({"nodes": {"a": opaque}}, "colmena")
    assert host.tags == ("x",) and host.ssh.user == "root"
    assert any("deployment.tags may be incomplete" in w for w in warnings)
    assert any("deployment.targetUser is taken as Colmena's default" in w for w in warnings)


def test_privilege_follows_colmenas_rule():
    hosts, _ = build_colmena_hosts({"nodes": {"r": node(targetUser="root"), "d": node(targetUser="deploy"),
                                              "o": node(targetUser="ops", privilegeEscalationCommand=["doas"])}},
                                   "colmena")
    d, o, r = hosts
    assert privilege_for(r).prefix == ""
    assert privilege_for(d).wrap("true") == "sudo -H -- /bin/sh -c true"
    assert privilege_for(o).wrap("true") == "doas /bin/sh -c true"


def test_labtui_toml_cannot_move_a_colmena_host(nix, flake_copy):
    flake = flake_copy("colmena")
    (flake / "labtui.toml").write_text('[hosts.web1]\nhostname = "elsewhere"\n')
    from labtui.cli.common import config_schema

    with pytest.raises(ConfigError, match=r"would differ from what colmena uses; set deployment.targetHost"):
        load(str(flake), schema=config_schema())


def test_hosts_cli_shows_the_hive(nix, flake_copy, capsys):
    from labtui.cli.main import main

    flake = flake_copy("colmena")
    assert main(["--flake", str(flake), "hosts", "@all", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    web1 = next(h for h in data["hosts"] if h["name"] == "web1")
    assert web1["method"] == {"value": "colmena", "source": "default"}
    assert web1["colmena"]["keys"] == ["tls.key"] and web1["colmena"]["target_user"] == "deploy"
