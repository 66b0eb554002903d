"""The ops verbs against a real OpenSSH sshd on this (non-NixOS) machine: what works works, and what
needs NixOS or systemd fails with one clear line instead of a traceback or silence. Never reboots."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from labtui.cli import check, generations, logs, reboot, rollback
from labtui.cli.main import build_parser
from labtui.errors import UserError
from labtui.inventory.model import CheckSpec, Inventory, Profile
from tests.support.sshd import sshd  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def parse(*argv):
    return build_parser(argv[0])[0].parse_args(list(argv))


@pytest.fixture
async def real(sshd):  # noqa: F811
    from labtui.ssh.pool import SshPool

    checks = (
        CheckSpec(kind="command", name="true", params={"command": "true"}, retries=0, timeout=20),
        CheckSpec(kind="command", name="false", params={"command": "exit 3"}, retries=0, timeout=20),
        CheckSpec(kind="disk", name="root fs", params={"mount": "/", "max_percent": 100}, retries=0, timeout=20),
        CheckSpec(kind="memory", name="memory", params={"max_percent": 100}, retries=0, timeout=20),
        CheckSpec(kind="tcp", name="sshd port", params={"port": sshd.port, "host": "127.0.0.1"}, retries=0),
    )
    profile = Profile(name="system", ssh_user=sshd.user, user=sshd.user)
    host = replace(sshd.host("lab"), checks=checks, profiles=(profile,))
    inventory = Inventory(flake=".", hosts=(host,))
    pool = SshPool(inventory.hosts, known_hosts=[sshd.known_hosts], client_keys=[sshd.client_key], config=None)
    try:
        yield inventory, pool
    finally:
        await pool.close()


async def test_check_over_real_ssh(real):
    inventory, pool = real
    out = io.StringIO()
    code = await check.execute(parse("check", "lab", "--json"), inventory, pool, out=out, err=io.StringIO())
    results = {r["check"]: r for r in json.loads(out.getvalue())["results"]}
    assert code == 1
    assert {name: r["ok"] for name, r in results.items()} == {
        "true": True, "false": False, "root fs": True, "memory": True, "sshd port": True}
    assert results["false"]["message"] == "exit 3"


async def test_generations_and_rollback_say_not_nixos(real):
    inventory, pool = real
    with pytest.raises(UserError, match=r"lab: (no system generations|cannot list generations: no /nix)"):
        await generations.execute(parse("generations", "lab"), inventory, pool, out=io.StringIO())
    with pytest.raises(UserError, match="lab: "):
        await rollback.execute(parse("rollback", "lab", "--yes"), inventory, pool)


async def test_logs_degrade_gracefully(real):
    inventory, pool = real
    out, err = io.StringIO(), io.StringIO()
    code = await logs.execute(parse("logs", "lab", "-n", "5"), inventory, pool, out=out, err=err)
    # journalctl absent: one line and exit 1; present (maybe with no journal here): entries or a note.
    if "journalctl is not installed" in err.getvalue():
        assert code == 1
    else:
        assert code == 0 and (out.getvalue() or "no journal entries match" in err.getvalue()
                              or "lab: " in err.getvalue())


async def test_reboot_only_needed_skips_a_host_it_cannot_judge(real):
    inventory, pool = real
    out, err = io.StringIO(), io.StringIO()
    code = await reboot.execute(parse("reboot", "lab", "--yes"), inventory, pool, out=out, err=err)
    assert code == 0 and "cannot tell whether it needs a reboot" in err.getvalue()
