"""`labtui init [--force]`: write a labtui.toml listing the flake's hosts, ready to add tags and checks."""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from labtui.cli.helptext import Examples, ExitStatus
from labtui.errors import UserError

if TYPE_CHECKING:
    from labtui.inventory.model import Inventory

HEADER = """\
# labtui settings for the hosts of {flake}.
# The flake says how to reach and deploy each host; this file adds what it does not say.
# Every key is described in docs/config.md.

"""

TOML_EXAMPLES = """
# Examples (uncomment and adapt).
# Health checks of one host, run after deploys and by `labtui check`
# (kinds: unit, http, tcp, command, disk, memory, load):
# [[hosts.{host}.checks]]
# kind = "http"
# url = "https://{hostname}/health"
#
# Checks for every host tagged "web":
# [[tags.web.checks]]
# kind = "unit"
# unit = "nginx.service"
#
# Defaults for `labtui deploy`:
# [deploy]
# parallel = 4
"""


EXAMPLES: Examples = (
    ("labtui init", "write labtui.toml beside the flake, one table per host"),
    ("labtui --config ~/.config/labtui/config.toml init --force", "write (or overwrite) the user's config instead"),
)
EXIT_STATUS: ExitStatus = {0: "the file was written"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="overwrite an existing labtui.toml")


def _toml_key(name: str) -> str:
    """A bare TOML key when possible, else a quoted one (`"example.com"`)."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def render(inventory: Inventory) -> bytes:
    """The file's bytes: a header comment, the hosts as TOML (tomli-w), then commented examples."""
    import tomli_w

    from labtui.inventory.model import DEFAULT_POLL_INTERVAL

    data = {
        "defaults": {"poll_interval": int(DEFAULT_POLL_INTERVAL)},
        "hosts": {h.name: {"tags": list(h.tags), "method": h.method, "critical": h.critical} for h in inventory.hosts},
    }
    first = inventory.hosts[0] if inventory.hosts else None
    examples = TOML_EXAMPLES.format(host=_toml_key(first.name) if first else "web1",
                               hostname=first.hostname if first else "web1.lan")
    text = HEADER.format(flake=inventory.flake_dir or inventory.flake) + tomli_w.dumps(data) + examples
    return text.encode()


def run(args: argparse.Namespace) -> int:
    from labtui.inventory.config import default_config_path
    from labtui.inventory.loader import load
    from labtui.paths import config_dir, open_private, private_dir

    inventory = load(flake=args.flake, config=None, use_config=False)
    flake_dir = Path(inventory.flake_dir) if inventory.flake_dir else None
    path = Path(args.config).expanduser() if args.config else default_config_path(flake_dir)
    content = render(inventory)
    try:
        if config_dir() in path.parents:
            private_dir(path.parent, base=config_dir())
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL refuses to replace a file that appeared meanwhile; --force truncates deliberately. The file names
        # the fleet's hosts: 0600 whatever the umask, like every file labtui writes.
        flags = os.O_WRONLY | (os.O_TRUNC if args.force else os.O_EXCL)
        with open(open_private(path, flags), "wb") as stream:
            stream.write(content)
    except FileExistsError:
        raise UserError(f"{path} already exists; edit it, or pass --force to replace it") from None
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}; pass --config PATH to write elsewhere") from None
    names = ", ".join(inventory.names())
    print(f"wrote {path} with {len(inventory.hosts)} hosts ({names}); add tags and checks there, "
          "then check it with `labtui hosts`")
    return 0
