"""The two sides of a closure diff: the host's report (a recorded answer of the testbed's host1 in the form
HOST_SCRIPT prints, and a non-NixOS host over real SSH), `nix path-info --json` of Nix 2.8 and of newer Nix."""

from __future__ import annotations

import json

import pytest

from labtui.closure.query import (
    HOST_COMMAND,
    MISSING_COMMAND,
    QueryError,
    closure_of,
    host_system,
    missing_on_host,
    parse_host_report,
    parse_path_info,
)
from labtui.errors import UserError
from tests.support.sshd import sshd  # noqa: F401  (fixture)

S = "/nix/store/"
SYS = S + "a" * 32 + "-nixos-system-host1-24.11.20241201.9abcdef"
WRAP = S + "b" * 32 + "-activatable-nixos-system-host1-24.11.20241201.9abcdef"
LINUX = S + "c" * 32 + "-linux-6.6.61"
NGINX = S + "d" * 32 + "-nginx-1.26.2"

REPORT = "\n".join([
    f"current\t{WRAP}", f"system\t{SYS}",
    f"link\tcurrent-kernel\t{LINUX}/bzImage", f"link\tbooted-kernel\t{S}{'e' * 32}-linux-6.6.32/bzImage",
    f"link\tcurrent-initrd\t{LINUX}/initrd", "link\tbooted-initrd\t",
    "link\tcurrent-kernel-modules\t", "link\tbooted-kernel-modules\t",
    "version\t24.11.20241201.9abcdef",
    f"path\t{LINUX}", f"path\t{NGINX}", f"path\t{SYS}", "path\tnot-a-store-path\x1b[2J",
    "size\t1000", "size\t4464", "size\t11392",
]) + "\n"


def test_the_host_report():
    system = parse_host_report("host1", REPORT)
    assert system.current == WRAP and system.closure.root == SYS
    assert system.closure.paths == {LINUX: 1000, NGINX: 4464, SYS: 11392}
    assert system.closure.links == {"kernel": f"{LINUX}/bzImage", "initrd": f"{LINUX}/initrd"}
    assert system.booted == {"kernel": f"{S}{'e' * 32}-linux-6.6.32/bzImage"}
    assert system.closure.nixos_version == "24.11.20241201.9abcdef"


def test_an_incomplete_report_is_an_error():
    with pytest.raises(QueryError, match="host1: the host did not say what it runs"):
        parse_host_report("host1", "current\t/nix/store/x\n")


def test_path_info_of_nix_2_8_and_of_newer_nix():
    old = json.dumps([{"path": SYS, "narSize": 11392, "references": [LINUX, NGINX, SYS]},
                      {"path": LINUX, "narSize": 1000, "references": []},
                      {"path": NGINX, "narSize": 4464, "references": []}])
    new = json.dumps({SYS: {"narSize": 11392, "references": [LINUX.removeprefix(S), NGINX]},
                      LINUX: {"narSize": 1000, "references": []}, NGINX: {"narSize": None, "references": []}})
    for text in (old, new):
        graph = parse_path_info(text)
        assert set(closure_of(SYS, graph)) == {SYS, LINUX, NGINX}
        assert closure_of(LINUX, graph) == {LINUX: 1000}


@pytest.mark.integration
async def test_a_host_that_is_not_nixos_says_so_in_one_line(sshd):  # noqa: F811
    from labtui.ssh.pool import SshPool

    pool = SshPool([sshd.host("lab")], known_hosts=[sshd.known_hosts], client_keys=[sshd.client_key], config=None)
    try:
        not_nixos = r"^lab: cannot read what it runs: no /run/current-system: not a NixOS host$"
        with pytest.raises(UserError, match=not_nixos):
            await host_system(pool, "lab")
        # The paths go on stdin, never into a command line.
        missing = await missing_on_host(pool, "lab", [NGINX, "; reboot"])
        assert missing in (None, {NGINX})  # None when this machine has no nix-store
    finally:
        await pool.close()
    assert "xargs" in MISSING_COMMAND and HOST_COMMAND.startswith("/bin/sh -c ")
