"""Which nixos-rebuild is on PATH (the bash script or nixos-rebuild-ng, and its release) decides the flags labtui
passes: `--use-remote-sudo`/`--fast` for the bash script, `--sudo`/`--ask-sudo-password`/`--no-reexec` for
nixos-rebuild-ng (docs/deploy-rs-output.md §14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labtui.deploy.commands import NixosRebuildOptions, NixosRebuildTool, nixos_rebuild_command
from labtui.deploy.methods.nixos_rebuild import NixosRebuild, detect_nixos_rebuild
from labtui.deploy.request import Action, DeployRequest
from labtui.errors import UserError
from labtui.inventory.model import Host, Profile, SshTarget

BASH = "#! /bin/bash\n# shellcheck shell=bash\nshowSyntax() {\n    exec man nixos-rebuild\n}\n"
# what nixpkgs' buildPythonApplication installs: a makeWrapper script around the Python entry point
NG_WRAPPER = ('#! /nix/store/abc-bash-5.2/bin/bash -e\nexport PATH=\'/nix/store/def-nix-2.24/bin\'\n'
              'exec -a "$0" "{store}/bin/.nixos-rebuild-wrapped"  "$@"\n')
NG_ENTRY = ("#!/nix/store/ghi-python3-3.12/bin/python3.12\nimport re\nimport sys\nfrom nixos_rebuild import main\n"
            "if __name__ == '__main__':\n    sys.exit(main())\n")


def program(tmp_path: Path, text: str, where: str = "bin") -> str:
    path = tmp_path / where / "nixos-rebuild"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def test_the_bash_script(tmp_path):
    assert detect_nixos_rebuild(program(tmp_path, BASH)) == NixosRebuildTool("bash")


def test_nixos_rebuild_ng_by_its_wrapper(tmp_path):
    store = "/nix/store/9h8g7f6d5s4a3p2o1i0u9y8t7r6e5w4q-nixos-rebuild-ng-25.05"
    assert detect_nixos_rebuild(program(tmp_path, NG_WRAPPER.format(store=store))) == NixosRebuildTool("ng", (25, 5))


def test_nixos_rebuild_ng_by_its_store_path_and_entry_point(tmp_path):
    path = program(tmp_path, NG_ENTRY, where="0a1b-nixos-rebuild-ng-24.11/bin")
    assert detect_nixos_rebuild(path) == NixosRebuildTool("ng", (24, 11))
    assert detect_nixos_rebuild(program(tmp_path, NG_ENTRY, where="x/bin")) == NixosRebuildTool("ng", None)


def test_found_on_path(tmp_path, monkeypatch):
    store = "/nix/store/x-nixos-rebuild-ng-25.11"
    monkeypatch.setenv("PATH", str(Path(program(tmp_path, NG_WRAPPER.format(store=store))).parent))
    assert detect_nixos_rebuild(None) == NixosRebuildTool("ng", (25, 11))


def test_the_emulator_is_the_bash_script(tmp_path):
    from labtui.sim.emulators import install_emulators

    assert detect_nixos_rebuild(str(install_emulators(tmp_path) / "nixos-rebuild")).flavour == "bash"


def host(*, user="deploy", interactive_sudo=False) -> Host:
    profile = Profile(name="system", ssh_user=user, user="root", interactive_sudo=interactive_sudo)
    return Host(name="web1", hostname="web1.lab", ssh=SshTarget(hostname="web1.lab"), profiles=(profile,))


@pytest.mark.parametrize("tool, sudo, no_reexec", [
    (NixosRebuildTool("bash"), "--use-remote-sudo", "--fast"),
    (NixosRebuildTool("ng", (24, 11)), "--sudo", "--fast"),
    (NixosRebuildTool("ng", (25, 5)), "--sudo", "--no-reexec"),
    (NixosRebuildTool("ng", None), "--sudo", "--no-reexec"),
])
def test_flags_by_tool(tool, sudo, no_reexec):
    argv, _env = nixos_rebuild_command(".", host(), "switch", NixosRebuildOptions(reexec=False), tool=tool)
    assert sudo in argv and no_reexec in argv
    assert "--use-remote-sudo" not in argv or tool.flavour == "bash"


def test_ask_sudo_password_is_ng_only():
    argv, _ = nixos_rebuild_command(".", host(), "switch", NixosRebuildOptions(ask_sudo_password=True),
                                    tool=NixosRebuildTool("ng", (25, 5)))
    assert "--ask-sudo-password" in argv and "--sudo" not in argv  # it implies --sudo
    with pytest.raises(UserError, match="cannot ask for web1's sudo password"):
        nixos_rebuild_command(".", host(), "switch", NixosRebuildOptions(ask_sudo_password=True),
                              tool=NixosRebuildTool("bash"))


def test_interactive_sudo_host_with_ng_gets_a_terminal_for_the_prompt(tmp_path, monkeypatch):
    store = "/nix/store/x-nixos-rebuild-ng-25.05"
    monkeypatch.setenv("PATH", str(Path(program(tmp_path, NG_WRAPPER.format(store=store))).parent))
    request = DeployRequest(targets=[("web1", None)], method="nixos-rebuild", action=Action.SWITCH, flake=".")
    (job,) = NixosRebuild().plan(request, {"web1": host(interactive_sudo=True)})
    assert "--ask-sudo-password" in job.argv and job.use_pty
    (job,) = NixosRebuild().plan(request, {"web1": host()})
    assert "--sudo" in job.argv and not job.use_pty


def test_ng_exit_status_is_read_from_a_saved_log():
    lines = ["building the system configuration...",
             "Command '['ssh', 'root@web1', '--', 'env', '/nix/store/x/bin/switch-to-configuration', 'switch']' "
             "returned non-zero exit status 4."]
    assert NixosRebuild().infer_exit_code(lines) == 4
