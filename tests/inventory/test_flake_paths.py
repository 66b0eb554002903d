"""FlakePathResolver: lazy, cached store paths of a host's system for drift (real nix)."""

from __future__ import annotations

import asyncio

import pytest

from labtui.inventory import load_inventory
from labtui.inventory.flake_paths import FlakePathResolver
from labtui.inventory.nix import attr_path

pytestmark = pytest.mark.integration


async def test_paths_for_every_kind_of_host(nix, flake_copy) -> None:
    inv = load_inventory(str(flake_copy("fleet")))
    resolver = FlakePathResolver.for_inventory(inv)
    results = dict(zip(inv.names(), await asyncio.gather(*(resolver.system_paths(h) for h in inv.hosts)), strict=True))
    web1, dotted, db1 = results["web1"], results["example.com"], results["db1"]
    assert web1 is not None and dotted is not None and db1 is not None
    assert web1.profile_path is not None and web1.toplevel is not None and dotted.toplevel is not None
    assert web1.profile_path.startswith("/nix/store/") and web1.profile_path.endswith("-web1-activatable")
    assert web1.toplevel.endswith("-nixos-system-web1") and web1.reason is None
    # dotted node name, quoted in the attribute path
    assert dotted.toplevel.endswith("-nixos-system-example.com")
    # db1's nixosConfiguration throws: partial answer with the reason
    assert db1.profile_path is not None and db1.profile_path.endswith("-db1-activatable") and db1.toplevel is None
    assert db1.reason is not None and "labtui forced nixosConfigurations.db1" in db1.reason
    # legacy has nothing that evaluates: None plus a reason, never an exception
    assert results["legacy"] is None
    assert "labtui forced nixosConfigurations.legacy" in resolver.reasons["legacy"]


async def test_answers_are_cached_in_memory_and_on_disk(nix, flake_copy) -> None:
    inv = load_inventory(str(flake_copy("fleet")))
    web1 = inv.get("web1")
    first = FlakePathResolver.for_inventory(inv)
    a, b = await asyncio.gather(first.system_paths(web1), first.system_paths(web1))
    assert a == b and first.evaluations == 2  # profile path + toplevel, once despite two callers
    assert await first.system_paths(web1) == a and first.evaluations == 2
    second = FlakePathResolver.for_inventory(inv)  # a new process would read the disk cache
    assert await second.system_paths(web1) == a and second.evaluations == 0


async def test_a_changed_flake_is_evaluated_again(nix, flake_copy) -> None:
    import os

    flake = flake_copy("fleet")
    inv = load_inventory(str(flake))
    resolver = FlakePathResolver.for_inventory(inv)
    before = await resolver.system_paths(inv.get("web1"))
    text = (flake / "flake.nix").read_text().replace('mk "web1-activatable"', 'mk "web1-activatable-v2"')
    (flake / "flake.nix").write_text(text)
    os.utime(flake / "flake.nix", ns=(1, 1))
    resolver.invalidate()
    after = await resolver.system_paths(inv.get("web1"))
    assert before is not None and after is not None and after.profile_path is not None
    assert after.profile_path.endswith("-web1-activatable-v2") and after.toplevel == before.toplevel


async def test_missing_nix_gives_none_with_reason(nix, flake_copy, monkeypatch) -> None:
    inv = load_inventory(str(flake_copy("fleet")))
    monkeypatch.setenv("PATH", "/nonexistent")
    resolver = FlakePathResolver.for_inventory(inv)
    assert await resolver.system_paths(inv.get("web1")) is None
    assert "`nix` is not installed" in resolver.reasons["web1"]


def test_attribute_paths_are_quoted() -> None:
    assert attr_path("deploy", "nodes", "example.com", "profiles", "home.nix", "path") == \
        'deploy.nodes."example.com".profiles."home.nix".path'
    assert attr_path("nixosConfigurations", "web-1") == "nixosConfigurations.web-1"


async def test_transient_failures_are_retried_later(nix, flake_copy, monkeypatch) -> None:
    from labtui.inventory import flake_paths

    inv = load_inventory(str(flake_copy("fleet")))
    path = __import__("os").environ["PATH"]
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(flake_paths, "RETRY_AFTER", 0.0)
    resolver = FlakePathResolver.for_inventory(inv)
    assert await resolver.system_paths(inv.get("web1")) is None
    monkeypatch.setenv("PATH", path)
    paths = await resolver.system_paths(inv.get("web1"))
    assert paths is not None and paths.toplevel is not None and paths.toplevel.endswith("-nixos-system-web1")
    assert "web1" not in resolver.reasons
