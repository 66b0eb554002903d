"""`labtui completion bash|zsh|fish` and the man page, generated from the parser (issue 13 point 7)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labtui.cli import completion, manpage
from labtui.cli.main import VERBS, main
from labtui.cli.parserspec import cli_spec
from labtui.deploy.methods import METHODS
from labtui.inventory.cache import JsonCache
from labtui.inventory.flakeref import resolve_flake
from tests.support import require_tool

BIN = Path(sys.executable).parent  # the venv's bin: `labtui` for the scripts' `labtui _complete hosts`


@pytest.fixture(scope="module")
def spec():
    return cli_spec()


def test_the_spec_has_every_verb_option_and_choice(spec):
    assert [v.name for v in spec.verbs] == list(VERBS)
    deploy = spec.verb("deploy")
    method = next(o for o in deploy.options if "--method" in o.flags)
    assert method.value == "choice" and "deploy-rs" in method.choices and "nixos-rebuild" in method.choices
    assert deploy.positionals[0].value == "host" and deploy.positionals[0].repeated
    assert spec.verb("parse-log").positionals[0].value == "file"
    assert spec.verb("completion").positionals[0].choices == ("bash", "zsh", "fish")
    assert next(o for o in spec.options if "--color" in o.flags).choices == ("auto", "always", "never")


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_each_script_names_every_verb_and_option(spec, shell, capsys):
    assert main(["completion", shell]) == 0
    text = capsys.readouterr().out
    for verb in spec.verbs:
        assert verb.name in text
        for option in verb.options:
            long = [f for f in option.flags if f.startswith("--")][0]
            assert (long if shell != "fish" else f"-l {long[2:]}") in text, (verb.name, long)


@pytest.mark.parametrize("shell", completion.SHELLS)
def test_each_script_is_valid_for_its_shell(shell):
    tool = require_tool(shell, f"checks the syntax of the {shell} completion script")
    proc = subprocess.run([tool, "-n"], input=completion.script(shell), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def cached_fleet(tmp_path):
    """A flake directory whose evaluation is in labtui's cache (as after any `labtui` run there)."""
    flake = tmp_path / "lab"
    flake.mkdir()
    (flake / "flake.nix").write_text("{ outputs = _: { }; }\n")
    JsonCache("flake-eval", resolve_flake(str(flake))).store("any", {"nixosConfigurations": ["web1", "web2", "db1"]})
    return flake


def bash_complete(line: str, cwd: Path) -> list[str]:
    """What bash offers for `line` (the cursor at its end), through the generated script."""
    words = line.split(" ")
    script = completion.script("bash") + (
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; _labtui\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([shutil.which("bash") or "bash", "-c", script], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


def test_bash_completes_verbs_options_choices_and_hosts(cached_fleet, tmp_path):
    assert bash_complete("labtui dep", tmp_path) == ["deploy"]
    assert "--method" in bash_complete("labtui deploy --me", tmp_path)
    assert bash_complete("labtui deploy --method ", tmp_path) == list(METHODS.names())
    assert bash_complete("labtui --color n", tmp_path) == ["never"]
    assert bash_complete("labtui history --fl", tmp_path) == []  # history reads no flake
    assert bash_complete("labtui completion ", tmp_path) == ["bash", "zsh", "fish"]
    # Host names come from the cache of the flake in the working directory, or of --flake.
    assert bash_complete("labtui deploy web", cached_fleet) == ["web1", "web2"]
    assert bash_complete(f"labtui --flake {cached_fleet} status --timeout 5 ", tmp_path) == ["db1", "web1", "web2"]
    assert bash_complete("labtui logs web1 ", cached_fleet) == []  # logs takes one host
    assert bash_complete("labtui deploy web", tmp_path) == []  # no flake here: nothing, no error


def test_fish_completes_verbs_choices_and_hosts(cached_fleet, tmp_path):
    fish = require_tool("fish", "runs the fish completion script")
    script = tmp_path / "labtui.fish"
    script.write_text(completion.script("fish"))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}

    def offered(line: str, cwd: Path) -> list[str]:
        proc = subprocess.run([fish, "--no-config", "-c", f"source {script}; complete -C'{line}'"], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return [row.split("\t")[0] for row in proc.stdout.splitlines()]

    assert offered("labtui dep", tmp_path) == ["deploy"]
    assert offered("labtui deploy --method ", tmp_path) == sorted(METHODS.names())  # fish sorts
    assert offered("labtui deploy ", cached_fleet) == ["db1", "web1", "web2"]


def test_complete_hosts_never_runs_nix(cached_fleet, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "")  # no nix, no git: the cache alone answers
    monkeypatch.chdir(cached_fleet)
    assert main(["_complete", "hosts"]) == 0
    assert capsys.readouterr().out.split() == ["db1", "web1", "web2"]


def test_the_man_page_documents_every_verb_and_option(spec, capsys):
    assert main(["_manpage"]) == 0
    page = capsys.readouterr().out
    assert page.startswith(".TH LABTUI 1 ")
    for verb in spec.verbs:
        assert f".SS \\fB{manpage.esc(verb.name)}\\fR" in page
        for option in verb.options:
            assert manpage.esc(option.flags[-1]) in page
        for command, _ in verb.examples:
            assert manpage.esc(command) in page
    for section in ("NAME", "SYNOPSIS", "OPTIONS", "VERBS", "EXAMPLES", "EXIT STATUS", "ENVIRONMENT", "FILES"):
        assert f".SH {section}\n" in page


def test_the_man_page_renders_without_warnings(tmp_path):
    groff = require_tool("groff", "renders the man page to check it")
    page = tmp_path / "labtui.1"
    page.write_text(manpage.render(cli_spec()))
    proc = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", str(page)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr


def test_the_generated_texts_carry_no_machine_specific_data(spec):
    for text in (*(completion.script(s, spec) for s in completion.SHELLS), manpage.render(spec)):
        assert os.path.expanduser("~") not in text and str(Path.cwd()) not in text
        json.dumps(text)  # plain text
