"""TEST TOOL, not a product: run the real `diagrambot` command against a loopback Discord server.

    python tests/loopback_launch.py http://127.0.0.1:PORT -- -v bot --config config.toml

points discord.py's REST base (`discord.http.Route.BASE`, which the webhook adapter behind
interaction callbacks and follow-ups uses too) and its default gateway URL at the server started
by tests/discord_loopback.py, then calls `diagrambot.cli.main` with the arguments after `--`,
exactly as the `diagrambot` console script does. The product has no hook for this: the pointing
lives here only. The token comes from the environment, as for a user (DISCORD_TOKEN).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the project, importable without an install too


def main(argv: list[str]) -> int:
    if len(argv) < 2 or "--" not in argv:
        print("usage: loopback_launch.py http://127.0.0.1:PORT -- DIAGRAMBOT-ARGS...", file=sys.stderr)
        return 2
    base = argv[0].rstrip("/")
    cli_args = argv[argv.index("--") + 1 :]
    if str(ROOT) not in sys.path:
        sys.path.insert(1, str(ROOT))
    import discord.gateway
    import discord.http
    import yarl

    discord.http.Route.BASE = f"{base}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(base.replace("http://", "ws://", 1) + "/")
    from diagrambot.cli import main as diagrambot_main

    return diagrambot_main(cli_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
