"""`labtui init`: writes a valid labtui.toml for the flake's hosts, never overwrites without --force."""

from __future__ import annotations

import pytest

from labtui.cli.common import config_schema
from labtui.cli.main import main
from labtui.inventory.config import parse_config
from labtui.inventory.loader import load

pytestmark = pytest.mark.integration


def test_init_writes_a_config_that_loads(nix, flake_copy, monkeypatch, capsys) -> None:
    flake = flake_copy("fleet")
    monkeypatch.chdir(flake)
    assert main(["init"]) == 0
    out, err = capsys.readouterr()
    path = flake / "labtui.toml"
    assert f"wrote {path} with 4 hosts" in out and "Traceback" not in err
    config = parse_config(path, config_schema())
    assert sorted(config.hosts) == ["db1", "example.com", "legacy", "web1"]
    assert config.hosts["legacy"].method == "nixos-rebuild"
    inv = load(str(flake), schema=config_schema())
    assert inv.config_path == str(path) and inv.get("web1").sources["method"] == "labtui.toml"


def test_init_refuses_to_overwrite_without_force(nix, flake_copy, capsys) -> None:
    flake = flake_copy("nixos-only")
    (flake / "labtui.toml").write_text("# mine\n[hosts.broken\n")
    assert main(["--flake", str(flake), "init"]) == 2
    _, err = capsys.readouterr()
    assert "already exists; edit it, or pass --force" in err and "Traceback" not in err
    assert (flake / "labtui.toml").read_text() == "# mine\n[hosts.broken\n"
    # --force replaces it, even though the old file is not valid TOML (init does not read it)
    assert main(["--flake", str(flake), "init", "--force"]) == 0
    assert "[hosts.alpha]" in (flake / "labtui.toml").read_text()


def test_init_writes_to_config_path(nix, flake_copy, tmp_path, capsys) -> None:
    target = tmp_path / "elsewhere" / "lab.toml"
    assert main(["--flake", str(flake_copy("nixos-only")), "init", "--config", str(target)]) == 0
    assert sorted(parse_config(target, config_schema()).hosts) == ["alpha", "beta"]
