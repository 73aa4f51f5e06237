"""A mistake the user of ``python -m pipelines`` can fix: its message says what and how, in one line."""


class CommandError(RuntimeError):
    """Printed as it is, in place of a traceback."""
