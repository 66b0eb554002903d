"""deploy-rs and nixos-rebuild command lines (docs/deploy-rs-output.md §12)."""

from __future__ import annotations

import pytest

from labtui.deploy.commands import (
    DeployRsOptions,
    NixosRebuildOptions,
    deploy_rs_argv,
    deploy_rs_target,
    nix_attr,
    nixos_rebuild_command,
)
from labtui.errors import UserError
from labtui.inventory.model import Host, Profile, SshTarget


def test_single_target_is_positional():
    assert deploy_rs_argv(".", [("web1", "system")], DeployRsOptions()) == ["deploy", ".#web1.system"]


def test_node_without_profile_and_whole_flake():
    assert deploy_rs_argv(".", [("web1", None)], DeployRsOptions()) == ["deploy", ".#web1"]
    assert deploy_rs_argv("github:me/lab", [], DeployRsOptions()) == ["deploy", "github:me/lab"]


def test_several_targets_use_targets_in_order_and_last():
    argv = deploy_rs_argv(".", [("web2", None), ("web1", "system")], DeployRsOptions(skip_checks=True))
    assert argv == ["deploy", "--skip-checks", "--targets", ".#web2", ".#web1.system"]


def test_dotted_names_are_quoted():
    assert deploy_rs_target(".", "example.com", "system") == '.#"example.com".system'
    assert deploy_rs_target(".", "computer", "something.nix") == '.#computer."something.nix"'
    assert nix_attr("web-1_a'") == "web-1_a'"
    assert nix_attr('we"ird${x}') == '"we\\"ird\\${x}"'
    assert nix_attr("1node") == '"1node"'


def test_bool_options_take_two_argv_items():
    opts = DeployRsOptions(magic_rollback=False, auto_rollback=True, rollback_succeeded=False,
                           fast_connection=True, interactive_sudo=False)
    argv = deploy_rs_argv(".", [("a", None)], opts)
    for flag, value in (("--magic-rollback", "false"), ("--auto-rollback", "true"),
                        ("--rollback-succeeded", "false"), ("--fast-connection", "true"),
                        ("--interactive-sudo", "false")):
        i = argv.index(flag)
        assert argv[i + 1] == value
    # unset tri-state options are not passed at all: the flake decides
    assert "--confirm-timeout" not in deploy_rs_argv(".", [("a", None)], DeployRsOptions())


def test_all_flags_and_values():
    opts = DeployRsOptions(dry_activate=True, skip_checks=True, interactive=True, checksigs=True,
                           remote_build=True, debug_logs=True, keep_result=True, result_path="./gc",
                           log_dir="/tmp/logs", confirm_timeout=60, activation_timeout=600,
                           ssh_user="deploy", profile_user="root", hostname="10.0.0.9",
                           ssh_opts="-p 2222 -oControlMaster=no", extra_nix_args=["--show-trace", "-L"])
    argv = deploy_rs_argv(".", [("web1", "system")], opts)
    assert argv[0] == "deploy"
    for flag in ("--dry-activate", "--skip-checks", "--interactive", "--checksigs", "--remote-build",
                 "--debug-logs", "--keep-result"):
        assert flag in argv
    pairs = dict(zip(argv, argv[1:], strict=False))
    assert pairs["--result-path"] == "./gc"
    assert pairs["--log-dir"] == "/tmp/logs"
    assert pairs["--confirm-timeout"] == "60"
    assert pairs["--activation-timeout"] == "600"
    assert pairs["--ssh-user"] == "deploy"
    assert pairs["--profile-user"] == "root"
    assert pairs["--hostname"] == "10.0.0.9"
    assert pairs["--ssh-opts"] == "-p 2222 -oControlMaster=no"  # one argv item
    assert argv[-4:] == [".#web1.system", "--", "--show-trace", "-L"]


def test_ssh_opts_sequence_is_joined_and_checked():
    argv = deploy_rs_argv(".", [("a", None)], DeployRsOptions(ssh_opts=["-p", "22", "-oBatchMode=yes"]))
    assert argv[argv.index("--ssh-opts") + 1] == "-p 22 -oBatchMode=yes"
    with pytest.raises(UserError, match="whitespace"):
        deploy_rs_argv(".", [("a", None)], DeployRsOptions(ssh_opts=["-oProxyCommand=ssh -W %h:%p j"]))


def test_boot_flag():
    assert deploy_rs_argv(".", [("a", "system")], DeployRsOptions(boot=True)) == ["deploy", "--boot", ".#a.system"]


@pytest.mark.parametrize("targets, match", [
    ([("-rf", None)], "starts with `-`"),
    ([("", None)], "empty node"),
    ([("web1", "")], "empty profile"),
    ([("web\n1", None)], "control character"),
])
def test_bad_names_are_refused(targets, match):
    with pytest.raises(UserError, match=match):
        deploy_rs_argv(".", targets, DeployRsOptions())


@pytest.mark.parametrize("flake", ["", "-x", ".#web1"])
def test_bad_flakes_are_refused(flake):
    with pytest.raises(UserError):
        deploy_rs_argv(flake, [("web1", None)], DeployRsOptions())


@pytest.mark.parametrize("value", [-1, 65536, True, 1.5])
def test_timeouts_must_be_u16(value):
    with pytest.raises(UserError, match="confirm-timeout"):
        deploy_rs_argv(".", [("a", None)], DeployRsOptions(confirm_timeout=value))


def test_dry_activate_and_boot_are_refused():
    with pytest.raises(UserError, match="cannot be combined"):
        deploy_rs_argv(".", [("a", None)], DeployRsOptions(dry_activate=True, boot=True))


def test_program_override():
    assert deploy_rs_argv(".", [("a", None)], DeployRsOptions(), program="/opt/deploy")[0] == "/opt/deploy"


def _host(user="deploy", raw_opts=("-p", "2222", "-oControlMaster=no"), name="web1"):
    return Host(name=name, hostname="10.0.0.1",
                ssh=SshTarget(hostname="10.0.0.1", user=user, port=2222, raw_opts=tuple(raw_opts)),
                profiles=(Profile(name="system", ssh_user=user, user="root"),), method="nixos-rebuild")


def test_nixos_rebuild_switch_with_sudo_and_sshopts():
    argv, env = nixos_rebuild_command(".", _host(), "switch")
    assert argv == ["nixos-rebuild", "switch", "--flake", ".#web1", "--target-host", "deploy@10.0.0.1",
                    "--use-remote-sudo"]
    assert env == {"NIX_SSHOPTS": "-p 2222 -oControlMaster=no"}


def test_nixos_rebuild_as_root_needs_no_sudo_and_no_env():
    argv, env = nixos_rebuild_command("/srv/lab", _host(user="root", raw_opts=()), "boot")
    assert argv == ["nixos-rebuild", "boot", "--flake", "/srv/lab#web1", "--target-host", "root@10.0.0.1"]
    assert env == {}


def test_nixos_rebuild_takes_the_jump_host_from_labtui_toml():
    host = _host()
    host = Host(name=host.name, hostname=host.hostname, profiles=host.profiles, method=host.method,
                ssh=SshTarget(hostname="10.0.0.1", user="deploy", port=2222, jump_hosts=("root@bastion",),
                              raw_opts=("-p", "2222")))
    _, env = nixos_rebuild_command(".", host, "switch")
    assert env == {"NIX_SSHOPTS": "-p 2222 -J root@bastion"}


def test_nixos_rebuild_options():
    opts = NixosRebuildOptions(use_remote_sudo=False, build_host="builder", show_trace=True,
                               extra_args=["--option", "eval-cache", "false"])
    argv, _ = nixos_rebuild_command(".", _host(), "dry-activate", opts)
    assert argv == ["nixos-rebuild", "dry-activate", "--flake", ".#web1", "--target-host", "deploy@10.0.0.1",
                    "--build-host", "builder", "--show-trace", "--option", "eval-cache", "false"]


def test_nixos_rebuild_validation():
    with pytest.raises(UserError, match="not supported"):
        nixos_rebuild_command(".", _host(), "build-vm")
    with pytest.raises(UserError, match="starts with `-`"):
        nixos_rebuild_command(".", _host(name="-oops"), "switch")
    with pytest.raises(UserError, match="NIX_SSHOPTS"):
        nixos_rebuild_command(".", _host(raw_opts=["-oProxyCommand=ssh -W %h:%p jump"]), "test")


def test_values_starting_with_dash_are_refused_except_ssh_opts():
    with pytest.raises(UserError, match="starts with `-`"):
        deploy_rs_argv(".", [("a", None)], DeployRsOptions(hostname="-oProxyCommand=x"))
    argv = deploy_rs_argv(".", [("a", None)], DeployRsOptions(ssh_opts="-p 22"))
    assert argv[argv.index("--ssh-opts") + 1] == "-p 22"  # clap allows hyphen values there
