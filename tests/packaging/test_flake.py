"""labtui's own flake.nix and flake.lock (issue 13 points 2 and 3).

No nixpkgs can be fetched here, so the flake is evaluated against a stand-in (tests/packaging/stand-in-nixpkgs:
just what flake.nix uses, derivations that build in a moment and keep their arguments) passed with
`--override-input nixpkgs path:...`: `nix flake show` and `nix flake check` run for real, and what flake.nix
asks of nixpkgs (the dependency overrides, the wrapper's PATH, the checks) is read back. That the pinned
nixpkgs really builds it is checked where nixpkgs can be fetched (docs/install.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.packaging.nixpkgs_style import REPO
from tests.packaging.test_wheel import _tracked_copy
from tests.support import require_tool

STAND_IN = Path(__file__).resolve().parent / "stand-in-nixpkgs"
SYSTEMS = ["aarch64-darwin", "aarch64-linux", "x86_64-darwin", "x86_64-linux"]
NIX_CONFIG = "experimental-features = nix-command flakes\nsubstituters =\nsandbox = false"
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_flake_nix_parses() -> None:
    tool = require_tool("nix-instantiate", "checks that labtui's flake.nix parses")
    for path in (REPO / "flake.nix", REPO / "nix" / "home-manager.nix", STAND_IN / "flake.nix"):
        proc = subprocess.run([tool, "--parse", str(path)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr


def test_flake_lock_pins_nixos_unstable() -> None:
    lock = json.loads((REPO / "flake.lock").read_text())
    assert lock["version"] == 7 and lock["root"] == "root"
    assert lock["nodes"]["root"]["inputs"] == {"nixpkgs": "nixpkgs"}
    node = lock["nodes"]["nixpkgs"]
    assert node["original"] == {"owner": "NixOS", "ref": "nixos-unstable", "repo": "nixpkgs", "type": "github"}
    locked = node["locked"]
    assert (locked["type"], locked["owner"].lower(), locked["repo"]) == ("github", "nixos", "nixpkgs")
    assert re.fullmatch(r"[0-9a-f]{40}", locked["rev"])
    assert re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", locked["narHash"])
    assert isinstance(locked["lastModified"], int) and locked["lastModified"] > 1_700_000_000


def test_every_runtime_dependency_has_the_form_flake_nix_reads() -> None:
    """flake.nix reads the tested range of each dependency from pyproject.toml: `name>=floor,<ceiling`."""
    for spec in PROJECT["dependencies"]:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+>=[0-9.]+,<[0-9.]+", spec), spec


@pytest.fixture(scope="module")
def flake_copy(tmp_path_factory) -> Path:
    """The tracked tree (what `nix` copies of a git checkout), outside the checkout."""
    return _tracked_copy(tmp_path_factory.mktemp("flake") / "labtui")


def _stand_in(tmp_path: Path, **versions: str) -> Path:
    """The stand-in nixpkgs with these Python package versions (default: textual and asyncssh too old)."""
    target = tmp_path / "stand-in-nixpkgs"
    shutil.copytree(STAND_IN, target)
    pinned = {"textual": "6.2.1", "asyncssh": "2.21.1", "tomli-w": "1.2.0", **versions}
    (target / "versions.json").write_text(json.dumps(pinned))
    return target


def nix(*args: str, flake: Path, stand_in: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = require_tool("nix", "evaluates labtui's flake against a stand-in nixpkgs")
    *verb, last = args
    argv = [tool, *verb, "--no-write-lock-file", "--override-input", "nixpkgs", f"path:{stand_in}", last]
    argv = [a.replace("FLAKE", f"path:{flake}") for a in argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "NIX_CONFIG": NIX_CONFIG})


def test_nix_flake_show_lists_every_output(flake_copy, tmp_path) -> None:
    proc = nix("flake", "show", "--json", "FLAKE", flake=flake_copy, stand_in=_stand_in(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    outputs = json.loads(proc.stdout)
    for kind in ("packages", "apps", "checks", "devShells"):
        assert sorted(outputs[kind]) == SYSTEMS, kind
    assert sorted(outputs["packages"]["x86_64-linux"]) == ["default", "labtui"]
    assert outputs["packages"]["aarch64-darwin"]["labtui"]["name"] == f"labtui-{PROJECT['version']}"
    assert sorted(outputs["checks"]["x86_64-linux"]) == ["installed", "labtui"]
    assert outputs["apps"]["x86_64-linux"]["default"]["type"] == "app"
    assert "default" in outputs["overlays"] and "homeManagerModules" in outputs


def test_nix_flake_check_passes(flake_copy, tmp_path) -> None:
    proc = nix("flake", "check", "FLAKE", flake=flake_copy, stand_in=_stand_in(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "running flake checks" in proc.stderr


RECIPE = """p: {
  inherit (p) pname version pyproject pythonImportsCheck makeWrapperArgs doCheck pytestFlags disabledTestPaths
    postInstall preCheck;
  build-system = map (d: d.pname) p.build-system;
  checkInputs = map (d: d.pname) p.nativeCheckInputs;
  dependencies = map (d: {
    inherit (d) pname version;
    src = d.src.hash or d.src.url;
    changelog = d.meta.changelog or null;
    doCheck = d.doCheck or null;
  }) p.dependencies;
  meta = { inherit (p.meta) mainProgram description platforms; license = p.meta.license.spdxId; };
}"""


def recipe(flake: Path, stand_in: Path, cwd: Path) -> dict:
    proc = nix("eval", "--json", "--apply", RECIPE, "FLAKE#packages.x86_64-linux.labtui", flake=flake,
               stand_in=stand_in, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_package_recipe(flake_copy, tmp_path) -> None:
    out = recipe(flake_copy, _stand_in(tmp_path), tmp_path)
    assert (out["pname"], out["version"], out["pyproject"]) == ("labtui", PROJECT["version"], True)
    assert out["build-system"] == ["setuptools"]
    # Too old in this nixpkgs: the tested releases from PyPI, with their sdists' hashes; in range: nixpkgs'.
    deps = {d["pname"]: d for d in out["dependencies"]}
    assert [d["pname"] for d in out["dependencies"]] == ["textual", "asyncssh", "tomli-w"]
    assert deps["textual"]["version"] == "8.2.8" and deps["textual"]["src"].startswith("sha256-")
    assert deps["textual"]["changelog"].endswith("/v8.2.8/CHANGELOG.md")  # nixpkgs' own reads src.tag
    assert deps["asyncssh"]["version"] == "2.24.1" and deps["asyncssh"]["src"].startswith("sha256-")
    assert deps["tomli-w"] == {"pname": "tomli-w", "version": "1.2.0", "src": "nixpkgs' own source of tomli-w",
                               "changelog": None, "doCheck": None}
    assert deps["textual"]["doCheck"] is False and deps["asyncssh"]["doCheck"] is False  # labtui's suite tests them
    # The wrapper suffixes (the user's own tools win) openssh, git and deploy-rs.
    flag, var, sep, path = out["makeWrapperArgs"]
    assert (flag, var, sep) == ("--suffix", "PATH", ":")
    assert [p.rsplit("-", 1)[-1] for p in path.split(":")] == ["openssh/bin", "git/bin", "rs/bin"]
    assert "deploy-rs/bin" in path
    assert {"labtui.tui.app", "labtui.ssh.pool", "labtui.runs.supervisor"} <= set(out["pythonImportsCheck"])
    assert out["doCheck"] is True and out["pytestFlags"] == ["-m", "not integration"]
    assert {"pytestCheckHook", "pytest-asyncio", "hypothesis"} <= set(out["checkInputs"])
    assert "labtui --version" in out["preCheck"]
    for made in ("_manpage > labtui.1", "installManPage labtui.1", "completion bash", "completion zsh",
                 "completion fish"):
        assert made in out["postInstall"]
    assert out["meta"]["mainProgram"] == "labtui" and out["meta"]["license"] == "MIT"
    assert out["meta"]["description"] == PROJECT["description"]
    assert sorted(out["meta"]["platforms"]) == SYSTEMS


def test_dependencies_nixpkgs_has_in_range_are_nixpkgs_own(flake_copy, tmp_path) -> None:
    out = recipe(flake_copy, _stand_in(tmp_path, textual="8.3.1", asyncssh="2.25.0"), tmp_path)
    assert {d["pname"]: d["src"] for d in out["dependencies"]} == {
        "textual": "nixpkgs' own source of textual", "asyncssh": "nixpkgs' own source of asyncssh",
        "tomli-w": "nixpkgs' own source of tomli-w"}


def test_an_out_of_range_dependency_without_a_tested_release_fails_evaluation(flake_copy, tmp_path) -> None:
    """No pythonRelaxDeps: a floor nixpkgs does not meet fails the build with what to do."""
    proc = nix("eval", "--json", "--apply", RECIPE, "FLAKE#packages.x86_64-linux.labtui", flake=flake_copy,
               stand_in=_stand_in(tmp_path, **{"tomli-w": "1.0.0"}), cwd=tmp_path)
    assert proc.returncode != 0
    assert "nixpkgs has tomli-w 1.0.0; labtui needs >=1.2,<2: update the flake's nixpkgs input" in proc.stderr


HOME_MANAGER = r"""
let
  module = import %(module)s { self.packages.x86_64-linux.default = "labtui-package"; };
  lib = {
    mkEnableOption = what: { type = "bool"; description = what; };
    mkOption = o: o;
    types.package = "package";
    literalExpression = e: e;
    mkIf = condition: content: { _type = "if"; inherit condition content; };
  };
  pkgs = {
    stdenv.hostPlatform.system = "x86_64-linux";
    formats.toml = { }: { type = "toml"; generate = name: value: { inherit name value; }; };
  };
  evaluate = settings: module {
    inherit lib pkgs;
    config.programs.labtui = { enable = true; package = "labtui-package"; inherit settings; };
  };
  with_settings = evaluate { hosts.web1 = { tags = [ "prod" ]; critical = true; }; deploy.parallel = 2; };
in {
  options = builtins.attrNames with_settings.options.programs.labtui;
  default_package = with_settings.options.programs.labtui.package.default;
  enabled = with_settings.config.condition;
  packages = with_settings.config.content.home.packages;
  file = with_settings.config.content.xdg.configFile."labtui/config.toml";
  empty = (evaluate { }).config.content.xdg.configFile."labtui/config.toml".condition;
}
"""


def test_the_home_manager_module_writes_config_toml() -> None:
    """programs.labtui: the package, and settings as ~/.config/labtui/config.toml (only when there are some)."""
    tool = require_tool("nix-instantiate", "evaluates the Home Manager module")
    expr = HOME_MANAGER % {"module": REPO / "nix" / "home-manager.nix"}
    proc = subprocess.run([tool, "--eval", "--strict", "--json", "--expr", expr], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["options"] == ["enable", "package", "settings"]
    assert out["default_package"] == "labtui-package" and out["packages"] == ["labtui-package"]
    assert out["enabled"] is True and out["empty"] is False
    assert out["file"] == {"_type": "if", "condition": True, "content": {"source": {
        "name": "labtui-config.toml",
        "value": {"deploy": {"parallel": 2}, "hosts": {"web1": {"critical": True, "tags": ["prod"]}}}}}}


def test_the_documented_home_manager_settings_are_a_valid_config(tmp_path) -> None:
    """The settings example of docs/install.md (and of the module) is a config.toml labtui accepts."""
    import tomli_w

    from labtui.cli.common import config_schema
    from labtui.inventory.config import parse_config

    settings = {
        "defaults": {"poll_interval": 5, "jump_host": "bastion"},
        "hosts": {"web1": {"tags": ["prod", "web"], "critical": True}},
        "tags": {"web": {"checks": [{"kind": "unit", "unit": "nginx.service"}]}},
        "deploy": {"parallel": 4},
    }
    for text in ((REPO / "docs" / "install.md").read_text(), (REPO / "nix" / "home-manager.nix").read_text()):
        assert 'hosts.web1 = { tags = [ "prod" "web" ]; critical = true; };' in text
        assert 'tags.web.checks = [ { kind = "unit"; unit = "nginx.service"; } ];' in text
    path = tmp_path / "config.toml"
    path.write_bytes(tomli_w.dumps(settings).encode())
    config = parse_config(path, config_schema())
    assert config.deploy.parallel == 4
