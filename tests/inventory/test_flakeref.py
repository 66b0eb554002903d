"""Finding the flake (no nix): local directories, git trees, remote references passed through."""

from __future__ import annotations

import subprocess

import pytest

from labtui.errors import UserError
from labtui.inventory.flakeref import resolve_flake
from labtui.inventory.nix import nix_string


@pytest.mark.parametrize("ref", ["github:me/lab", "github:me/lab/main", "git+https://example.com/lab.git?ref=x",
                                 "nixpkgs", "tarball+https://example.com/lab.tar.gz"])
def test_remote_references_are_passed_through(ref, tmp_path) -> None:
    flake = resolve_flake(ref, cwd=tmp_path)
    assert (flake.nix_ref, flake.local_dir, flake.is_local) == (ref, None, False)


def test_local_directories(tmp_path) -> None:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "flake.nix").write_text("{ outputs = _: { }; }")
    for ref in ("lab", "./lab", str(tmp_path / "lab")):
        flake = resolve_flake(ref, cwd=tmp_path)
        assert flake.local_dir == tmp_path / "lab" and flake.nix_ref == str(tmp_path / "lab")
    assert resolve_flake(None, cwd=tmp_path / "lab").ref == "."
    assert resolve_flake("path:./lab", cwd=tmp_path).nix_ref == f"path:{tmp_path / 'lab'}"


def test_git_tree_becomes_git_file_url(tmp_path) -> None:
    from tests.support import require_tool

    require_tool("git", "flakes in git trees are evaluated as git+file")
    (tmp_path / "my lab").mkdir()
    (tmp_path / "my lab" / "flake.nix").write_text("{ outputs = _: { }; }")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    flake = resolve_flake(str(tmp_path / "my lab"))
    assert flake.nix_ref == f"git+file://{tmp_path}?dir=my%20lab"
    assert resolve_flake(str(tmp_path / "my lab")).local_dir == tmp_path / "my lab"


@pytest.mark.parametrize("ref, message", [
    (".#web1", "without `#`"),
    ("missing", None),
    ("./missing", "does not exist"),
])
def test_bad_references(ref, message, tmp_path) -> None:
    if message is None:  # a bare word that is no directory is a registry name, left to nix
        assert resolve_flake(ref, cwd=tmp_path).local_dir is None
        return
    with pytest.raises(UserError, match=message):
        resolve_flake(ref, cwd=tmp_path)


def test_directory_without_flake_nix(tmp_path) -> None:
    with pytest.raises(UserError) as info:
        resolve_flake(str(tmp_path))
    assert info.value.message == (f"no flake.nix in {tmp_path}; run labtui inside your flake directory "
                                  "or pass --flake REF")


def test_nix_string_escapes_interpolation() -> None:
    assert nix_string('a"b\\c${x}\n') == '"a\\"b\\\\c\\${x}\\n"'
