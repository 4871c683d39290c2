"""Terminal tables shared by the kinds' `dse evaluate` renderings."""

from __future__ import annotations


def per_op_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]):
    """A rich table: the first three columns (names) left-aligned, numbers right, the last (bound) left."""
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i < 3 or i == len(columns) - 1 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def knobs_line(params: dict) -> str:
    """``knobs: name=value, ...`` of a `dse evaluate` result (``(no knobs)`` when there are none)."""
    return "knobs: " + (", ".join(f"{k}={v}" for k, v in params.items()) or "(no knobs)")
