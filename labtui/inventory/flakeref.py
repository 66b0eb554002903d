"""Finding the flake like deploy-rs does: `--flake REF`, else the current directory."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from labtui.errors import UserError

# `github:o/r`, `git+https://…`, `path:/x`, `tarball+https://…`: a URL-like scheme before the colon.
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_LOCAL_SCHEMES = ("path:", "git+file://", "git+file:")


@dataclass(frozen=True)
class FlakeRef:
    ref: str  # as the user gave it (or ".")
    nix_ref: str  # what nix gets: an absolute path for local flakes, otherwise `ref` verbatim
    local_dir: Path | None  # the flake's directory when it is on this machine

    @property
    def is_local(self) -> bool:
        return self.local_dir is not None


def resolve_flake(ref: str | None, cwd: str | os.PathLike[str] | None = None) -> FlakeRef:
    """Turn `--flake REF` (or nothing) into what nix and the cache need; UserError when it can't be a flake."""
    given = ref if ref not in (None, "") else "."
    if "#" in given:
        raise UserError(f"--flake takes a flake reference without `#` (got `{given}`); "
                        "name hosts as arguments instead, e.g. `labtui --flake . deploy web1`")
    local_path: str | None = None
    prefix = ""
    if given.startswith(_LOCAL_SCHEMES):
        prefix = next(s for s in _LOCAL_SCHEMES if given.startswith(s))
        local_path = given[len(prefix):].split("?", 1)[0]
    elif not _SCHEME.match(given):
        # `nixpkgs`-style registry names have no slash and are not a directory here.
        if given.startswith((".", "/", "~")) or "/" in given or os.path.isdir(os.path.join(cwd or ".", given)):
            local_path = given
    if local_path is None:
        return FlakeRef(given, given, None)

    base = Path(cwd) if cwd is not None else Path.cwd()
    directory = (base / os.path.expanduser(local_path)).resolve()
    if not directory.is_dir():
        raise UserError(f"flake directory {directory} does not exist; pass --flake with an existing "
                        "directory or a flake reference like github:owner/repo")
    if not (directory / "flake.nix").is_file():
        raise UserError(f"no flake.nix in {directory}; run labtui inside your flake directory or pass --flake REF")
    if prefix:
        nix_ref = given.replace(local_path, str(directory), 1)
    else:
        nix_ref = _git_flake_url(directory) or str(directory)
    return FlakeRef(given, nix_ref, directory)


def git_toplevel(directory: Path) -> Path | None:
    """The work tree root above `directory` (where nix, too, looks for `.git`)."""
    for candidate in (directory, *directory.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _git_flake_url(directory: Path) -> str | None:
    """`git+file://ROOT?dir=SUB` for a flake in a git tree: what `nix eval DIR#...` (and deploy-rs) use.

    `builtins.getFlake "/abs/dir"` would copy the directory as a plain path, untracked files included,
    and so could disagree with deploy-rs; naming the git tree keeps both views identical.
    """
    root = git_toplevel(directory)
    if root is None:
        return None
    url = "git+file://" + quote(str(root), safe="/")
    sub = directory.relative_to(root).as_posix()
    return url if sub == "." else f"{url}?dir={quote(sub, safe='/')}"
