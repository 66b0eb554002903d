"""The demo lab's Inventory, built in Python the way `load_inventory` builds one from a flake.

Every host is `127.0.0.1:<its server's port>`, reached with the lab's own key and known_hosts file,
through sshOpts as a flake would give them (`-p PORT -i KEY -o UserKnownHostsFile=...`), so the
SSH pool, deploy-rs and nixos-rebuild all take the same route.
"""

from __future__ import annotations

from pathlib import Path

from labtui.demo.lab import DEMO_HOSTS, DemoHostSpec
from labtui.inventory.merge import ssh_target
from labtui.inventory.model import CheckSpec, DeployConfig, Host, Inventory, Profile

# Short magic-rollback windows so a demo deploy (and a broken one's rollback) takes seconds, not minutes.
DEMO_CONFIRM_TIMEOUT = 8
DEMO_ACTIVATION_TIMEOUT = 30
DEMO_POLL_INTERVAL = 5.0  # the normal refresh (labtui.inventory.model.DEFAULT_POLL_INTERVAL)
SSH_USER = "root"


def demo_ssh_opts(port: int, key: Path, known_hosts: Path) -> tuple[str, ...]:
    return ("-p", str(port), "-i", str(key), "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes")


def demo_checks(spec: DemoHostSpec) -> tuple[CheckSpec, ...]:
    """Health checks as a labtui.toml would declare them: the host's services, disks, memory."""

    def quick(kind: str, name: str, params: dict[str, object]) -> CheckSpec:
        return CheckSpec(kind, name, params, period=0.5, timeout=3.0, retries=1)

    units = list(spec.units[:2]) + list(spec.failed_units)
    checks = [quick("unit", u.removesuffix(".service"), {"unit": u}) for u in units]
    checks += [quick("disk", f"disk {mount}", {"mount": mount, "max_percent": 90}) for mount in spec.disks]
    checks.append(quick("memory", "memory", {"max_percent": 90}))
    return tuple(checks)


def demo_inventory(flake_dir: Path, ports: dict[str, int], key: Path, known_hosts: Path,
                   specs: tuple[DemoHostSpec, ...] = DEMO_HOSTS) -> Inventory:
    hosts = []
    for spec in specs:
        opts = demo_ssh_opts(ports[spec.name], key, known_hosts)
        profile = Profile(
            name="system",
            ssh_user=SSH_USER,
            user="root",
            ssh_opts=opts,
            confirm_timeout=DEMO_CONFIRM_TIMEOUT,
            activation_timeout=DEMO_ACTIVATION_TIMEOUT,
            profile_path="/nix/var/nix/profiles/system",
            sources={"ssh_user": "node", "ssh_opts": "node", "confirm_timeout": "deploy"},
        )
        target, _ = ssh_target("127.0.0.1", profile, f"deploy.nodes.{spec.name}")
        hosts.append(Host(
            name=spec.name,
            hostname="127.0.0.1",
            ssh=target,
            profiles=(profile,),
            method="deploy-rs",
            tags=spec.tags,
            critical=spec.critical,
            poll_interval=DEMO_POLL_INTERVAL,
            checks=demo_checks(spec),
            in_nixos_configurations=True,
            sources={"hostname": "node", "tags": "labtui.toml", "critical": "labtui.toml"},
        ))
    # The simulated flake has no real Nix behind it: the emulated deploy-rs "builds".
    return Inventory(flake=str(flake_dir), hosts=tuple(hosts), flake_dir=str(flake_dir), revision="demo",
                     dirty=False, deploy=DeployConfig(build_first=False))
