"""labtui's own flake.nix: it parses, and its outputs have the promised shape (checked offline by
calling `outputs` with a stand-in for nixpkgs that records what the flake asks for)."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

from tests.support import require_tool

ROOT = Path(__file__).resolve().parents[2]

STUB = r"""
let
  flake = import %(flake)s;
  stubPkgs = system: rec {
    inherit system;
    python3Packages = {
      textual = "textual"; asyncssh = "asyncssh"; tomli-w = "tomli-w"; setuptools = "setuptools";
      pytest = "pytest"; pytest-asyncio = "pytest-asyncio"; hypothesis = "hypothesis";
      buildPythonApplication = args: args // { outPath = "/nix/store/00000000000000000000000000000000-labtui"; };
    };
    python3.withPackages = f: { pkgs = f python3Packages; };
    openssh = "openssh"; git = "git"; gnumake = "gnumake";
    mkShell = args: args;
  };
  nixpkgs = {
    lib = {
      genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
      makeBinPath = ps: builtins.concatStringsSep ":" (map (p: "${p}/bin") ps);
      optional = cond: x: if cond then [ x ] else [ ];
      licenses.mit = "mit";
    };
    legacyPackages = builtins.listToAttrs
      (map (s: { name = s; value = stubPkgs s; }) [ "x86_64-linux" "aarch64-linux" ]);
  };
  self = flake.outputs { inherit self nixpkgs; } // { outPath = %(root)s; };
  pkg = self.packages.x86_64-linux.default;
in {
  inputs = builtins.attrNames flake.inputs;
  systems = map builtins.attrNames [ self.packages self.apps self.devShells ];
  inherit (pkg) pname version format propagatedBuildInputs;
  mainProgram = pkg.meta.mainProgram;
  app = self.apps.aarch64-linux.default;
  overlay = (self.overlays.default (stubPkgs "x86_64-linux") { }).labtui.pname;
}
"""


def test_flake_nix_parses() -> None:
    tool = require_tool("nix-instantiate", "checks that labtui's flake.nix parses")
    proc = subprocess.run([tool, "--parse", str(ROOT / "flake.nix")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_flake_outputs_have_the_promised_shape() -> None:
    tool = require_tool("nix-instantiate", "evaluates labtui's flake.nix against a stand-in nixpkgs")
    expr = STUB % {"flake": ROOT / "flake.nix", "root": json.dumps(str(ROOT))}
    proc = subprocess.run([tool, "--eval", "--strict", "--json", "--expr", expr], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert out["inputs"] == ["nixpkgs"]
    assert out["systems"] == [["aarch64-linux", "x86_64-linux"]] * 3
    assert (out["pname"], out["version"], out["format"]) == ("labtui", project["version"], "pyproject")
    assert out["propagatedBuildInputs"] == ["textual", "asyncssh", "tomli-w"]
    assert out["mainProgram"] == "labtui" and out["overlay"] == "labtui"
    assert out["app"] == {"type": "app", "program": "/nix/store/00000000000000000000000000000000-labtui/bin/labtui"}
