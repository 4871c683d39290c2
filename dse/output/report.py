"""``dse pareto``: the front of a results dataset as a table, a terminal scatter and CSV."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dse.errors import DseError
from dse.output.front import non_dominated, parse_objectives


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


def pareto_report(results: Path, objectives_text: str | None, plot: bool, csv: Path | None, limit: int,
                  study: str | None = None) -> None:
    """``objectives_text`` None: the study's own objectives (Parquet metadata ``dse.objectives``,
    written by every search); a file without them needs ``--objectives``. Unreadable parts are
    skipped and named, duplicates dropped and counted; rows of several studies need ``study``."""
    from rich.console import Console
    from rich.table import Table

    from dse.output.store import META_KIND, META_OBJECTIVES, load_dataset
    from dse.system.base import kind_named

    if csv is not None:
        from dse.output.store import check_output_file

        check_output_file(csv, "--csv")
    if objectives_text is not None:
        objectives = _objectives(objectives_text)
    data = load_dataset(results, study)
    meta = data.metadata
    if objectives_text is None:
        if META_OBJECTIVES.decode() not in meta:
            raise DseError(str(results), "--objectives", "objectives COL:max|min,... (the file names none)")
        objectives = _objectives(str(meta[META_OBJECTIVES.decode()]))
    kind = kind_named(str(meta[META_KIND.decode()]), str(results), "dse.kind") if META_KIND.decode() in meta else None
    errors = Console(stderr=True, highlight=False)
    for path, reason in data.skipped:
        errors.print(f"dse: warning: skipped unreadable part {path} ({reason})", soft_wrap=True)
    frame = data.frame
    everything, front = front_of(frame, objectives, str(results))
    console = Console()
    names = [n for n, _ in objectives]
    params = [c for c in front.columns if c.startswith("param.")]
    # Designs with identical objective values (e.g. knobs of an idle chiplet) fold into one row.
    first = front.drop_duplicates(subset=names)
    alike = front.groupby(names, sort=False, dropna=False)[names[0]].transform("size")
    shown = first.assign(alike=alike.loc[first.index].to_numpy())
    arrows = ", ".join(f"{n} {'↑' if m else '↓'}" for n, m in objectives)
    name = meta.get("dse.study")
    where = f"{name} in {results}" if name and Path(results).name != name else str(results)
    table = Table(title=f"Pareto front of {where}: {len(front)} of {len(frame)} designs ({arrows})")
    columns = list(dict.fromkeys(c for c in names + ["latency_s", "trial", "alike"] + params
                                 if c in shown.columns))
    for col in columns:
        table.add_column(_heading(col, params), overflow="fold")
    table.add_column(kind.mapping_title if kind else "mapping", overflow="fold")
    for _, row in shown.head(limit).iterrows():
        mapping = str(row.get("mapping", ""))
        table.add_row(*[_fmt(row[c]) for c in columns], kind.mapping_summary(mapping) if kind else mapping)
    console.print(table)
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


def _heading(col: str, params: list[str]) -> str:
    """A knob column's heading: its last path segment when no other knob shares it
    (``param.wl.models[0].transformer.training.microbatch_size`` -> ``microbatch_size``)."""
    if not col.startswith("param."):
        return col
    last = col.rsplit(".", 1)[-1]
    if sum(p.rsplit(".", 1)[-1] == last for p in params) == 1:
        return last
    return col.removeprefix("param.").removeprefix("hw.").removeprefix("wl.")


def _objectives(text: str) -> list[tuple[str, bool]]:
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
