"""Suite-wide fixtures: every test runs with its own XDG dirs and a stable terminal environment."""

from __future__ import annotations

import pytest

NIX_CONFIG = "experimental-features = nix-command flakes\nsubstituters ="


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_STATE_HOME", "state"),
                     ("XDG_CACHE_HOME", "cache"), ("XDG_RUNTIME_DIR", "run")):
        (home / sub).mkdir()
        monkeypatch.setenv(var, str(home / sub))
    # Textual pops NO_COLOR in App.__init__ and snapshots assume colour.
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("NIX_CONFIG", NIX_CONFIG)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
