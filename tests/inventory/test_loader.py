"""The inventory from real `nix eval` on fixture flakes: merge results, laziness, cache, zero config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from labtui.errors import UserError
from labtui.inventory import load_inventory
from labtui.inventory.loader import load
from labtui.inventory.nix import NixResult, run_nix

pytestmark = pytest.mark.integration


def test_fleet_is_merged_like_deploy_rs(nix, flake_copy) -> None:
    inv = load_inventory(str(flake_copy("fleet")))
    assert inv.names() == ["db1", "example.com", "legacy", "web1"]

    web1 = inv.get("web1")
    assert web1.hostname == "web1.lan" and web1.method == "deploy-rs"
    assert web1.in_deploy and web1.in_nixos_configurations
    # profilesOrder first, then the rest
    assert [p.name for p in web1.profiles] == ["system", "home.nix"]
    system = web1.profile("system")
    # sshOpts: profile ++ node ++ deploy
    assert system.ssh_opts == ("-i", "/keys/web1", "-p2222", "-o", "ServerAliveInterval=15")
    assert [system.sources[f"ssh_opts[{i}]"] for i in range(5)] == ["profile", "profile", "node", "deploy", "deploy"]
    assert (system.user, system.sources["user"]) == ("root", "profile")
    assert (system.ssh_user, system.sources["ssh_user"]) == ("deployer", "deploy")
    assert (system.magic_rollback, system.sources["magic_rollback"]) == (False, "profile")
    assert (system.fast_connection, system.sources["fast_connection"]) == (True, "node")
    assert (system.confirm_timeout, system.sources["confirm_timeout"]) == (60, "deploy")
    assert (system.temp_path, system.sources["temp_path"]) == ("/var/tmp", "deploy")
    assert (system.auto_rollback, system.sources["auto_rollback"]) == (True, "default")
    assert (system.activation_timeout, system.effective_activation_timeout) == (None, 240)
    home = web1.profile("home.nix")
    assert (home.user, home.confirm_timeout, home.sources["confirm_timeout"]) == ("alice", 10, "profile")
    assert home.ssh_opts == ("-p2222", "-o", "ServerAliveInterval=15")
    # the host's SSH target comes from the system profile
    assert web1.ssh.port == 2222 and web1.ssh.user == "deployer"
    assert web1.ssh.identity_files == ("/keys/web1",)
    assert web1.ssh.option("serveraliveinterval") == "15"
    assert web1.sources["port"] == "ssh-opts"


def test_dotted_names_and_node_level_overrides(nix, flake_copy) -> None:
    inv = load_inventory(str(flake_copy("fleet")))
    host = inv.get("example.com")
    system = host.profile("system")
    assert host.hostname == "203.0.113.7"
    assert (system.ssh_user, system.sources["ssh_user"]) == ("admin", "node")
    assert (system.activation_timeout, system.sources["activation_timeout"]) == (600, "node")
    assert (system.remote_build, system.sources["remote_build"]) == (True, "profile")
    assert host.ssh.jump_hosts == ("jump@bastion.lan:2022",)
    assert host.ssh.destination == "admin@203.0.113.7"


def test_user_defaults_to_merged_ssh_user_and_l_flag_does_not_beat_it(nix, flake_copy) -> None:
    inv = load_inventory(str(flake_copy("fleet")))
    db1 = inv.get("db1")
    backup = db1.profile("backup")
    assert (backup.user, backup.sources["user"]) == ("deployer", "deploy")
    assert backup.profile_path == "/nix/var/nix/profiles/per-user/deployer/backup"
    assert db1.profile("system").sudo == "doas -u"
    assert db1.ssh.port == 2200 and db1.ssh.user == "deployer"  # sshUser from the flake wins over -l
    assert any("`sshUsr`" in w and "did you mean `sshUser`" in w for w in inv.warnings)


def test_host_only_in_nixos_configurations_uses_nixos_rebuild(nix, flake_copy) -> None:
    inv = load_inventory(str(flake_copy("fleet")))
    legacy = inv.get("legacy")
    assert (legacy.method, legacy.hostname, legacy.profiles) == ("nixos-rebuild", "legacy", ())
    assert not legacy.in_deploy and legacy.in_nixos_configurations
    assert legacy.sources["hostname"] == "default"


def test_nixos_only_flake_and_default_ssh_user(nix, flake_copy) -> None:
    inv = load_inventory(str(flake_copy("nixos-only")))
    assert [(h.name, h.method) for h in inv.hosts] == [("alpha", "nixos-rebuild"), ("beta", "nixos-rebuild")]


def test_current_directory_is_the_default_flake(nix, flake_copy, monkeypatch) -> None:
    monkeypatch.chdir(flake_copy("fleet"))
    inv = load_inventory()
    assert inv.flake == "." and "web1" in inv.names()


def test_users_files_are_not_modified(nix, flake_copy) -> None:
    flake = flake_copy("fleet")
    before = sorted(p.name for p in flake.iterdir())
    load_inventory(str(flake))
    assert sorted(p.name for p in flake.iterdir()) == before  # no flake.lock written


class CountingRunner:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, argv, timeout) -> NixResult:
        self.calls.append(list(argv))
        return run_nix(argv, timeout)


def test_second_load_comes_from_the_cache(nix, flake_copy) -> None:
    flake = flake_copy("fleet")
    runner = CountingRunner()
    first = load(str(flake), runner=runner)
    second = load(str(flake), runner=runner)
    assert len(runner.calls) == 1
    assert first.hosts == second.hosts
    # editing a .nix file (outside git: its mtime) invalidates the cache
    text = (flake / "flake.nix").read_text().replace('"web1.lan"', '"web1.example"')
    (flake / "flake.nix").write_text(text)
    os.utime(flake / "flake.nix", ns=(1, 1))
    assert load(str(flake), runner=runner).get("web1").hostname == "web1.example"
    assert len(runner.calls) == 2


def test_cache_serves_a_start_without_nix_on_path(nix, flake_copy, monkeypatch) -> None:
    flake = flake_copy("nixos-only")
    load(str(flake))
    monkeypatch.setenv("PATH", "/nonexistent")
    assert load(str(flake)).names() == ["alpha", "beta"]


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_git_flake_cache_follows_revision_and_dirty_state(nix, flake_copy) -> None:
    from tests.support import require_tool

    require_tool("git", "the cache key uses the git revision")
    flake = flake_copy("nixos-only")
    _git(flake, "init", "-q")
    _git(flake, "add", "flake.nix")
    _git(flake, "commit", "-q", "-m", "one")
    runner = CountingRunner()
    inv = load(str(flake), runner=runner)
    assert inv.revision and len(inv.revision) == 40 and inv.dirty is False
    load(str(flake), runner=runner)
    assert len(runner.calls) == 1
    (flake / "flake.nix").write_text((flake / "flake.nix").read_text().replace("beta", "gamma"))
    inv = load(str(flake), runner=runner)
    assert len(runner.calls) == 2 and inv.dirty is True and inv.names() == ["alpha", "gamma"]
    _git(flake, "commit", "-q", "-am", "two")
    inv = load(str(flake), runner=runner)
    assert len(runner.calls) == 3 and inv.dirty is False


@pytest.mark.parametrize("fixture, message, tail", [
    ("syntax-error", "evaluating the flake", "syntax error"),
    ("throws", "evaluating the flake", "hostname of web1 is not configured yet"),
    ("empty", "has neither `deploy.nodes`, a Colmena hive", None),
    ("bad-types", "`deploy.nodes.web1.sshOpts` must be a list of strings", None),
])
def test_broken_flakes_give_one_clear_line(nix, flake_copy, fixture, message, tail) -> None:
    with pytest.raises(UserError) as info:
        load_inventory(str(flake_copy(fixture)))
    assert message in info.value.message and "\n" not in info.value.message
    if tail:
        assert tail in info.value.detail
        assert len(info.value.detail.splitlines()) <= 15


def test_nix_missing_is_reported_with_how_to_install(flake_copy, monkeypatch) -> None:
    from labtui.errors import ToolMissing

    flake = flake_copy("fleet")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolMissing) as info:
        load_inventory(str(flake))
    assert "apt-get install nix-bin" in info.value.message and "nixos.org/download" in info.value.message


def test_flake_in_a_git_subdirectory_is_seen_as_git_sees_it(nix, flake_copy, tmp_path) -> None:
    from tests.support import require_tool

    require_tool("git", "flakes in git trees are evaluated as git+file, like deploy-rs does")
    repo = tmp_path / "repo"
    (repo / "lab").mkdir(parents=True)
    (repo / "lab" / "flake.nix").write_text((flake_copy("nixos-only") / "flake.nix").read_text())
    _git(repo, "init", "-q")
    with pytest.raises(UserError) as info:  # untracked: nix (and deploy-rs) cannot see it
        load(str(repo / "lab"))
    assert "flake.nix is not tracked by git" in info.value.message and "git add flake.nix" in info.value.message
    _git(repo, "add", "lab/flake.nix")
    inv = load(str(repo / "lab"))
    assert inv.names() == ["alpha", "beta"] and inv.flake_dir == str(repo / "lab")


def test_deploy_without_nodes_counts_as_no_fleet(nix, flake_copy) -> None:
    flake = flake_copy("empty")
    (flake / "flake.nix").write_text('{ outputs = { self }: { deploy.sshUser = "root"; }; }\n')
    with pytest.raises(UserError, match="has neither `deploy.nodes`, a Colmena hive"):
        load_inventory(str(flake))


def test_nix_commands_are_in_the_command_log(nix, flake_copy) -> None:
    from labtui.commandlog import COMMAND_LOG

    flake = flake_copy("nixos-only")
    load_inventory(str(flake))
    commands = [r.command for r in COMMAND_LOG.records() if r.where == "local"]
    assert any(c.startswith("nix --extra-experimental-features 'nix-command flakes' eval --json --impure") and
               str(flake) in c for c in commands)


@pytest.mark.parametrize(("release", "system", "says", "never"), [
    ('NAME=NixOS\nID=nixos\nVERSION_ID="26.05"\n', "Linux", "/run/current-system/sw/bin", "apt-get"),
    ('ID=debian\nVERSION_ID="12"\n', "Linux", "apt-get install nix-bin", "pacman"),
    ('ID=linuxmint\nID_LIKE="ubuntu debian"\n', "Linux", "apt-get install nix-bin", "pacman"),
    ("ID=arch\n", "Linux", "pacman -S nix", "apt-get"),
    ('ID="fedora"\n', "Linux", "https://nixos.org/download", "apt-get"),
    ("", "Darwin", "Nix for macOS", "apt-get"),
])
def test_missing_nix_is_explained_for_the_platform(release, system, says, never) -> None:
    """Issue 13: a NixOS user is not told to `apt-get install nix-bin`."""
    from labtui.inventory.nix import nix_how_to_get, os_release

    text = nix_how_to_get(os_release(release), system)
    assert says in text and never not in text
