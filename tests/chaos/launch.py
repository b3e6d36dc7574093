"""`newsbot run` with discord.py pointed at a fake Discord on 127.0.0.1, for the chaos suite.

discord.py has no setting for its API root or gateway; the in-process end-to-end tests patch
them with patch_discord, and this does the same in the child process, then runs the real CLI.
"""

from __future__ import annotations

import os
import sys

from bot.cli import main as newsbot
from tests.fakes.discord_api import patch_discord


def main() -> int:
    api, gateway = os.environ["CHAOS_DISCORD_API"], os.environ["CHAOS_DISCORD_GATEWAY"]
    for url in (api, gateway):
        host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        if host != "127.0.0.1":
            raise SystemExit(f"refusing to point discord.py at {url}: not 127.0.0.1")
    with patch_discord(api, gateway):
        return newsbot(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
