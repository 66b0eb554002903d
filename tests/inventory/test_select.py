"""labtui.inventory.select: every form an operator types to name hosts, and every way it can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtui.errors import UserError
from labtui.inventory.model import Host, Inventory, Profile, SshTarget
from labtui.inventory.select import (
    Target,
    TargetSpec,
    flake_for,
    parse_target,
    select_host,
    select_hosts,
    select_targets,
    split_targets,
)


def host(name: str, *profiles: str, tags: tuple[str, ...] = (), method: str = "deploy-rs") -> Host:
    return Host(name=name, hostname=f"{name}.lan", ssh=SshTarget(hostname=f"{name}.lan"), tags=tags,
                profiles=tuple(Profile(name=p, ssh_user="root", user="root") for p in profiles),
                method=method)  # type: ignore[arg-type]


@pytest.fixture
def inv() -> Inventory:
    return Inventory(flake=".", hosts=(
        host("web1", "system", "home.nix", tags=("prod", "web")),
        host("web2", "system", tags=("web", "edge-eu")),
        host("db1", "system", "backup", tags=("prod",)),
        host("example.com", "system"),
        host("legacy", method="nixos-rebuild"),
    ))


def pairs(inv: Inventory, *tokens: str) -> list[tuple[str, str | None]]:
    return [t.pair() for t in select_targets(inv, list(tokens))]


def error(inv: Inventory, *tokens: str) -> str:
    with pytest.raises(UserError) as caught:
        select_targets(inv, list(tokens))
    message = caught.value.message
    assert "\n" not in message
    return message


# ---- labtui's own forms ---------------------------------------------------------------------------------------


def test_names_globs_tags_profiles_in_order_without_repeats(inv):
    assert pairs(inv, "db1", "web*", "@prod", "web1.system") == [
        ("db1", None), ("web1", None), ("web2", None), ("web1", "system")]


def test_nothing_typed_is_every_host(inv):
    assert pairs(inv) == [(h.name, None) for h in inv.hosts]


def test_dotted_host_name_before_profile(inv):
    assert pairs(inv, "example.com", "example.com.system", "web1.home.nix") == [
        ("example.com", None), ("example.com", "system"), ("web1", "home.nix")]


def test_tag_globs_and_colmena_comma_lists(inv):
    assert pairs(inv, "@edge-*") == [("web2", None)]
    assert pairs(inv, "db1,@web") == [("db1", None), ("web1", None), ("web2", None)]


# ---- deploy-rs's syntax ---------------------------------------------------------------------------------------


def test_deploy_rs_targets(inv):
    assert pairs(inv, ".#web1") == [("web1", None)]
    assert pairs(inv, ".#web1.system") == [("web1", "system")]
    assert pairs(inv, '.#"example.com".system') == [("example.com", "system")]
    assert pairs(inv, '.#web1."home.nix"') == [("web1", "home.nix")]
    assert pairs(inv, '"example.com"') == [("example.com", None)]


def test_whole_flake_forms(inv):
    every = [(h.name, None) for h in inv.hosts]
    assert pairs(inv, ".") == every
    assert pairs(inv, ".#") == every


def test_parse_keeps_the_flake_part():
    assert parse_target("./lab#web1.system") == [
        TargetSpec("./lab#web1.system", flake="./lab", pattern="web1", profile="system", exact=True)]
    assert parse_target("github:me/lab#db1") == [
        TargetSpec("github:me/lab#db1", flake="github:me/lab", pattern="db1", exact=True)]
    assert parse_target("/srv/lab") == [TargetSpec("/srv/lab", flake="/srv/lab")]
    assert parse_target("web1") == [TargetSpec("web1", pattern="web1")]


@pytest.mark.parametrize(("token", "expected"), [
    (".#a.b.c", "has 3 parts, a target is at most NODE.PROFILE"),
    (".#web 1", "is not NODE or NODE.PROFILE"),
    (".#web*", "globs and @tags are labtui's syntax"),
    (".#@prod", "globs and @tags are labtui's syntax"),
    ("#web1", "has no flake before `#`; write `.#web1`"),
    ('.#"example.com', "unbalanced `\"`"),
    (".#web1.", "ends with `.`"),
    ('.#"${x}"', "`${` is not allowed"),
    ("web1,,db1", "empty name between commas"),
    ("@", "`@` names no tag"),
])
def test_malformed_targets_are_one_line(inv, token, expected):
    assert expected in error(inv, token)


# ---- errors with the nearest name -----------------------------------------------------------------------------


def test_unknown_host_suggests_the_nearest(inv):
    assert error(inv, "wbe1") == "no host named `wbe1` in .; did you mean `web1`?"
    assert error(inv, ".#dbb1") == "`.#dbb1`: no host named `dbb1` in .; did you mean `db1`?"
    assert "run `labtui hosts` to list them" in error(inv, "zzzzzz")


def test_unknown_profile_suggests_the_nearest(inv):
    assert error(inv, "web1.sytem") == (
        "`web1.sytem`: host `web1` has no profile `sytem` (profiles: system, home.nix); did you mean `system`?")
    assert "has no profile `boot`" in error(inv, ".#db1.boot")
    assert ("it has no deploy-rs profiles (nixos-rebuild); name the host alone: `legacy`"
            in error(inv, ".#legacy.system"))


def test_unknown_tag_suggests_the_nearest(inv):
    assert error(inv, "@prd") == "no host has the tag `@prd`; did you mean `@prod`? (tags: edge-eu, prod, web)"
    bare = Inventory(flake=".", hosts=(host("a", "system"),))
    assert "no host has any tag; set them in labtui.toml" in error(bare, "@prod")


def test_glob_matching_nothing_lists_the_hosts(inv):
    assert error(inv, "mail*") == ("`mail*` matches no host (hosts: web1, web2, db1, example.com, legacy); "
                                   "run `labtui hosts` to list them")


def test_select_hosts_drops_profiles_and_select_host_wants_one(inv):
    assert [h.name for h in select_hosts(inv, ["web1.system", ".#web1", "db1"])] == ["web1", "db1"]
    assert select_host(inv, ".#db1").name == "db1"
    with pytest.raises(UserError, match=r"`web\*` names 2 hosts \(web1, web2\); this command takes one"):
        select_host(inv, "web*")


def test_inventory_select_is_the_same_function(inv):
    assert [h.name for h in inv.select([".#db1", "@web"])] == ["db1", "web1", "web2"]
    assert [h.name for h in inv.select(None)] == inv.names()


# ---- which flake -----------------------------------------------------------------------------------------------


def make_flake(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "flake.nix").write_text("{ outputs = _: {}; }\n")
    return path


def test_the_flake_in_a_target_selects_the_flake(tmp_path):
    make_flake(tmp_path / "lab")
    assert flake_for(["./lab#web1.system"], None, tmp_path) == "./lab"
    assert flake_for(["./lab#web1", f"{tmp_path}/lab#db1", "@prod"], None, tmp_path) == "./lab"
    assert flake_for(["web1", "@prod"], "../x", tmp_path) == "../x"  # no flake part: --flake as given
    assert flake_for(["web1"], None, tmp_path) is None
    assert flake_for(["./lab#web1"], str(tmp_path / "lab"), tmp_path) == "./lab"  # the same flake twice: fine


def test_two_flakes_or_a_conflicting_flake_option_are_refused(tmp_path):
    make_flake(tmp_path / "a")
    make_flake(tmp_path / "b")
    with pytest.raises(UserError, match=r"`./a#x` and `./b#y` name two flakes; labtui works on one flake"):
        flake_for(["./a#x", "./b#y"], None, tmp_path)
    with pytest.raises(UserError, match=r"`./a#x` names the flake `./a` but --flake says `./b`; drop one"):
        flake_for(["./a#x"], "./b", tmp_path)
    with pytest.raises(UserError, match="flake directory .* does not exist"):
        flake_for(["./nope#x", "./a#y"], None, tmp_path)


def test_a_target_of_another_flake_than_the_inventory_is_refused(tmp_path):
    here = make_flake(tmp_path / "lab")
    make_flake(tmp_path / "other")
    inv = Inventory(flake=".", flake_dir=str(here), hosts=(host("web1", "system"),))
    assert select_targets(inv, [f"{here}#web1"]) == [Target("web1")]
    assert select_targets(inv, ["./lab#web1"], cwd=tmp_path) == [Target("web1")]
    with pytest.raises(UserError, match=r"`./other#web1` names the flake `./other`, but the hosts here come from"):
        select_targets(inv, ["./other#web1"], cwd=tmp_path)
    remote = Inventory(flake="github:me/lab", hosts=(host("web1", "system"),))
    assert select_targets(remote, ["github:me/lab#web1"]) == [Target("web1")]
    with pytest.raises(UserError, match="names the flake `github:me/other`"):
        select_targets(remote, ["github:me/other#web1"])


# ---- the TUI's `:` line ----------------------------------------------------------------------------------------


def test_split_targets_keeps_quoted_names():
    assert split_targets('  .#"example.com".system   web1 @prod ') == ['.#"example.com".system', "web1", "@prod"]
    assert split_targets('.#"a \\" b".c') == ['.#"a \\" b".c']
    with pytest.raises(UserError, match="unbalanced"):
        split_targets('.#"example.com')
