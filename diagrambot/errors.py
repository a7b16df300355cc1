"""Errors that the command line reports as one clear line (exit code 2), never as a traceback."""


class UserError(Exception):
    """Bad input or a missing file: the message says what to change."""
