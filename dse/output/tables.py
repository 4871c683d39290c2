"""Terminal tables shared by the kinds' `dse evaluate` renderings."""

from __future__ import annotations

import re


def per_op_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]], text_columns: int = 3):
    """A compact rich table: the first ``text_columns`` columns (names) and the last (bound) are
    text, left-aligned and folded when narrow; the numbers are right-aligned and never wrapped or
    cut (each column at least as wide as its widest number)."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for i, col in enumerate(columns):
        text = i < text_columns or i == len(columns) - 1
        if text:
            table.add_column(col, justify="left", overflow="fold")
        else:
            width = max([len(col)] + [len(r[i]) for r in rows])
            table.add_column(col, justify="right", no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*row)
    return table


def grouped(rows: list[dict], keys: tuple[str, ...], sums: tuple[str, ...], weight: str = "latency_s",
            count: str = "count") -> list[dict]:
    """Per-op rows folded into one row per distinct ``keys`` (in first-seen order): ``ops`` (rows),
    each of ``sums`` summed times the row's ``count``, ``bound`` the bound holding the largest share
    of ``weight`` (times count), and ``weighted_utilization`` (``utilization`` weighted by
    ``cycles`` x count) when the rows have both."""
    out: dict[tuple, dict] = {}
    for r in rows:
        k = tuple(r[key] for key in keys)
        g = out.setdefault(k, {**{key: r[key] for key in keys}, "ops": 0, **{f: 0.0 for f in sums},
                               "_bounds": {}, "_util": 0.0, "_cycles": 0.0})
        n = r.get(count, 1)
        g["ops"] += 1
        for f in sums:
            g[f] += r[f] * n
        g["_bounds"][r["bound"]] = g["_bounds"].get(r["bound"], 0.0) + r[weight] * n
        if "utilization" in r and "cycles" in r:
            g["_util"] += r["utilization"] * r["cycles"] * n
            g["_cycles"] += r["cycles"] * n
    result = []
    for g in out.values():
        bounds = g.pop("_bounds")
        g["bound"] = max(bounds, key=bounds.get) if bounds else ""
        util, cycles = g.pop("_util"), g.pop("_cycles")
        if cycles:
            g["weighted_utilization"] = util / cycles
        result.append(g)
    return result


def knobs_line(params: dict) -> str:
    """``knobs: batch=8, tp=4, ...`` of a `dse evaluate` result, by short name (``(no knobs)`` when
    there are none); ``--json`` keeps the full names."""
    from dse.output.names import short_names

    return "knobs: " + (", ".join(f"{a}={v}" for a, v in zip(short_names(list(params)), params.values()))
                        or "(no knobs)")


_NUMBER = re.compile(r"^[($~≈<>=+-]*\d[\d,.]*(e[+-]?\d+)?[%x×)]*[,;:)]*$")
_UNIT = re.compile(r"^(ms|s|µs|us|ns|J|mJ|µJ|J·s|J/token|W|B|KB|MB|GB|TB|MB/frame|mJ/frame|frames/s|tokens/s|req/s|"
                   r"microbatches/s|GPUs?|steps|of)[,;:)]*$")


def wrap_fields(line: str, width: int) -> list[str]:
    """``line`` broken at spaces into pieces of at most ``width`` characters, never between a label
    and the number after it nor between a number and its unit (``EDP 0.03199 J·s``, ``p99 95.79
    ms``); a glued run longer than the width stands alone on its piece. Rich wraps at any space."""
    words = line.split(" ")
    runs: list[str] = []
    for i, w in enumerate(words):
        glue = runs and w and (_NUMBER.match(w) or (_UNIT.match(w) and _NUMBER.match(words[i - 1] or "x")))
        if glue and runs[-1]:
            runs[-1] += " " + w
        else:
            runs.append(w)
    pieces: list[str] = []
    cur = ""
    for run in runs:
        if cur and len(cur) + 1 + len(run) > width:
            pieces.append(cur.rstrip())
            cur = run
        else:
            cur = run if not cur else cur + " " + run
    pieces.append(cur)
    return pieces


def print_wrapped(console, text: str, **kwargs) -> None:
    """Print ``text`` line by line through :func:`wrap_fields` at the console's width."""
    for line in text.split("\n"):
        for piece in wrap_fields(line, console.width):
            console.print(piece, no_wrap=True, overflow="ignore", crop=False, **kwargs)
