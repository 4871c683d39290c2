"""The one error type users see: a single line naming file, field path and expectation."""

from __future__ import annotations

from itertools import islice


class DseError(Exception):
    """Bad input or an impossible request. The CLI prints ``str(err)`` and exits with code 2."""

    def __init__(self, source: str, path: str, expected: str, got: object = None):
        self.source = source
        self.path = path
        self.expected = expected
        self.got = got
        shown = path if len(path) <= 120 else f"{path[:70]}...{path[-40:]}"   # a key may be 100 kB long
        where = f"{source}: {shown}" if path else source
        tail = "" if got is None else f", got {_short(got)}"
        super().__init__(f"{where}: expected {expected}{tail}")


def _short(value: object) -> str:
    """A bounded repr: at most 8 items per container, 3 levels deep, 80 characters, so a rejected
    value (a huge list, a long text) costs nothing to show and fits a line."""
    text = _bounded(value, 0)
    return text if len(text) <= 80 else text[:77] + "..."


def _bounded(value: object, depth: int) -> str:
    if isinstance(value, (dict, list, tuple)):
        opening, closing = "{}" if isinstance(value, dict) else "[]" if isinstance(value, list) else "()"
        if depth >= 3:
            return opening + "..." + closing
        if isinstance(value, dict):
            shown = [f"{_bounded(k, depth + 1)}: {_bounded(v, depth + 1)}" for k, v in islice(value.items(), 8)]
        else:
            shown = [_bounded(v, depth + 1) for v in islice(value, 8)]
        return opening + ", ".join(shown + (["..."] if len(value) > 8 else [])) + closing
    if isinstance(value, str) and len(value) > 80:
        return repr(value[:80]) + "..."
    return repr(value)


# What the model may raise for a design it cannot evaluate (a division by a knob driven to zero, a
# domain error): turned into a one-line error (dse evaluate) or an infeasible row (dse search).
MODEL_FAILURES = (ArithmeticError, ValueError)


def model_failure(exc: BaseException) -> str:
    """``ZeroDivisionError in pim_rates (dse/cost/roofline.py:75): division by zero`` — the
    exception and the innermost dse frame it came from, for a message or a violation."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/dse/" in f.filename.replace("\\", "/")]
    where = ""
    if frames:
        f = frames[-1]
        path = f.filename.replace("\\", "/")
        where = f" in {f.name} ({path[path.rindex('/dse/') + 1:]}:{f.lineno})"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}{where}" + (f": {text[:120]}" if text else "")
