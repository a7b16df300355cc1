"""Errors the command line and the bot report as one clear line (the CLI exits 2), never as a traceback.

Any other exception reaching diagrambot.cli is a bug: still one line, exit code 1 (-v adds the traceback).
"""


class UserError(Exception):
    """Bad input or a missing file: the message says what to change."""
