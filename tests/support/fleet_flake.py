"""The deploy-rs example flake of the testbed, extended from the test side so closure diffs have content.

`../shared/deploy-rs/example/make-flake.sh` (never modified, never copied into the repository) writes a flake
whose hosts' profiles are fake NixOS systems: a system and a kernel. `make_fleet_flake` runs it and then edits
the flake it wrote (`extend_flake` does it for a flake written elsewhere, like the testbed session's) so that each
host's system also refers to a few fake packages (`nginx-1.26.2`, ...: a `bin/NAME` script and SIZE bytes of data,
under sw/, as NixOS puts environment.systemPackages), so that the kernel and the NixOS version come from
settings.nix, and so that a host's system can break units when it is switched to (`failing_units`: the testbed's
systemctl then lists them as failed; the test restores the host's units.tsv). It edits the flake's own copies of
the testbed's system.nix and system-builder.sh, never the originals. A test rewrites the settings
(`FleetSettings`) and commits to get the next generation:

    flake = make_fleet_flake(tmp / "flake", tb_dir, hosts=3)
    flake.write(FleetSettings(tag="t2", packages={"nginx": "1.27.0"}, kernel="6.6.62"))

Builds are local (sandbox off, no substituters, as the suite's NIX_CONFIG says); nothing is fetched.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import in_ci, require_tool

DEFAULT_PACKAGES = {"nginx": "1.26.2", "openssl": "3.0.15", "htop": "3.3.0"}
DEFAULT_KERNEL = "6.6.61"
DEFAULT_NIXOS = "24.11.20241201.9abcdef"


def shared_dir() -> Path | None:
    """`../shared` of the repository (the lab's real tools), looked for above the checkout."""
    here = Path(__file__).resolve().parents[2]
    for base in (here, *here.parents):
        candidate = base / "shared"
        if (candidate / "deploy-rs" / "example" / "make-flake.sh").is_file():
            return candidate
    return None


def require_make_flake() -> Path:
    import pytest

    shared = shared_dir()
    if shared is None:
        message = "../shared/deploy-rs/example/make-flake.sh is not there (the lab's tools)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return shared / "deploy-rs" / "example" / "make-flake.sh"


@dataclass
class FleetSettings:
    """settings.nix of the extended flake (make-flake.sh's keys plus the extension's)."""

    tag: str = "t0"
    packages: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PACKAGES))  # name -> version, all hosts
    host_packages: dict[str, dict[str, str]] = field(default_factory=dict)  # host -> extra/overriding packages
    size: int = 4096  # bytes of data in each fake package
    kernel: str = DEFAULT_KERNEL
    nixos_version: str = DEFAULT_NIXOS
    fail_build: list[str] = field(default_factory=list)
    eval_error: list[str] = field(default_factory=list)
    build_lines: int = 0  # log lines each host's profile prints while it builds (a busy build log)
    failing_units: dict[str, list[str]] = field(default_factory=dict)  # host -> units its system breaks on switch

    def to_nix(self) -> str:
        def packages(items: dict[str, str]) -> str:
            return "{ " + " ".join(f'"{name}" = "{version}";' for name, version in sorted(items.items())) + " }"

        def strings_of(names: list[str]) -> str:
            return " ".join(f'"{name}"' for name in names)

        hosts = " ".join(f'"{host}" = {packages(items)};' for host, items in sorted(self.host_packages.items()))
        strings = " ".join(f'"{h}"' for h in self.fail_build)
        errors = " ".join(f'"{h}"' for h in self.eval_error)
        units = " ".join(f'"{host}" = [ {strings_of(names)} ];' for host, names in sorted(self.failing_units.items()))
        return (f'{{ tag = "{self.tag}"; failBuild = [ {strings} ]; evalError = [ {errors} ]; failCheck = false;\n'
                f"  packages = {packages(self.packages)};\n  hostPackages = {{ {hosts} }};\n"
                f'  size = {self.size}; kernel = "{self.kernel}"; nixosVersion = "{self.nixos_version}";\n'
                f"  buildLines = {self.build_lines}; failUnits = {{ {units} }}; }}\n")


# The extension, spliced into make-flake.sh's flake.nix (see extend_flake).
_PACKAGES_NIX = """
      fakePackage = name: version: builtins.derivation {
        name = "${name}-${version}"; inherit system; builder = "/bin/sh";
        size = toString (settings.size or 4096);
        args = [ "-c" ("PATH=/usr/bin:/bin; mkdir -p $out/bin; "
          + "printf '#!/bin/sh\\\\necho %s %s\\\\n' ${name} ${version} > $out/bin/${name}; "
          + "chmod 555 $out/bin/${name}; head -c $size /dev/zero > $out/data") ];
      };
      packagesOf = host: let all = (settings.packages or { }) // ((settings.hostPackages or { }).${host} or { });
        in builtins.attrValues (builtins.mapAttrs fakePackage all);
"""
_PROFILE_BUILDER = """# labtui tests: a busy build log, then make-flake.sh's profile builder.
PATH=/usr/bin:/bin
set -e
i=0
while [ "$i" -lt "${buildLines:-0}" ]; do i=$((i + 1)); echo "compiling unit $i of $buildLines"; done
exec /bin/sh "$baseBuilder"
"""
# Appended to the flake's copy of the testbed's system builder: the packages in the system, like
# environment.systemPackages (sw/).
_SYSTEM_BUILDER_PACKAGES = """
# labtui tests (tests/support/fleet_flake.py): the fake packages, in the system's closure.
mkdir -p "$out/sw/share/packages"
for p in ${packages:-}; do ln -s "$p" "$out/sw/share/packages/"; done
"""
# Appended too: a system that breaks units when it is switched to (settings.failUnits), as a configuration that
# breaks a service does; the testbed's systemctl lists them as failed (/run/testbed/units.tsv).
_SYSTEM_BUILDER_FAILING_UNITS = r"""
# labtui tests (tests/support/fleet_flake.py): units this system breaks when it is switched to.
if [ -n "${failUnits:-}" ]; then
  mv "$out/bin/switch-to-configuration" "$out/bin/switch-to-configuration-stub"
  {
    echo '#!/bin/sh'
    echo '"$(dirname "$0")/switch-to-configuration-stub" "$@" || exit $?'
    echo 'case "${1:-}" in switch|test) ;; *) exit 0 ;; esac'
    for u in $failUnits; do
      printf 'printf "%%s\\tloaded\\tfailed\\tfailed\\t%%s\\n" %s "broken by its system" >> %s\n' "$u" \
        /run/testbed/units.tsv
    done
  } > "$out/bin/switch-to-configuration"
  chmod 555 "$out/bin/switch-to-configuration"
fi
"""


# Store paths every user of the example shares (kept by `cleanup`, like the recording sessions did).
SHARED_NAMES = ("linux-", "deploy-rs-")


@dataclass
class FleetFlake:
    directory: Path
    hosts: int
    outputs: set[str] = field(default_factory=set)  # profiles' .drv and out paths of every settings written

    def write(self, settings: FleetSettings) -> str:
        """Write settings.nix and commit (flakes see committed, tracked files); the new revision."""
        (self.directory / "settings.nix").write_text(settings.to_nix())
        git = ["git", "-C", str(self.directory), "-c", "user.email=labtui@test", "-c", "user.name=labtui"]
        subprocess.run([*git, "commit", "-qam", f"settings {settings.tag}", "--allow-empty"], check=True,
                       capture_output=True)
        self.outputs |= self._profile_paths()
        return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()

    def _profile_paths(self) -> set[str]:
        apply = ("ns: builtins.concatMap (n: let p = ns.${n}.profiles.system.path; r = builtins.tryEval "
                 "p.drvPath; in if r.success then [ r.value p.outPath ] else [ ]) (builtins.attrNames ns)")
        result = subprocess.run(["nix", "eval", "--json", f"{self.directory}#deploy.nodes", "--apply", apply],
                                capture_output=True, text=True)
        return set(json.loads(result.stdout)) if result.returncode == 0 else set()

    def cleanup(self) -> None:
        """Delete what this flake's builds put in the store (its profiles and their closures), keeping what other
        users of the example share and anything still referenced from elsewhere (nix-store refuses those)."""
        valid = [p for p in self.outputs if Path(p).exists()]
        if not valid:
            return
        closure = subprocess.run(["nix-store", "-qR", *valid], capture_output=True, text=True).stdout.split()
        # Outputs and derivations; sources (flake files, the stubs) may be in use by another user of the example.
        mine = [p for p in reversed(closure) if not p.rsplit("/", 1)[-1][33:].startswith(SHARED_NAMES)
                and (p.endswith(".drv") or p in self.outputs or not p.rsplit("/", 1)[-1][33:].endswith(
                    ("-source", ".sh", "-stubs", "-activate")))]
        for _ in range(2):  # referrers first: a second pass gets what the first one freed
            for path in mine:
                if Path(path).exists():
                    subprocess.run(["nix-store", "--delete", path], capture_output=True)

    def profile_attr(self, host: str) -> str:
        return f"deploy.nodes.{host}.profiles.system.path"


def make_fleet_flake(directory: Path, tb_dir: Path | str, *, hosts: int = 2,
                     settings: FleetSettings | None = None) -> FleetFlake:
    """make-flake.sh's flake in `directory`, extended (see the module docstring) and committed."""
    script = require_make_flake()
    require_tool("git", "flakes live in git repositories")
    subprocess.run([str(script), str(directory), str(tb_dir), str(hosts)], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "labtui", "GIT_COMMITTER_NAME": "labtui"})
    extend_flake(directory)
    flake = FleetFlake(directory, hosts)
    flake.write(settings or FleetSettings())
    return flake


def extend_flake(directory: Path) -> None:
    """Extend a flake make-flake.sh wrote (this module's, or the testbed session's); once is enough."""
    if (directory / "labtui-profile-builder.sh").exists():
        return
    nix = (directory / "flake.nix").read_text()
    edits = [
        ('      mkSystem = host:', _PACKAGES_NIX.strip("\n") + "\n      mkSystem = host:"),
        ('generation = settings.tag; version = "24.11.20241201.9abcdef";',
         'generation = settings.tag; version = settings.nixosVersion or "24.11.20241201.9abcdef";'),
        ('kernelVersion = "6.6.61";', 'kernelVersion = settings.kernel or "6.6.61";'),
        ('codename = "Vicuna"; kernelVersion', 'codename = "Vicuna"; packages = packagesOf host;\n'
         '        failUnits = toString ((settings.failUnits or { }).${host} or [ ]); kernelVersion'),
        ("args = [ ./profile-builder.sh ];",
         "args = [ ./labtui-profile-builder.sh ]; baseBuilder = ./profile-builder.sh;\n"
         "        buildLines = toString (settings.buildLines or 0);"),
    ]
    for old, new in edits:
        if old not in nix:
            raise AssertionError(f"make-flake.sh's flake.nix changed: `{old}` is not in it; update tests/support/"
                                 "fleet_flake.py")
        nix = nix.replace(old, new, 1)
    (directory / "flake.nix").write_text(nix)
    (directory / "labtui-profile-builder.sh").write_text(_PROFILE_BUILDER)
    system = (directory / "system.nix").read_text()
    for old, new in (('kernelVersion ? "6.6.32" }:', 'kernelVersion ? "6.6.32", packages ? [ ], failUnits ? "" }:'),
                     ("inherit hostname generation version revision codename kernel;",
                      "inherit hostname generation version revision codename kernel packages failUnits;")):
        if old not in system:
            raise AssertionError(f"the testbed's system.nix changed: `{old}` is not in it; update "
                                 "tests/support/fleet_flake.py")
        system = system.replace(old, new, 1)
    (directory / "system.nix").write_text(system)
    with (directory / "system-builder.sh").open("a") as builder:
        builder.write(_SYSTEM_BUILDER_PACKAGES + _SYSTEM_BUILDER_FAILING_UNITS)
    subprocess.run(["git", "-C", str(directory), "add", "-A"], check=True, capture_output=True)
