"""``dse pareto``: the front of a results dataset as a table, a terminal scatter and CSV."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from dse.errors import DseError
from dse.output.front import non_dominated, parse_objectives
from dse.output.names import short_names


def front_of(frame, objectives: list[tuple[str, bool]], source: str):
    """Rows of ``frame`` on the Pareto front of ``objectives`` (infeasible rows excluded)."""
    numeric = [c for c in frame.columns if frame[c].dtype.kind in "fiu" and not c.startswith("param.")]
    for name, _ in objectives:
        if name not in numeric:
            shown = ", ".join(c for c in numeric if c.endswith(("_s", "_j", "_per_s", "_js", "_bytes", "_w")))
            raise DseError(source, "--objectives", f"a numeric metric column ({shown})", name)
    if "feasible" in frame.columns:
        frame = frame[frame["feasible"].astype(bool)]
    values = frame[[n for n, _ in objectives]].to_numpy(dtype=np.float64)
    mask = non_dominated(values, np.array([m for _, m in objectives]))
    # A stable order for equal objective values (part files are read in name order, which is random).
    keys = [name for name, _ in objectives] + [c for c in ("trial", "objective_weight", "mapping") if c in frame]
    front = frame[mask].sort_values(keys, ascending=[not m for _, m in objectives] + [True] * (len(keys) - len(objectives)),
                                    kind="mergesort")
    return frame.assign(on_front=mask), front


FIGURE_SUFFIXES = (".svg", ".html", ".png", ".pdf")


def pareto_report(results: Path, objectives_text: str | None, plot: bool, csv: Path | None, limit: int,
                  study: str | None = None, figure: Path | None = None,
                  mapping_view: Callable[[str, str], tuple[str, Callable[[str], str]]] | None = None) -> None:
    """``objectives_text`` None: the study's own objectives (Parquet metadata ``dse.objectives``,
    written by every search); a file without them needs ``--objectives``. Unreadable parts are
    skipped and named, duplicates dropped and counted; rows of several studies need ``study``.
    ``mapping_view(kind, source)``: the mapping column's title and a function shortening a row's
    mapping text, for the study's kind (the caller asks the registry; this module knows no kind)."""
    from rich.console import Console

    from dse.output.store import META_KIND, META_OBJECTIVES, load_dataset

    if csv is not None:
        from dse.output.store import check_output_file

        check_output_file(csv, "--csv")
    if figure is not None:
        from dse.output.store import check_output_file

        check_output_file(figure, "--figure")
        if figure.suffix.lower() not in FIGURE_SUFFIXES:
            raise DseError("--figure", str(figure), f"a file ending in one of {', '.join(FIGURE_SUFFIXES)}")
        if figure.suffix.lower() in (".png", ".pdf"):
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                raise DseError("--figure", str(figure), ".svg or .html, or matplotlib installed for PNG / PDF "
                               "(pip install '.[figures]' in dse's folder)") from None
    implied: list[str] = []
    if objectives_text is not None:
        objectives = _objectives(objectives_text)
        implied = [f"{n} {'maximised' if m else 'minimised'}" for n, m, i in _parsed(objectives_text) if i]
    data = load_dataset(results, study)
    meta = data.metadata
    if objectives_text is None:
        if META_OBJECTIVES.decode() not in meta:
            raise DseError(str(results), "--objectives", "objectives COL:max|min,... (the file names none)")
        objectives = _objectives(str(meta[META_OBJECTIVES.decode()]))
    mapping_title, summarise = "mapping", str
    if mapping_view is not None and META_KIND.decode() in meta:
        mapping_title, summarise = mapping_view(str(meta[META_KIND.decode()]), str(results))
    errors = Console(stderr=True, highlight=False)
    for path, reason in data.skipped:
        errors.print(f"dse: warning: skipped unreadable part {path} ({reason})", soft_wrap=True)
    frame = data.frame
    everything, front = front_of(frame, objectives, str(results))
    console = Console()
    if len(front) == 0:
        console.print(empty_front_reason(frame, objectives), soft_wrap=True)
        return
    names = [n for n, _ in objectives]
    params = [c for c in front.columns if c.startswith("param.")]
    # Designs with identical objective values (e.g. knobs of an idle chiplet) fold into one row.
    first = front.drop_duplicates(subset=names)
    alike = front.groupby(names, sort=False, dropna=False)[names[0]].transform("size")
    shown = first.assign(alike=alike.loc[first.index].to_numpy())
    arrows = ", ".join(f"{n} {'↑' if m else '↓'}" for n, m in objectives)
    name = meta.get("dse.study")
    where = f"{name} in {results}" if name and Path(results).name != name else str(results)
    title = f"Pareto front of {where}: {len(front)} of {len(frame)} designs ({arrows})"
    labels = dict(zip(params, short_names(params)))
    wanted = list(dict.fromkeys(c for c in names + params + ["latency_s", "trial", "alike"] if c in shown.columns))
    rows = [([_fmt(row[c]) for c in wanted], summarise(str(row.get("mapping", ""))))
            for _, row in shown.head(limit).iterrows()]
    # Columns by priority, dropped from the end until the table fits the terminal: the mapping,
    # then alike, trial, latency, then knobs from the last; the objectives always stay.
    order = [c for c in ("mapping", "alike", "trial", "latency_s") if c == "mapping" or c in wanted]
    order += [c for c in reversed(wanted) if c in params]
    hidden: list[str] = []
    while True:
        keep = [c for c in wanted if c not in hidden]
        table, need = _front_table(title, keep, labels, rows, wanted, None if "mapping" in hidden else mapping_title)
        if need <= console.width or not order:
            break
        hidden.append(order.pop(0))
    console.print(table)
    if hidden:
        console.print(f"hidden at {console.width} columns: {_hidden_note(hidden, labels, mapping_title)} "
                      "(a wider terminal, or --csv)")
    if implied:
        console.print(f"directions from the metric names (give :max or :min to choose): {', '.join(implied)}")
    console.print("alike: front designs with these same objective values; full mappings: --csv")
    notes = []
    if data.duplicates:
        notes.append(f"{data.duplicates} duplicate design rows dropped")
    if data.replaced:
        notes.append(f"{len(data.replaced)} parts superseded by a compacted part ignored")
    if data.skipped:
        notes.append(f"{len(data.skipped)} unreadable parts skipped")
    if data.other_studies:
        notes.append(f"{data.other_studies} rows of other studies left out")
    if notes:
        console.print("; ".join(notes))
    if len(shown) > limit:
        console.print(f"({len(shown) - limit} more front rows; --limit or --csv to see them)")
    if plot:
        console.print(scatter(everything[names[0]].to_numpy(float), everything[names[1]].to_numpy(float)
                              if len(names) > 1 else np.zeros(len(everything)),
                              everything["on_front"].to_numpy(bool), names[0], names[1] if len(names) > 1 else ""),
                      highlight=False)
    if csv is not None:
        from dse.output.store import atomic_write

        atomic_write(csv, "--csv", lambda tmp: front.to_csv(tmp, index=False))
        console.print(f"front written to {csv}")
    if figure is not None:
        write_figure(figure, everything, objectives, params, summarise, where, len(front), len(frame))
        console.print(f"figure written to {figure}")


def _hidden_note(hidden: list[str], labels: dict[str, str], mapping_title: str) -> str:
    """The hidden columns by name; more than four hidden knobs are counted, with the first and last
    named (a 6x6 mesh has 36 knobs)."""
    names = [labels.get(c, mapping_title if c == "mapping" else c) for c in hidden]
    knobs = [labels[c] for c in hidden if c in labels]
    if len(knobs) <= 4:
        return ", ".join(names)
    return ", ".join(n for n in names if n not in knobs) + f", {len(knobs)} knobs ({knobs[0]} … {knobs[-1]})"


def _front_table(title: str, keep: list[str], labels: dict, rows: list, wanted: list[str], mapping_title: str | None):
    """The front table of the columns ``keep`` (numbers and knob values never wrapped or cut, knobs
    by short name) and the width it needs."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  collapse_padding=True)
    index = [wanted.index(c) for c in keep]
    need = -2
    for col, i in zip(keep, index):
        head = labels.get(col, col)
        cell_width = max([len(cells[i]) for cells, _ in rows] or [0])
        if len(head) > cell_width and "." in head:          # a knob's name on two lines: ws0. / pe_array
            head = "\n".join(head.rsplit(".", 1)).replace("\n", ".\n")
        width = max([cell_width] + [len(part) for part in head.split("\n")])
        table.add_column(head, no_wrap=True, min_width=width, justify="left" if col in labels else "right")
        need += width + 2
    if mapping_title is not None:
        table.add_column(mapping_title, overflow="fold", min_width=20)
        need += 20 + 2
    for cells, mapping in rows:
        table.add_row(*[cells[i] for i in index], *([mapping] if mapping_title is not None else []))
    return table, need


def empty_front_reason(frame, objectives: list[tuple[str, bool]]) -> str:
    """Why a study has no front: no rows, every design infeasible (its most common violations), or
    no row with finite objective values."""
    if len(frame) == 0:
        return "no designs in these results (has the search written any part file?)"
    if "feasible" in frame.columns and not frame["feasible"].astype(bool).any():
        lines = [f"no feasible design: all {len(frame)} designs violate a constraint. Most common violations:"]
        if "violations" in frame.columns:
            import re

            each = frame["violations"].astype(str).str.split("; ").explode()
            each = each[each != ""]
            shape = each.map(lambda t: re.sub(r"\d+(\.\d+)?", "#", t))      # group by wording, not figures
            for form, n in shape.value_counts().head(5).items():
                lines.append(f"  {n} x {form}  (e.g. {each[shape == form].iloc[0]})")
        lines.append("Relax the spec (memory, devices, parallel degrees) or widen the knobs' choices.")
        return "\n".join(lines)
    names = ", ".join(n for n, _ in objectives)
    return f"no design has finite values of {names} among the {len(frame)} feasible ones"


def write_figure(path: Path, everything, objectives: list[tuple[str, bool]], params: list[str],
                 summarise: Callable[[str], str],
                 where: str, n_front: int, n_all: int) -> None:
    """The front of the first two objectives as a figure (dse.output.figure), written atomically."""
    from dse.output.figure import FrontFigure, front_html, front_matplotlib, front_svg
    from dse.output.store import atomic_write

    names = [n for n, _ in objectives]
    ycol = names[1] if len(names) > 1 else names[0]
    labels = []
    for _, row in everything.iterrows():
        knobs = ", ".join(f"{a}={_fmt(row[c])}" for a, c in zip(short_names(params), params))
        text = ", ".join(f"{n}={_fmt(row[n])}" for n in names)
        mapping = summarise(str(row.get("mapping", "")))
        labels.append("; ".join(t for t in (text, knobs, mapping) if t))
    fig = FrontFigure(everything[names[0]].to_numpy(float), everything[ycol].to_numpy(float),
                      everything["on_front"].to_numpy(bool), tuple(labels), names[0], ycol, objectives[0][1],
                      objectives[-1][1] if len(names) > 1 else objectives[0][1],
                      f"Pareto front of {where}: {n_front} of {n_all} designs")
    suffix = path.suffix.lower()
    if suffix == ".svg":
        atomic_write(path, "--figure", lambda tmp: tmp.write_text(front_svg(fig), encoding="utf-8"))
    elif suffix == ".html":
        atomic_write(path, "--figure", lambda tmp: tmp.write_text(front_html(fig), encoding="utf-8"))
    else:
        def draw(tmp: Path) -> None:
            front_matplotlib(fig, str(tmp), suffix[1:])

        atomic_write(path, "--figure", draw)


def _objectives(text: str) -> list[tuple[str, bool]]:
    return [(name, maximise) for name, maximise, _ in _parsed(text)]


def _parsed(text: str) -> list[tuple[str, bool, bool]]:
    try:
        return parse_objectives(text)
    except ValueError as exc:
        raise DseError("--objectives", str(exc), "COLUMN:max or COLUMN:min, comma separated") from None


def _fmt(value) -> str:
    if isinstance(value, float):       # 5 significant digits, exponents without '+' (1.5771e10)
        return f"{value:.5g}".replace("e+", "e") if math.isfinite(value) else str(value)
    text = str(value)
    return text if len(text) <= 90 else text[:87] + "..."


def scatter(x: np.ndarray, y: np.ndarray, front: np.ndarray, xname: str, yname: str,
            width: int = 64, height: int = 18) -> str:
    """A character scatter plot: '·' for designs, '●' for the front (drawn on top)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, front = x[ok], y[ok], front[ok]
    if len(x) == 0:
        return "(nothing to plot)"
    x0, x1, y0, y1 = x.min(), x.max(), y.min(), y.max()
    sx = (width - 1) / (x1 - x0) if x1 > x0 else 0.0
    sy = (height - 1) / (y1 - y0) if y1 > y0 else 0.0
    grid = [[" "] * width for _ in range(height)]
    for layer in (False, True):
        for xi, yi in zip(x[front == layer], y[front == layer]):
            col = int(round((xi - x0) * sx))
            row = height - 1 - int(round((yi - y0) * sy))
            grid[row][col] = "●" if layer else "·"
    ylab = [f"{y1:.4g}", f"{(y0 + y1) / 2:.4g}", f"{y0:.4g}"]
    pad = max(len(s) for s in ylab)
    lines = [f"{yname}  (● front, · other designs)"]
    for r, cells in enumerate(grid):
        label = ylab[0] if r == 0 else ylab[1] if r == height // 2 else ylab[2] if r == height - 1 else ""
        lines.append(f"{label:>{pad}} │" + "".join(cells))
    lines.append(" " * pad + " └" + "─" * width)
    lo, hi = f"{x0:.4g}", f"{x1:.4g}"
    lines.append(" " * (pad + 2) + lo + " " * max(1, width - len(lo) - len(hi)) + hi)
    lines.append(" " * (pad + 2) + xname.center(width))
    return "\n".join(lines)
