"""Running root commands on a host through its deploy settings, like deploy-rs does (or Colmena, for its nodes).

deploy-rs prefixes remote commands with `<sudo> <user>` (default `sudo -u root`) only when the profile's
`user` differs from the SSH user; with interactiveSudo it adds `-S -p ""` and pipes the password in.
Generations, rollback and reboot act on the system profile, so the target user defaults to root.

The `sudo` value comes from the flake: it is checked (a program name plus plain options,
labtui.inventory.validate.check_sudo) and spliced word by word, each quoted, never as shell text; so is
Colmena's privilegeEscalationCommand (a non-empty list of plain words, check_privilege_command).
"""

from __future__ import annotations

import getpass
import shlex
from dataclasses import dataclass

from labtui.inventory.model import DEFAULT_SUDO, Host
from labtui.inventory.validate import check_privilege_command, check_sudo


@dataclass(frozen=True)
class Privilege:
    prefix: str  # "" or e.g. "sudo -u root " (with the trailing space)
    needs_password: bool  # interactiveSudo: the password goes to the command's stdin

    def wrap(self, command: str) -> str:
        """`command` (a shell snippet) run with the privileges; /bin/sh -c keeps `&&` chains under sudo
        (and /bin/sh exists on every NixOS host, whatever PATH sudo keeps)."""
        if not self.prefix:
            return command
        return f"{self.prefix}/bin/sh -c {shlex.quote(command)}"

    def stdin(self, password: str | None) -> str | None:
        return f"{password}\n" if self.needs_password and password is not None else None


def privilege_for(host: Host) -> Privilege:
    if host.colmena is not None and not host.profiles:
        # Colmena's rule (nix/host/ssh.rs): its privilegeEscalationCommand unless the target user is root.
        if host.colmena.target_user == "root":
            return Privilege("", False)
        # Checked when the hive was read; again here (like `sudo` below) for hosts built elsewhere.
        command = check_privilege_command(list(host.colmena.privilege_escalation_command),
                                          f"(the privilegeEscalationCommand of host {host.name})")
        return Privilege(" ".join(shlex.quote(w) for w in command) + " ", False)
    profile = host.system_profile
    login = (profile.ssh_user if profile else None) or host.ssh.user or getpass.getuser()
    target = (profile.user if profile else None) or "root"
    sudo = profile.sudo if profile else DEFAULT_SUDO
    interactive = bool(profile and profile.interactive_sudo)
    if login == target:
        return Privilege("", False)
    # The inventory refused a bad value already; checked again here for hosts built elsewhere.
    words = " ".join(shlex.quote(word) for word in check_sudo(sudo, f"(the sudo of host {host.name})").split(" "))
    if interactive:
        # deploy-rs: only the default sudo gets -S -p ""; a custom one must read stdin itself.
        base = f'sudo -u {shlex.quote(target)} -S -p ""' if sudo == DEFAULT_SUDO else f"{words} {shlex.quote(target)}"
        return Privilege(base + " ", True)
    return Privilege(f"{words} {shlex.quote(target)} ", False)
