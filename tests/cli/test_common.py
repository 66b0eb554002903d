"""Helpers every verb shares."""

from __future__ import annotations

import argparse

import labtui.inventory
from labtui.cli import common
from labtui.inventory.model import Inventory


def test_every_verb_gets_the_inventory_warnings_on_stderr(monkeypatch, capsys):
    inventory = Inventory(flake=".", hosts=(), warnings=("unknown key `sshUsr` in `deploy.nodes.db1`",))
    monkeypatch.setattr(labtui.inventory, "load_inventory", lambda flake, config, schema: inventory)
    assert common.load_inventory(argparse.Namespace(flake=None, config=None)) is inventory
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "labtui: warning: unknown key `sshUsr` in `deploy.nodes.db1`\n"
