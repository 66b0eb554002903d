"""Issue 11 point 2, and injection attempts on every argument that reaches a remote command.

Each value an operator or a flake can give that ends up in a command run on a host is tried with shell syntax
in it. It is either refused before anything runs (one line, exit 2, the host received nothing) or it reaches the
host as data: the command the host received, split as its shell splits it, holds the value as one argument.
"""

from __future__ import annotations

import shlex
import textwrap

import pytest

from labtui.errors import ConfigError
from labtui.inventory.merge import build_hosts
from labtui.inventory.model import CheckSpec, Host, Profile, SshTarget
from labtui.ops.privilege import privilege_for
from labtui.sim.state import SimLab
from tests.faults.harness import assert_no_traceback, assert_one_line_error, run_cli, use_fleet
from tests.ops.conftest import sim_host
from tests.support import require_tool
from tests.support.asyncssh_server import lab_handler

PWN = "touch /tmp/labtui-pwned;"


@pytest.fixture
def recorded(hostile_hosts, monkeypatch, tmp_path):
    """web1, answering as the simulated lab and recording every command it receives."""
    lab = SimLab(tmp_path / "lab")
    lab.save(sim_host("web1"))

    def start(**host_fields):
        from dataclasses import replace

        host = replace(hostile_hosts.start("web1", lab_handler(lab, "web1")), **host_fields)
        use_fleet(monkeypatch, hostile_hosts.inventory(host))
        return lambda: hostile_hosts.commands("web1")

    return start


def _inner(command: str) -> list[str]:
    """The argv of `exec journalctl ...` inside `/bin/sh -c SCRIPT` (what the host's shell runs)."""
    outer = shlex.split(command)
    assert outer[:2] == ["/bin/sh", "-c"], outer
    script = outer[2]
    return shlex.split(script.split("exec ", 1)[1].removesuffix(" 2>&1"))


@pytest.mark.parametrize("argv, needle", [
    (["logs", "web1", "-u", f"x;{PWN}"], "is not a unit name"),
    (["logs", "web1", "--unit=--output=cat"], "is not a unit name"),
    (["logs", "web1", "--since", f"-1h;{PWN}"], "is not a time journalctl understands"),
    (["logs", "web1", "--since", "$(id)"], "is not a time journalctl understands"),
    (["logs", "web1", "-p", f"err;{PWN}"], "priority"),
    (["logs", f"web1;{PWN}"], "web1"),
    (["generations", f"web1`{PWN}`"], "web1"),
])
def test_refused_before_anything_runs(recorded, argv, needle):
    commands = recorded()
    assert_one_line_error(run_cli(argv), 2, needle)
    assert commands() == []


@pytest.mark.parametrize("argv", [
    ["logs", "web1", "-n", "5;reboot"],
    ["generations", "web1", "--diff", "1;reboot", "2"],
    ["rollback", "web1", "--to", "$(reboot)", "--yes"],
])
def test_numbers_are_numbers(recorded, argv):
    commands = recorded()
    result = run_cli(argv)
    assert_no_traceback(result)
    assert result.code == 2 and "invalid int value" in result.err
    assert commands() == []


def test_values_that_pass_reach_the_host_as_one_argument_each(recorded):
    commands = recorded()
    result = run_cli(["logs", "web1", "-u", "nginx*", "-u", "x@[a]-?.service", "--since", "2026-11-26 10:00",
                      "-p", "err", "-n", "3"])
    assert_no_traceback(result)
    argv = _inner(commands()[-1])
    assert "--unit=nginx*" in argv and "--unit=x@[a]-?.service" in argv
    assert "--since=2026-11-26 10:00" in argv and "--priority=3" in argv and "--lines=3" in argv


def test_a_check_path_reaches_the_host_quoted(recorded):
    check = CheckSpec(kind="disk", name="disk", params={"mount": f"/;{PWN}", "max_percent": 90}, period=0.1,
                      timeout=5, retries=0)
    commands = recorded(checks=(check,))
    assert_no_traceback(run_cli(["check", "web1"]))
    assert shlex.split(commands()[-1]) == ["df", "-Pk", "--", f"/;{PWN}"]


def test_a_check_unit_with_shell_syntax_is_refused(recorded):
    check = CheckSpec(kind="unit", name="u", params={"unit": f"nginx;{PWN}"}, period=0.1, timeout=5, retries=0)
    commands = recorded(checks=(check,))
    assert_one_line_error(run_cli(["check", "web1"]), 2, "is not a systemd unit name")
    assert commands() == []


# ---- the flake's `sudo` (point 2) ----------------------------------------------------------------------------


def _flake(sudo: str) -> dict:
    level = {"settings": {"hostname": "h.lan", "sshUser": "deploy", "sudo": sudo}, "unknown": [],
             "profiles": {"system": {"settings": {"user": "root"}, "unknown": [], "hasPath": True}}}
    return {"deploy": {"settings": {}, "unknown": [], "nodes": {"web1": level}}, "nixosConfigurations": None}


@pytest.mark.parametrize("sudo", [PWN, "sudo -u; reboot", "sudo $(reboot) -u", "sudo\n-u", "sudo -u `x`",
                                  "touch /tmp/x", "-u", "", "sudo  -u", "sudo -u 'root'", "sudo\x1b[2J -u"])
def test_a_flake_sudo_that_is_not_a_program_and_options_is_refused(sudo):
    with pytest.raises(ConfigError) as refused:
        build_hosts(_flake(sudo), "me")
    message = refused.value.message
    assert "web1" in message and repr(sudo) in message and "\n" not in message


@pytest.mark.parametrize("sudo, prefix", [
    ("sudo -u", ["sudo", "-u", "root"]),
    ("doas -u", ["doas", "-u", "root"]),
    ("/run/wrappers/bin/sudo -E -u", ["/run/wrappers/bin/sudo", "-E", "-u", "root"]),
    ("sudo --preserve-env=PATH -u", ["sudo", "--preserve-env=PATH", "-u", "root"]),
])
def test_a_plain_sudo_is_accepted_and_quoted_word_by_word(sudo, prefix):
    (host,), _ = build_hosts(_flake(sudo), "me")
    command = privilege_for(host).wrap("nix-env --rollback && echo ok")
    assert shlex.split(command) == [*prefix, "/bin/sh", "-c", "nix-env --rollback && echo ok"]


def test_privilege_refuses_a_bad_sudo_on_a_host_built_elsewhere():
    profile = Profile(name="system", ssh_user="deploy", user="root", sudo=PWN)
    host = Host(name="web1", hostname="h.lan", ssh=SshTarget(hostname="h.lan", user="deploy"), profiles=(profile,))
    with pytest.raises(ConfigError, match="web1"):
        privilege_for(host)


# ---- Colmena's privilegeEscalationCommand (point 2, the same rule for the other method) --------------------------


def _colmena_hive(command: object) -> dict:
    node = {"settings": {"targetHost": "h.lan", "targetUser": "ops", "privilegeEscalationCommand": command},
            "unresolved": []}
    return {"nodes": {"web1": node}}


@pytest.mark.parametrize("command", [["sudo", "-H", "--", ";", "reboot"], ["sudo", "$(reboot)"], ["sudo\nreboot"],
                                     ["-u", "sudo"], ["touch /tmp/x;"], ["sudo", "`x`"], [], ["sudo", "\x1b[2J"]])
def test_a_colmena_privilege_command_that_is_not_a_program_and_words_is_refused(command):
    from labtui.inventory.colmena import build_colmena_hosts

    with pytest.raises(ConfigError) as refused:
        build_colmena_hosts(_colmena_hive(command), "colmena")
    message = refused.value.message
    assert "web1" in message and "privilegeEscalationCommand" in message and "\n" not in message
    assert "\x1b" not in message


@pytest.mark.parametrize("command", [("sudo", "-H", "--"), ("doas",), ("/run/wrappers/bin/sudo", "-u", "root", "--")])
def test_a_plain_colmena_privilege_command_is_quoted_word_by_word(command):
    from dataclasses import replace

    from labtui.inventory.colmena import build_colmena_hosts

    (host,), _ = build_colmena_hosts(_colmena_hive(list(command)), "colmena")
    assert host.colmena is not None and host.colmena.privilege_escalation_command == command
    wrapped = privilege_for(host).wrap("nix-env --rollback && echo ok")
    assert shlex.split(wrapped) == [*command, "/bin/sh", "-c", "nix-env --rollback && echo ok"]
    # A host built elsewhere (not from the hive) is checked when its command is used.
    bad = replace(host, colmena=replace(host.colmena, privilege_escalation_command=("sudo", ";reboot")))
    with pytest.raises(ConfigError, match="web1"):
        privilege_for(bad)
    empty = replace(host, colmena=replace(host.colmena, privilege_escalation_command=()))
    with pytest.raises(ConfigError, match="non-empty"):
        privilege_for(empty)


FLAKE = textwrap.dedent("""\
    {
      outputs = { self }:
        let
          system = "x86_64-linux";
          mk = name: derivation { inherit name system; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; };
        in {
          deploy.nodes.web1 = {
            hostname = "127.0.0.1"; sshUser = "lab"; sshOpts = [ "-p" "@PORT@" ]; sudo = "@SUDO@";
            profiles.system = { path = mk "web1"; user = "root"; };
          };
        };
    }
""")


@pytest.mark.integration
@pytest.mark.parametrize("sudo", [PWN, "doas -u"])
def test_rollback_with_the_flakes_sudo(hostile_hosts, tmp_path, sudo):
    """The issue's case, end to end with a real flake: `sudo = "touch /tmp/x;"` never reaches the host."""
    require_tool("nix", "the flake is evaluated by nix")
    lab = SimLab(tmp_path / "lab")
    lab.save(sim_host("web1"))
    host = hostile_hosts.start("web1", lab_handler(lab, "web1"))
    flake = tmp_path / "flake"
    flake.mkdir()
    (flake / "flake.nix").write_text(FLAKE.replace("@PORT@", str(host.ssh.port)).replace("@SUDO@", sudo))
    result = run_cli(["rollback", "web1", "--yes", "--flake", str(flake)])
    if sudo == PWN:
        assert_one_line_error(result, 2, "refusing sudo", repr(PWN), "web1")
        assert hostile_hosts.commands("web1") == []
    else:
        assert_no_traceback(result)
        switch = [c for c in hostile_hosts.commands("web1") if "--switch-generation" in c]
        assert switch and shlex.split(switch[0])[:5] == ["doas", "-u", "root", "/bin/sh", "-c"]


@pytest.mark.parametrize("node, settings, profile_user, needle", [
    ("web1", {"hostname": "-oProxyCommand=touch /tmp/x"}, "root", "host name"),
    ("web1", {"hostname": "h.lan;reboot"}, "root", "host name"),
    ("web1", {"hostname": "h.lan", "sshUser": "root$(reboot)"}, "root", "ssh user"),
    ("web1", {"hostname": "h.lan"}, "root `reboot`", "profile user"),
    ("web1;reboot", {"hostname": "h.lan"}, "root", "node name"),
    ("-web1", {"hostname": "h.lan"}, "root", "node name"),
])
def test_a_malformed_flake_is_refused_in_one_line(node, settings, profile_user, needle):
    level = {"settings": settings, "unknown": [],
             "profiles": {"system": {"settings": {"user": profile_user}, "unknown": [], "hasPath": True}}}
    data = {"deploy": {"settings": {}, "unknown": [], "nodes": {node: level}}, "nixosConfigurations": None}
    with pytest.raises(ConfigError) as refused:
        build_hosts(data, "me")
    assert needle in refused.value.message and "\n" not in refused.value.message
