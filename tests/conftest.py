"""Suite-wide fixtures: every test runs with its own XDG dirs and a stable terminal environment."""

from __future__ import annotations

import os

import pytest

# The testbed fixtures, registered once for the whole suite (a session fixture imported into several test modules
# would be set up once per module).
from tests.support.testbed import testbed, testbed_session  # noqa: F401

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


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the xdist_group marks
def pytest_collection_modifyitems(config, items):
    """Tests on the testbed run last: the session's testbed (and the machine-wide lock it holds) then lives only from
    the first of them to the end of the session, not while the rest of the suite runs."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: item.get_closest_marker("testbed") is not None)
        return
    # Under pytest-xdist (`make test` runs a worker per core) every testbed test goes to one worker (one testbed per
    # machine: another worker would wait on its lock for the first one's whole session), and first: the testbed's
    # minutes of waiting on hosts then overlap the rest of the suite on the other worker.
    items.sort(key=lambda item: item.get_closest_marker("testbed") is None)
    for item in items:
        if item.get_closest_marker("testbed") is not None:
            item.add_marker(pytest.mark.xdist_group("testbed"))
