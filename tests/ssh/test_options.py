"""Which ciphers SshPool offers: AES-GCM first unless ssh_config names its own (labtui.ssh.options)."""

from __future__ import annotations

from pathlib import Path

from labtui.inventory.model import SshTarget
from labtui.ssh.options import PREFERRED_CIPHERS, ClientSettings, connect_kwargs, preview_options


def kwargs_for(config: list[str] | None) -> dict[str, object]:
    settings = ClientSettings(config=config)
    target = SshTarget(hostname="web1")
    return connect_kwargs(settings, target, "web1", preview_options(settings, target, "web1"))


def test_aes_gcm_is_offered_first_by_default():
    offered = kwargs_for(None)["encryption_algs"]
    assert isinstance(offered, list)
    assert tuple(offered[:2]) == PREFERRED_CIPHERS
    assert "chacha20-poly1305@openssh.com" in offered  # every default is still offered, only later


def test_ciphers_named_in_ssh_config_are_kept(tmp_path: Path):
    config = tmp_path / "ssh_config"
    config.write_text("Host web1\n  Ciphers chacha20-poly1305@openssh.com\n")
    assert "encryption_algs" not in kwargs_for([str(config)])
