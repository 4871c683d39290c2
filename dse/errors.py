"""The one error type users see: a single line naming file, field path and expectation."""

from __future__ import annotations


class DseError(Exception):
    """Bad input or an impossible request. The CLI prints ``str(err)`` and exits with code 2."""

    def __init__(self, source: str, path: str, expected: str, got: object = None):
        self.source = source
        self.path = path
        self.expected = expected
        self.got = got
        where = f"{source}: {path}" if path else source
        tail = "" if got is None else f", got {_short(got)}"
        super().__init__(f"{where}: expected {expected}{tail}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
