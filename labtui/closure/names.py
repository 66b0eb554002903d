"""Package names and versions from store path names, the way nvd reads them; versions ordered the way Nix does.

nvd's reading (khumba/nvd): drop the hash, then the name is everything up to the first `-` that is followed by a
digit, and the version is the rest (`nixos-system-web1-24.11.20241201.9abcdef` → `nixos-system-web1`,
`24.11.20241201.9abcdef`; `etc` → `etc`, no version). A closure is then grouped by name, each name with the
versions of its paths. On top of that, labtui drops a known output name at the end of a version
(`openssl-3.0.15-bin` is `openssl` 3.0.15, like `openssl-3.0.15`), so a package with several outputs is one version.

Versions compare as `nix-env` compares them (the Nix manual, "nix-env --upgrade"): split into parts at `.` and
`-` and where digits meet other characters; parts compare numerically when both are numbers, an empty part is
less than a number, `pre` is less than anything else, other words compare as text, and a number is more than a word.
"""

from __future__ import annotations

import re
from functools import cmp_to_key

STORE_DIR = "/nix/store/"
HASH_LEN = 32
OUTPUT_NAMES = ("bin", "dev", "lib", "man", "doc", "devdoc", "info", "out", "debug", "static", "dist", "lib32",
                "modules", "data", "python", "terminfo", "examples", "tests", "first", "second")
_VERSION_START = re.compile(r"-(?=[0-9])")
_PARTS = re.compile(r"[0-9]+|[^0-9.\-]+")


def store_name(path: str) -> str:
    """`/nix/store/<hash>-hello-2.12.1/bin/hello` → `hello-2.12.1` (the part after the hash of the top path)."""
    rest = path[len(STORE_DIR):] if path.startswith(STORE_DIR) else path
    top = rest.split("/", 1)[0]
    if len(top) > HASH_LEN and top[HASH_LEN] == "-":
        return top[HASH_LEN + 1:]
    return top


def parse_name(path: str) -> tuple[str, str]:
    """(name, version) of a store path; version "" when the name has none."""
    name = store_name(path)
    if name.endswith(".drv"):
        name = name[:-4]
    match = _VERSION_START.search(name)
    if match is None:
        return name, ""
    pname, version = name[:match.start()], name[match.end():]
    head, sep, last = version.rpartition("-")
    if sep and last in OUTPUT_NAMES and head:
        version = head
    return pname, version


def _parts(version: str) -> list[str]:
    return _PARTS.findall(version)


def _compare_part(a: str, b: str) -> int:
    if a.isdigit() and b.isdigit():
        return (int(a) > int(b)) - (int(a) < int(b))
    if a == "" and b.isdigit():
        return -1
    if b == "" and a.isdigit():
        return 1
    if a == "pre" and b != "pre":
        return -1
    if b == "pre" and a != "pre":
        return 1
    if a.isdigit():
        return 1  # a number is newer than a word
    if b.isdigit():
        return -1
    return (a > b) - (a < b)


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as `a` is older than, the same as, or newer than `b`."""
    pa, pb = _parts(a), _parts(b)
    for i in range(max(len(pa), len(pb))):
        result = _compare_part(pa[i] if i < len(pa) else "", pb[i] if i < len(pb) else "")
        if result:
            return result
    return 0


def sort_versions(versions: list[str]) -> list[str]:
    return sorted(versions, key=cmp_to_key(compare_versions))
