"""README's tour of the chat works on the demo data: its typed lines are fed to the terminal
chat on a first start, and every line it shows (but `...`) is what newsbot prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def tour() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## A short tour of the chat", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.DOTALL)
    assert block is not None
    return block.group(1).splitlines()


def test_the_readme_tour_runs_on_the_demo_data(tmp_path: Path) -> None:
    lines = tour()
    typed = [line[2:] for line in lines if line.startswith("> ")]
    shown = [line for line in lines if not line.startswith("> ") and line.strip()]
    assert len(typed) >= 3 and len(shown) >= 10
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    environ |= {
        "NEWSBOT_DB": str(tmp_path / "newsbot.db"),
        "NEWSBOT_CONFIG": "",
        # One demo article at the start, as `make run` shows it; the next would come later.
        "NEWSBOT_DEMO_INTERVAL": "3600",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        # An empty line first: the terminal shows what is due (the first demo post) after
        # each line it reads, before the next, as it does at a keyboard before one types.
        input="\n" + "".join(line + "\n" for line in typed),
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    out = proc.stdout
    for line in shown:
        if line.strip() == "...":
            continue
        expected = line.removesuffix(" ...")
        assert expected in out, f"README shows {line!r}; newsbot printed:\n{out}"
