"""`labtui demo` on a real terminal: quitting is exit 0, a crashed TUI is not (issue 13 point 7)."""

from __future__ import annotations

import os
import sys
import textwrap

from tests.packaging.nixpkgs_style import REPO
from tests.packaging.pty_session import run_in_pty


def test_the_demo_quits_with_q_and_exit_0(tmp_path):
    result = run_in_pty([sys.executable, "-m", "labtui", "demo", "--no-ticker"], env=dict(os.environ), cwd=REPO,
                        wait_for="grey-area", keys=b"q")
    assert result.returncode == 0, result.output[-2000:]


def test_the_demo_exits_non_zero_when_the_tui_crashed(tmp_path):
    script = textwrap.dedent("""\
        import sys
        from textual.app import App

        import labtui.tui.assemble as assemble
        from labtui.cli.main import main


        class Crashing(App):
            def on_mount(self) -> None:
                raise RuntimeError("the TUI crashed on purpose")


        assemble.build_app = lambda *args, **kwargs: Crashing()
        sys.exit(main(["demo", "--no-ticker"]))
        """)
    result = run_in_pty([sys.executable, "-c", script], env=dict(os.environ), cwd=REPO)
    assert "the TUI crashed on purpose" in result.output
    assert result.returncode == 1, result.output[-2000:]
