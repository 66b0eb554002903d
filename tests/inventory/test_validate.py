"""Names that could inject into a shell or ssh argument are refused, showing the value (no nix)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labtui.errors import ConfigError
from labtui.inventory.validate import check_hostname, check_jump_hosts, check_name, check_user, split_jump_host

BAD = ["web1; rm -rf /", "a b", "`id`", "$(id)", "a|b", "a&b", "a'b", 'a"b', "a\nb", "-oProxyCommand=x", ""]


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize("check", [check_name, check_user, check_hostname])
def test_dangerous_values_are_refused_and_shown(check, value) -> None:
    with pytest.raises(ConfigError) as info:
        check("host name", value, "(deploy.nodes.x)")
    assert repr(value) in info.value.message and "(deploy.nodes.x)" in info.value.message
    assert "\n" not in info.value.message


def test_reason_names_the_character() -> None:
    with pytest.raises(ConfigError, match="contains `;`"):
        check_name("node name", "a;b", "")
    with pytest.raises(ConfigError, match="starts with `-`"):
        check_user("ssh user", "-root", "")


@pytest.mark.parametrize("value", ["web1", "example.com", "home.nix", "web_1", "db-2"])
def test_names_people_use(value) -> None:
    assert check_name("profile name", value, "") == value


@pytest.mark.parametrize("value", ["web1.lan", "10.0.0.1", "fe80::1", "[fe80::1%eth0]", "fqdn.example.com."])
def test_hostnames(value) -> None:
    assert check_hostname("host name", value, "") == value


def test_jump_hosts() -> None:
    assert check_jump_hosts("root@bastion:22,jump2", "") == ("root@bastion:22", "jump2")
    assert split_jump_host("ssh://u@[fe80::1]:2022") == ("u", "[fe80::1]", 2022)
    for bad in ["root@bastion:port", "-J x", "a;b", "u@", "host:0"]:
        with pytest.raises(ConfigError):
            check_jump_hosts(bad, "([defaults] of x)")


@given(st.text(min_size=1, max_size=20))
def test_accepted_names_are_shell_inert(value) -> None:
    try:
        check_name("node name", value, "")
    except ConfigError:
        return
    assert not value.startswith("-")
    assert not set(value) & set(" \t\n;`$|&'\"\\<>(){}*?!#~")
