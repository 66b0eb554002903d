"""One `nix eval` that reads everything the inventory needs from a flake, without building anything.

The expression returns `deploy` with every node's and profile's settings but never forces a profile's
`path` (that would evaluate a whole NixOS system, seconds per host), and only the attribute *names*
of `nixosConfigurations`. Unknown keys are listed, not forced, so `labtui hosts` can point at typos
that deploy-rs silently ignores.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from typing import Any

from labtui.commandlog import COMMAND_LOG
from labtui.errors import UserError
from labtui.inventory import colmena
from labtui.inventory.flakeref import FlakeRef
from labtui.inventory.nix import NixRunner, nix_argv, nix_string, nix_timeout, run_nix, stderr_tail

# Generic settings valid at deploy, node and profile level (deploy-rs data.rs).
GENERIC_KEYS = ("sshUser", "user", "sudo", "interactiveSudo", "sshOpts", "fastConnection", "autoRollback",
                "magicRollback", "confirmTimeout", "activationTimeout", "tempPath", "remoteBuild")
NODE_KEYS = ("hostname", "profilesOrder")
PROFILE_KEYS = ("profilePath",)

# %-formatting, not str.format or f-strings: the Nix text is full of braces.
_EXPRESSION = """
flakeRef:
let
  flake = builtins.getFlake flakeRef;
  generic = [ %(generic)s ];
  # Keep the known settings (values forced only by toJSON) and list the rest by name only.
  pick = keys: structural: attrs: {
    settings = builtins.intersectAttrs (builtins.listToAttrs (map (name: { inherit name; value = null; }) keys)) attrs;
    unknown = builtins.attrNames (removeAttrs attrs (keys ++ structural));
  };
  profile = p: pick (generic ++ [ %(profile)s ]) [ "path" ] p // { hasPath = p ? path; };
  node = n: pick (generic ++ [ %(node)s ]) [ "profiles" ] n // {
    profiles = if n ? profiles then builtins.mapAttrs (_: profile) n.profiles else null;
  };
  deploy = d: pick generic [ "nodes" ] d // {
    nodes = if d ? nodes then builtins.mapAttrs (_: node) d.nodes else null;
  };
  hasNodes = flake ? deploy && flake.deploy ? nodes;
in {
  deploy = if flake ? deploy then deploy flake.deploy else null;
  nixosConfigurations = if flake ? nixosConfigurations then builtins.attrNames flake.nixosConfigurations else null;
  # A Colmena hive, when there is no deploy.nodes (labtui.inventory.colmena).
  colmena = if hasNodes then null else %(colmena)s flake;
  revision = flake.rev or null;  # set for clean git trees and most remote flakes
}
""" % {  # noqa: UP031
    "generic": " ".join(nix_string(k) for k in GENERIC_KEYS),
    "node": " ".join(nix_string(k) for k in NODE_KEYS),
    "profile": " ".join(nix_string(k) for k in PROFILE_KEYS),
    "colmena": "%(colmena)s",
}
_COLMENA_READERS = {"shallow": colmena.FLAKE_PART.strip(), "deep": colmena.FLAKE_PART_DEEP.strip()}
_EXPRESSIONS = {name: _EXPRESSION % {"colmena": part} for name, part in _COLMENA_READERS.items()}

# Part of the cache key: a new labtui that asks nix for something else must not reuse old answers.
EXPRESSION_VERSION = hashlib.sha256("".join(_EXPRESSIONS.values()).encode()).hexdigest()[:16]


def eval_argv(flake: FlakeRef, colmena_reader: str = "shallow") -> list[str]:
    # --impure: getFlake of a local path is unlocked; --no-write-lock-file: never touch the user's files.
    return nix_argv("eval", "--json", "--impure", "--no-write-lock-file",
                    "--expr", f"({_EXPRESSIONS[colmena_reader].strip()}) {nix_string(flake.nix_ref)}")


def _untracked_flake_nix(flake: FlakeRef) -> bool:
    """A flake.nix that git does not track is invisible to nix: the most common first-run failure."""
    if flake.local_dir is None or not flake.nix_ref.startswith("git+file:") or shutil.which("git") is None:
        return False
    argv = ["git", "-C", str(flake.local_dir), "ls-files", "--error-unmatch", "flake.nix"]
    COMMAND_LOG.local(argv)
    try:
        return subprocess.run(argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL).returncode != 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def evaluate_flake(flake: FlakeRef, runner: NixRunner | None = None) -> dict[str, Any]:
    """Raw evaluation result: {"deploy": {...} | None, "nixosConfigurations": [names] | None,
    "colmena": {"kind", "nodes", "hasHive"} | None, "revision": str | None}."""
    run = runner or run_nix
    result = run(eval_argv(flake), nix_timeout())
    first_failure = result
    if result.returncode != 0:
        # The Colmena hive may be what failed: its modules were called without the module system. Read it again
        # through a colmenaHive output (or by node names only); a flake that is broken elsewhere fails again.
        retry = run(eval_argv(flake, "deep"), nix_timeout())
        if retry.returncode == 0 and _colmena_of(retry.stdout):
            result = retry
    if result.returncode != 0:
        result = first_failure
        if _untracked_flake_nix(flake):
            raise UserError(f"{flake.local_dir}/flake.nix is not tracked by git, and nix only sees tracked files; "
                            "run `git add flake.nix` (and the files it imports) - no commit is needed",
                            detail=stderr_tail(result.stderr))
        raise UserError(f"evaluating the flake {flake.ref} with nix failed (exit {result.returncode}); "
                        "fix the error below, or check it with `nix flake check`",
                        detail=stderr_tail(result.stderr))
    try:
        data: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise UserError(f"nix printed something that is not JSON while evaluating {flake.ref}",
                        detail=stderr_tail(result.stdout + "\n" + result.stderr)) from None
    has_nodes = (data.get("deploy") or {}).get("nodes") is not None
    if not has_nodes and data.get("nixosConfigurations") is None and data.get("colmena") is None:
        raise UserError(f"the flake {flake.ref} has neither `deploy.nodes`, a Colmena hive (`colmena` or "
                        "`colmenaHive`) nor `nixosConfigurations`; add one of them (see deploy-rs's README) or pass "
                        "--flake with your fleet's flake")
    if result is not first_failure:
        data.setdefault("colmena_notes", []).append(
            f"nix could not read the Colmena hive without the module system ({_first_error(first_failure.stderr)})")
    hive = data.get("colmena")
    if hive is not None and hive.get("kind") == "colmena" and hive.get("hasHive"):
        _resolve_through_hive(flake, hive, run)
    return data


def _colmena_of(stdout: str) -> bool:
    try:
        return json.loads(stdout).get("colmena") is not None
    except (json.JSONDecodeError, AttributeError):
        return False


def _first_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip().startswith("error")]
    return lines[0] if lines else "no error line"


def _resolve_through_hive(flake: FlakeRef, hive: dict[str, Any], run: NixRunner) -> None:
    """The nodes the raw `colmena` output left unresolved, read again from `colmenaHive` through the module system."""
    nodes: dict[str, Any] = hive.get("nodes") or {}
    open_nodes = sorted(n for n, node in nodes.items() if node.get("unresolved"))
    if not open_nodes:
        return
    argv = nix_argv("eval", "--json", "--impure", "--no-write-lock-file",
                    "--expr", colmena.deep_expression(flake.nix_ref, open_nodes))
    result = run(argv, nix_timeout())
    if result.returncode != 0:
        raise UserError(f"reading deployment.* of {', '.join(open_nodes)} from the flake's colmenaHive output failed "
                        f"(exit {result.returncode}); fix the error below, or check it with `colmena eval`",
                        detail=stderr_tail(result.stderr))
    try:
        nodes.update(json.loads(result.stdout)["nodes"])
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError("nix printed something unexpected while reading the colmenaHive output",
                        detail=stderr_tail(result.stdout + "\n" + result.stderr)) from None
