"""Package names and versions from store paths (nvd's reading), Nix's version order, and closure diffs."""

from __future__ import annotations

import pytest

from labtui.closure.diff import Closure, diff_closures, kernel_version, system_of
from labtui.closure.names import compare_versions, parse_name, sort_versions, store_name
from labtui.closure.units import human_size

H = "/nix/store/" + "a" * 32 + "-"
H2 = "/nix/store/" + "b" * 32 + "-"


@pytest.mark.parametrize(("name", "parsed"), [
    ("hello-2.12.1", ("hello", "2.12.1")),
    ("nixos-system-web1-24.11.20241201.9abcdef", ("nixos-system-web1", "24.11.20241201.9abcdef")),
    ("activatable-nixos-system-host1-24.11.20241201.9abcdef", ("activatable-nixos-system-host1",
                                                               "24.11.20241201.9abcdef")),
    ("etc", ("etc", "")),
    ("unit-sshd.service", ("unit-sshd.service", "")),
    ("openssl-3.0.15-bin", ("openssl", "3.0.15")),  # an output name is not part of the version
    ("python3.11-requests-2.31.0", ("python3.11-requests", "2.31.0")),
    ("linux-6.6.61-modules", ("linux", "6.6.61")),
    ("hello-2.12.1.drv", ("hello", "2.12.1")),
    ("perl5.38.2-URI-5.21", ("perl5.38.2-URI", "5.21")),
])
def test_names_and_versions(name, parsed):
    assert parse_name(H + name) == parsed


def test_store_name_of_a_path_inside_a_store_path():
    assert store_name(H + "hello-2.12.1/bin/hello") == "hello-2.12.1"


@pytest.mark.parametrize(("a", "b", "order"), [
    ("1.0", "1.0", 0), ("1.0", "1.1", -1), ("1.10", "1.9", 1), ("1.0pre1", "1.0", -1), ("2.0", "2.0a", -1),
    ("1.0", "1.0.1", -1), ("6.6.61", "6.6.62", -1), ("2024-01-01", "2023-12-31", 1), ("1.2a", "1.2b", -1),
    ("1.0pre", "1.0alpha", -1), ("3", "x", 1),
])
def test_versions_compare_like_nix(a, b, order):
    assert compare_versions(a, b) == order
    assert compare_versions(b, a) == -order


def test_sort_versions():
    assert sort_versions(["1.10", "1.9", "1.0pre", "1.0"]) == ["1.0pre", "1.0", "1.9", "1.10"]


def test_sizes():
    assert human_size(48 * 1024 * 1024, signed=True) == "+48 MiB"
    assert human_size(-1536) == "-1.5 KiB" and human_size(0, signed=True) == "±0 B" and human_size(512) == "512 B"


def closure(root: str, paths: dict[str, int], kernel: str = "6.6.61", version: str = "24.11.1") -> Closure:
    links = {"kernel": f"{H}linux-{kernel}/bzImage", "initrd": f"{H}initrd-linux-{kernel}/initrd"}
    return Closure(H + root, {(p if p.startswith("/") else H + p): s for p, s in paths.items()}, links, version)


def test_a_diff_says_what_the_switch_changes():
    old = closure("nixos-system-web1-24.11.1", {"nixos-system-web1-24.11.1": 100, "nginx-1.26.2": 1000,
                                                "htop-3.3.0": 500, "etc": 10, "linux-6.6.61": 5000})
    new = closure("nixos-system-web1-25.05.1", {"nixos-system-web1-25.05.1": 100, "nginx-1.27.0": 1200,
                                                "curl-8.10.0": 300, H2 + "etc": 11, "linux-6.6.62": 5000},
                  kernel="6.6.62", version="25.05.1")
    missing = {H + "nginx-1.27.0": 1200, H + "curl-8.10.0": 300}
    diff = diff_closures("web1", old, new, missing=missing)
    assert [(c.name, c.kind) for c in diff.changes] == [
        ("curl", "added"), ("htop", "removed"), ("linux", "upgraded"), ("nginx", "upgraded"),
        ("nixos-system-web1", "upgraded")]
    nginx = next(c for c in diff.changes if c.name == "nginx")
    assert nginx.versions() == "1.26.2 → 1.27.0" and nginx.size_delta == 200
    assert next(c for c in diff.changes if c.name == "curl").versions() == "∅ → 8.10.0"
    assert (diff.paths_added, diff.paths_removed) == (5, 5)  # `etc` was rebuilt: a new path, not a package change
    assert diff.size_delta == 6611 - 6610 and (diff.copy_paths, diff.copy_size) == (2, 1500)
    assert diff.reboot and diff.boot_changes == ("kernel", "initrd")
    assert diff.summary() == "+1 -1 ~3, +1 B, reboot, NixOS 25.05.1"
    assert diff.implications() == [
        "reboot needed: the switch changes the kernel and initrd (kernel 6.6.61 → 6.6.62)",
        "NixOS 24.11.1 → 25.05.1"]
    data = diff.to_dict()
    assert data["added"] == [{"name": "curl", "kind": "added", "old": [], "new": ["8.10.0"], "size_delta": 300}]
    assert data["closure_size"] == {"before": 6610, "after": 6611, "delta": 1} and data["copy"]["paths"] == 2


def test_the_same_system_is_unchanged():
    same = closure("nixos-system-web1-24.11.1", {"nixos-system-web1-24.11.1": 100})
    diff = diff_closures("web1", same, same, new_out=H2 + "activatable-nixos-system-web1-24.11.1",
                         current_path=H2 + "activatable-nixos-system-web1-24.11.1")
    assert diff.unchanged and diff.summary() == "unchanged" and not diff.reboot


def test_a_reboot_pending_from_before_is_still_a_reboot():
    """The host already switched to a new kernel without rebooting: the deploy keeps the kernel, reboot still due."""
    old = closure("s", {"s": 1}, kernel="6.6.62")
    new = closure("t", {"t": 1}, kernel="6.6.62")
    diff = diff_closures("web1", old, new, booted={"kernel": f"{H}linux-6.6.61/bzImage"})
    assert diff.reboot and diff.boot_changes == () and diff.kernel_booted == "6.6.61"
    assert diff.implications() == ["reboot needed (already before this switch): the host booted kernel 6.6.61, "
                                   "its system has 6.6.62"]


def test_the_system_inside_a_deploy_rs_profile():
    wrapper = H + "activatable-nixos-system-web1-24.11.1"
    refs = [H2 + "deploy-rs-0.1.0", H2 + "nixos-system-web1-24.11.1"]
    assert system_of(wrapper, refs) == H2 + "nixos-system-web1-24.11.1"
    assert system_of(H + "nixos-system-web1-24.11.1", refs) == H + "nixos-system-web1-24.11.1"
    assert kernel_version(f"{H}linux-6.6.61/bzImage") == "6.6.61" and kernel_version(f"{H}etc/x") == ""
