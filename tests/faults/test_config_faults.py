"""Issue 11 point 8: a hostile or clumsy labtui.toml gives one line with the file and the line, never a traceback.

Deep nesting is refused before tomllib recurses (2000 levels were a RecursionError); every number has bounds
(TOML reads `nan`, `inf` and `1e308` as numbers: a poll interval of nan stopped polling silently).
"""

from __future__ import annotations

import textwrap

import pytest

from labtui.cli.common import config_schema
from labtui.errors import ConfigError
from labtui.inventory.config import parse_config
from labtui.inventory.schema import Param
from labtui.ops.checks import CHECK_KINDS
from tests.faults.harness import assert_one_line_error, run_cli
from tests.support import require_tool


def refused(tmp_path, text: str) -> str:
    path = tmp_path / "labtui.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        parse_config(path, config_schema())
    message = error.value.message
    assert str(path) in message and "\n" not in message
    return message


@pytest.mark.parametrize("text, line", [
    ("x = " + "[" * 2000 + "]" * 2000 + "\n", 1),
    ("[defaults]\npoll_interval = 5\ny = " + "[" * 100000 + "\n", 3),
    ("a = 1\n" + "z = " + "{ a = " * 500 + "1" + " }" * 500 + "\n", 2),
])
def test_deep_nesting_is_one_line_naming_the_line(tmp_path, text, line):
    message = refused(tmp_path, text)
    assert f"line {line} nests arrays or inline tables more than" in message


def test_brackets_in_strings_and_comments_are_not_nesting(tmp_path):
    path = tmp_path / "labtui.toml"
    path.write_text('# ' + "[" * 500 + '\n[hosts.web1]\ntags = ["a"]\n[[hosts.web1.checks]]\nkind = "command"\n'
                    'command = "echo ' + "[" * 500 + '"\n')
    config = parse_config(path, config_schema())
    assert config.hosts["web1"].checks[0]["params"]["command"].startswith("echo [[[")


NUMBERS = [
    ("[defaults]\npoll_interval = {}\n", ["nan", "inf", "-inf", "1e308", "0", "-1", "86401"], "poll_interval"),
    ("[hosts.web1]\npoll_interval = {}\n", ["nan", "+inf"], "poll_interval"),
    ('[[hosts.web1.checks]]\nkind = "memory"\nperiod = {}\n', ["nan", "inf", "1e308", "0"], "period"),
    ('[[hosts.web1.checks]]\nkind = "memory"\ntimeout = {}\n', ["nan", "-inf", "1e308"], "timeout"),
    ('[[hosts.web1.checks]]\nkind = "memory"\nretries = {}\n', ["100000000000", "-1", "101"], "retries"),
    ("[deploy]\nparallel = {}\n", ["0", "1000000000", "-5"], "parallel"),
    ('[[hosts.web1.checks]]\nkind = "memory"\nmax_percent = {}\n', ["nan", "inf", "1e308", "101"], "max_percent"),
    ('[[hosts.web1.checks]]\nkind = "disk"\nmax_percent = {}\n', ["nan", "-inf"], "max_percent"),
    ('[[hosts.web1.checks]]\nkind = "load"\nmax_per_cpu = {}\n', ["nan", "inf", "1e308", "0"], "max_per_cpu"),
    ('[[hosts.web1.checks]]\nkind = "http"\nurl = "http://x/"\nstatus = {}\n', ["1000", "99", "-1"], "status"),
    ('[[hosts.web1.checks]]\nkind = "tcp"\nport = {}\n', ["0", "65536", "100000000000"], "port"),
]


@pytest.mark.parametrize("template, value, key", [(t, v, k) for t, values, k in NUMBERS for v in values])
def test_every_number_has_bounds(tmp_path, template, value, key):
    message = refused(tmp_path, template.format(value))
    assert message.startswith(f"`{key}` in ") and " line " in message, message


def test_numbers_within_bounds_are_taken(tmp_path):
    path = tmp_path / "labtui.toml"
    path.write_text(textwrap.dedent("""\
        [defaults]
        poll_interval = 0.5
        [deploy]
        parallel = 1000
        [[hosts.web1.checks]]
        kind = "load"
        max_per_cpu = 1e3
        period = 3600
        timeout = 0.01
        retries = 100
    """))
    config = parse_config(path, config_schema())
    assert config.defaults.poll_interval == 0.5 and config.deploy.parallel == 1000


def test_a_numeric_check_parameter_cannot_be_declared_without_bounds():
    with pytest.raises(TypeError, match="bounds"):
        Param((int,), 3)
    for kind in CHECK_KINDS:
        for name, param in kind.params.items():
            if int in param.types or float in param.types:
                assert param.bounds is not None, (kind.name, name)


FLAKE = textwrap.dedent("""\
    {
      outputs = { self }:
        let
          system = "x86_64-linux";
          mk = name: derivation { inherit name system; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; };
        in {
          deploy.nodes.web1 = { hostname = "web1.lan"; profiles.system = { path = mk "web1"; user = "root"; }; };
        };
    }
""")


@pytest.mark.integration
@pytest.mark.parametrize("config, needle", [
    ("x = " + "[" * 2000 + "]" * 2000 + "\n", "line 1 nests arrays"),
    ("[defaults]\npoll_interval = nan\n", "`poll_interval` in [defaults]"),
    ('[[hosts.web1.checks]]\nkind = "memory"\nretries = 100000000000\n', "must be between 0 and 100"),
])
def test_the_cli_reports_a_bad_config_in_one_line(tmp_path, config, needle):
    require_tool("nix", "labtui reads the flake before labtui.toml")
    flake = tmp_path / "flake"
    flake.mkdir()
    (flake / "flake.nix").write_text(FLAKE)
    (flake / "labtui.toml").write_text(config)
    for verb in (["hosts"], ["status", "--no-drift"]):
        assert_one_line_error(run_cli(["--flake", str(flake), *verb]), 2, needle, str(flake / "labtui.toml"))
