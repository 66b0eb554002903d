"""Every verb's --help has examples and an exit-status section, every positional has help, and --flake/
--config appear only where a verb reads a flake (issue 13 point 7; the rule: docs/extending.md)."""

from __future__ import annotations

import argparse
import importlib

import pytest

from labtui.cli import main as cli_main
from labtui.cli.parserspec import subparsers
from labtui.errors import EXIT_USAGE


def verb_help(verb: str) -> str:
    parser, _ = cli_main.build_parser(verb)
    return subparsers(parser)[verb].format_help()


@pytest.mark.parametrize("verb", list(cli_main.VERBS))
def test_every_verb_has_examples_and_exit_status(verb):
    module = importlib.import_module(cli_main.VERBS[verb][0])
    examples, status = getattr(module, "EXAMPLES", ()), getattr(module, "EXIT_STATUS", {})
    assert examples, f"{module.__name__} has no EXAMPLES (see docs/extending.md, 'A CLI verb')"
    assert 0 in status, f"{module.__name__}'s EXIT_STATUS does not say what 0 means"
    text = verb_help(verb)
    assert "\nexamples:\n" in text and "\nexit status:\n" in text
    for command, what in examples:
        assert "labtui" in command and verb in command.split(), f"an example of {verb} runs another verb"
        assert command in text and what in text
    for code in (0, 2, 130):
        assert f"\n  {code:<4} " in text


@pytest.mark.parametrize("verb", list(cli_main.VERBS))
def test_every_positional_has_help(verb):
    parser, _ = cli_main.build_parser(verb)
    for action in subparsers(parser)[verb]._actions:
        if not action.option_strings:
            assert action.help and action.help != argparse.SUPPRESS, f"`labtui {verb}`: {action.dest} has no help"


def test_the_top_level_help_has_examples_and_exit_status(capsys):
    with pytest.raises(SystemExit):
        cli_main.main(["--help"])
    out = capsys.readouterr().out
    assert "examples:\n  labtui\n" in out and "exit status:\n  0    all is well" in out


@pytest.mark.parametrize("verb", list(cli_main.VERBS))
def test_flake_and_config_only_where_they_mean_something(verb):
    parser, _ = cli_main.build_parser(verb)
    flags = {flag for action in subparsers(parser)[verb]._actions for flag in action.option_strings}
    reads_flake = verb not in cli_main.NO_FLAKE_VERBS
    assert ("--flake" in flags, "--config" in flags) == (reads_flake, reads_flake)
    assert "--color" in flags


def test_no_flake_verbs_read_no_flake():
    """The verbs said to read none really never load the inventory."""
    for verb in cli_main.NO_FLAKE_VERBS:
        source = importlib.import_module(cli_main.VERBS[verb][0]).__file__
        assert source is not None
        with open(source) as f:
            text = f.read()
        assert "load_inventory" not in text and "run_over_ssh" not in text, verb


def test_flake_before_the_verb_is_global_after_it_only_where_it_means_something(capsys):
    """`alias lab='labtui --flake ~/lab'` works for every verb; `labtui history --flake X` is a usage error."""
    assert cli_main.main(["--flake", ".", "history"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli_main.main(["history", "--flake", "."])
    assert exit_.value.code == EXIT_USAGE
    assert "unrecognized arguments: --flake" in capsys.readouterr().err
