"""Run `labtui` with a fleet built in Python instead of evaluated from a flake (for the deploy tests).

    python -m tests.deploy.cli_harness deploy web1 ...

Hosts come from HARNESS_HOSTS: `web1,web2,db1:critical,box:sudo` (`critical` marks the host critical,
`sudo` gives its profile interactiveSudo). Every host has one profile, `system`.
"""

from __future__ import annotations

import os
import sys

from labtui.inventory.model import DeployConfig, Host, Inventory, Profile, SshTarget

DEFAULT_HOSTS = "web1,web2,db1:critical"


def make_host(name: str, *, critical: bool = False, interactive_sudo: bool = False,
              confirm_timeout: int = 30) -> Host:
    profile = Profile(name="system", ssh_user="deploy" if interactive_sudo else "root", user="root",
                      interactive_sudo=interactive_sudo, confirm_timeout=confirm_timeout)
    return Host(name=name, hostname=f"{name}.lab", ssh=SshTarget(hostname=f"{name}.lab"), critical=critical,
                profiles=(profile,), tags=("web",) if name.startswith("web") else ())


def make_inventory(spec: str = DEFAULT_HOSTS, flake: str = ".") -> Inventory:
    hosts = []
    for item in spec.split(","):
        name, *flags = item.split(":")
        hosts.append(make_host(name, critical="critical" in flags, interactive_sudo="sudo" in flags))
    # No real flake behind these hosts: the emulated deploy-rs builds, not labtui.
    return Inventory(flake=flake, hosts=tuple(hosts), revision="0123abc", dirty=False,
                     deploy=DeployConfig(build_first=False))


def main(argv: list[str] | None = None) -> int:
    import labtui.cli.common as common
    from labtui.cli.main import main as labtui_main

    inventory = make_inventory(os.environ.get("HARNESS_HOSTS", DEFAULT_HOSTS))
    common.load_inventory = lambda args: inventory
    return labtui_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
