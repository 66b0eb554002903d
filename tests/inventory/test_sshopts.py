"""sshOpts parsing (no nix): every form OpenSSH accepts, first-wins semantics, and a round-trip property."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labtui.errors import ConfigError
from labtui.inventory.model import SshTarget
from labtui.inventory.sshopts import parse_ssh_opts, split_option


@pytest.mark.parametrize("opts, port", [
    (["-p", "2222"], 2222), (["-p2222"], 2222), (["-o", "Port=2201"], 2201), (["-oPort=2202"], 2202),
    (["-o", "Port 2203"], 2203), (["-o", "port = 2204"], 2204), (["-Cp2205"], 2205), (["-A", "-p", "2206"], 2206),
    (["-p", "1", "-p", "2"], 1), (["-o", "Port=3", "-p", "4"], 3),
])
def test_port_forms(opts, port) -> None:
    assert parse_ssh_opts(opts).port == port


def test_every_modelled_flag() -> None:
    parsed = parse_ssh_opts(["-l", "bob", "-i", "/k1", "-i/k2", "-J", "a@j1:22,j2", "-F", "/cfg",
                             "-o", "IdentityFile=/k3", "-oUser=ignored", "-t", "-oStrictHostKeyChecking=no"])
    assert parsed.user == "bob"
    assert parsed.identity_files == ["/k1", "/k2", "/k3"]
    assert parsed.jump_hosts == ["a@j1:22", "j2"]
    assert parsed.config_file == "/cfg"
    assert parsed.options == [("IdentityFile", "/k3"), ("User", "ignored"), ("StrictHostKeyChecking", "no")]
    assert parsed.other == ["-t"]


def test_proxyjump_option_and_none() -> None:
    assert parse_ssh_opts(["-o", "ProxyJump=bastion"]).jump_hosts == ["bastion"]
    assert parse_ssh_opts(["-J", "none"]).jump_hosts == []


def test_other_valued_flags_are_kept_in_order() -> None:
    assert parse_ssh_opts(["-L", "8080:localhost:80", "-c", "aes256-ctr"]).other == [
        "-L", "8080:localhost:80", "-c", "aes256-ctr"]


@pytest.mark.parametrize("opts, message", [
    (["-p"], "`-p` has no value"),
    (["-p", "http"], "bad ssh port 'http'"),
    (["-p", "70000"], "bad ssh port '70000'"),
    (["-o"], "`-o` has no value"),
    (["-o", "Port"], "is not Key=Value"),
    (["-Z"], "unknown ssh option `-Z`"),
])
def test_bad_opts_are_config_errors(opts, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_ssh_opts(opts, "(deploy.nodes.web1)")


def test_split_option() -> None:
    assert split_option("Key=Value") == ("Key", "Value")
    assert split_option("Key Value with spaces") == ("Key", "Value with spaces")
    assert split_option(" Key = V ") == ("Key", "V")


def test_tool_opts_add_a_jump_host_from_labtui_toml_only() -> None:
    from_config = SshTarget("h", jump_hosts=("bastion",), raw_opts=("-p", "22"))
    assert from_config.tool_opts() == ("-p", "22", "-J", "bastion")
    from_flake = SshTarget("h", jump_hosts=("bastion",), raw_opts=("-J", "bastion"))
    assert from_flake.tool_opts() == ("-J", "bastion")


names = st.from_regex(r"[a-z][a-z0-9_.-]{0,12}", fullmatch=True)
ports = st.integers(min_value=1, max_value=65535)


@given(port=ports, user=names, keys=st.lists(st.from_regex(r"/[a-z]{1,8}", fullmatch=True), max_size=3),
       jumps=st.lists(names, max_size=3), glued=st.booleans(), as_option=st.booleans())
def test_round_trip(port, user, keys, jumps, glued, as_option) -> None:
    def flag(letter: str, value: str) -> list[str]:
        return [f"-{letter}{value}"] if glued else [f"-{letter}", value]

    opts = ["-o", f"Port={port}"] if as_option else flag("p", str(port))
    opts += flag("l", user)
    for key in keys:
        opts += flag("i", key)
    if jumps:
        opts += flag("J", ",".join(jumps))
    parsed = parse_ssh_opts(opts)
    assert (parsed.port, parsed.user, parsed.identity_files, parsed.jump_hosts) == (port, user, keys, jumps)


@given(st.lists(st.text(max_size=12), max_size=6))
def test_arbitrary_input_parses_or_is_a_config_error(opts) -> None:
    try:
        parse_ssh_opts(opts)
    except ConfigError:
        pass
