"""Figures written without plotting libraries: the Pareto front as SVG (or HTML wrapping the SVG,
whose points show their design on hover), and PNG / PDF through matplotlib when it is installed
(``pip install '.[figures]'`` in dse's folder).

The knee of a front is the front design farthest from the straight line joining the front's two
extreme designs, both objectives scaled to [0, 1] over the front (the "maximum distance to the
chord" knee of Das, 1999; for two objectives it is the design where trading one objective for the
other changes most).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np

WIDTH, HEIGHT = 720, 480
LEFT, RIGHT, TOP, BOTTOM = 84, 24, 48, 64


@dataclass(frozen=True)
class FrontFigure:
    """What a front figure shows: every design's two objectives, which are on the front, a label per
    design (its knobs; shown on hover in HTML), the axis names with their directions, a title."""

    x: np.ndarray
    y: np.ndarray
    on_front: np.ndarray
    labels: tuple[str, ...]
    xname: str
    yname: str
    x_max: bool
    y_max: bool
    title: str


def knee(x: np.ndarray, y: np.ndarray) -> int:
    """Index (into x, y: the front's points) of the knee: the largest distance to the chord between
    the two extreme points after scaling each axis to [0, 1]; -1 for fewer than three points."""
    if len(x) < 3:
        return -1
    order = np.argsort(x, kind="mergesort")
    xs, ys = x[order], y[order]
    span_x = xs[-1] - xs[0] or 1.0
    span_y = (ys.max() - ys.min()) or 1.0
    u, v = (xs - xs[0]) / span_x, (ys - ys.min()) / span_y
    du, dv = u[-1] - u[0], v[-1] - v[0]
    norm = math.hypot(du, dv) or 1.0
    dist = np.abs(dv * (u - u[0]) - du * (v - v[0])) / norm
    best = int(np.argmax(dist))
    return int(order[best]) if dist[best] > 0.0 else -1


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / n
    step = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= m * step:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _num(v: float) -> str:
    return f"{v:.4g}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")


def _range(v: np.ndarray) -> tuple[float, float]:
    lo, hi = float(v.min()), float(v.max())
    pad = (hi - lo) * 0.06 or abs(lo) * 0.05 or 1.0
    return lo - pad, hi + pad


def _panel(out: list[str], x, y, front, labels, left: float, width: float,
           xr: tuple[float, float], yr: tuple[float, float], title: str, annotate: bool) -> None:
    """One scatter panel at ``left`` (``width`` wide) over the ranges ``xr``, ``yr``; points outside
    the ranges are left out (the zoomed panel)."""
    (x0, x1), (y0, y1) = xr, yr
    ph = HEIGHT - TOP - BOTTOM

    def px(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * width

    def py(v: float) -> float:
        return TOP + ph - (v - y0) / (y1 - y0) * ph

    inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    out.append(f'<text x="{left + width / 2}" y="{TOP - 8}" text-anchor="middle">{html.escape(title)}</text>')
    out.append(f'<rect x="{left}" y="{TOP}" width="{width}" height="{ph}" fill="none" stroke="#444"/>')
    for t in _ticks(x0, x1, 4):
        out.append(f'<line x1="{px(t):.1f}" y1="{TOP}" x2="{px(t):.1f}" y2="{TOP + ph}" stroke="#eee"/>'
                   f'<line x1="{px(t):.1f}" y1="{TOP + ph}" x2="{px(t):.1f}" y2="{TOP + ph + 5}" stroke="#444"/>'
                   f'<text x="{px(t):.1f}" y="{TOP + ph + 18}" text-anchor="middle">{_num(t)}</text>')
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + width}" y2="{py(t):.1f}" stroke="#eee"/>'
                   f'<line x1="{left - 5}" y1="{py(t):.1f}" x2="{left}" y2="{py(t):.1f}" stroke="#444"/>'
                   f'<text x="{left - 8}" y="{py(t) + 4:.1f}" text-anchor="end">{_num(t)}</text>')
    for i in np.flatnonzero(~front & inside):
        out.append(f'<circle cx="{px(x[i]):.1f}" cy="{py(y[i]):.1f}" r="2.5" fill="#bbb">'
                   f'<title>{html.escape(labels[i])}</title></circle>')
    idx = np.flatnonzero(front & inside)
    idx = idx[np.argsort(x[idx], kind="mergesort")]
    if len(idx) > 1:
        path = " ".join(f"{px(x[i]):.1f},{py(y[i]):.1f}" for i in idx)
        out.append(f'<polyline points="{path}" fill="none" stroke="#1f5fbf" stroke-width="1.2"/>')
    for i in idx:
        out.append(f'<circle cx="{px(x[i]):.1f}" cy="{py(y[i]):.1f}" r="4" fill="#1f5fbf">'
                   f'<title>{html.escape(labels[i])}</title></circle>')
    if not annotate or not len(idx):
        return
    marks = {int(idx[0]): "end", int(idx[-1]): "end"}
    k = knee(x[idx], y[idx])
    if k >= 0:
        marks[int(idx[k])] = "knee"
    placed: list[float] = []
    for i, what in sorted(marks.items(), key=lambda m: py(y[m[0]])):
        cx, cy = px(x[i]), py(y[i])
        if what == "knee":
            out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="8" fill="none" stroke="#c0392b" stroke-width="2"/>')
        ty = cy - 10
        while any(abs(ty - q) < 14 for q in placed):      # keep labels from overprinting
            ty += 14
        placed.append(ty)
        text = f"{'knee: ' if what == 'knee' else ''}{_num(x[i])}, {_num(y[i])}"
        anchor = "end" if cx > left + width * 0.6 else "start"
        dx = -12 if anchor == "end" else 12
        out.append(f'<text x="{cx + dx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" fill="#222">'
                   f'{html.escape(text)}</text>')


def front_svg(fig: FrontFigure) -> str:
    """Every design (grey), the front (blue, joined in x order), the knee (red ring) and the front's
    two ends, labelled. When the front spans under a quarter of either axis, a second panel zooms on
    it (hover a point in either panel for its design)."""
    ok = np.isfinite(fig.x) & np.isfinite(fig.y)
    x, y, front = fig.x[ok], fig.y[ok], fig.on_front[ok]
    labels = [lab for lab, k in zip(fig.labels, ok) if k]
    if len(x) == 0:
        x, y, front, labels = np.zeros(1), np.zeros(1), np.zeros(1, bool), [""]
    xr, yr = _range(x), _range(y)
    zoom = None
    if front.sum() >= 2:
        fx, fy = x[front], y[front]
        small = lambda v, r: (v.max() - v.min()) < 0.25 * (r[1] - r[0])  # noqa: E731
        if small(fx, xr) or small(fy, yr):
            zoom = (_range(fx), _range(fy))
    width = WIDTH if zoom is None else 2 * WIDTH - LEFT
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" '
           f'viewBox="0 0 {width} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{width}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">{html.escape(fig.title)}</text>']
    pw = WIDTH - LEFT - RIGHT
    _panel(out, x, y, front, labels, LEFT, pw, xr, yr, "all designs" if zoom else "", zoom is None)
    if zoom is not None:
        _panel(out, x, y, front, labels, WIDTH + LEFT * 0.5, pw, zoom[0], zoom[1], "zoom on the front", True)
    arrow = lambda m: "higher is better" if m else "lower is better"  # noqa: E731
    out.append(f'<text x="{width / 2}" y="{HEIGHT - 18}" text-anchor="middle">'
               f'{html.escape(fig.xname)} ({arrow(fig.x_max)})</text>')
    out.append(f'<text transform="translate(18 {TOP + (HEIGHT - TOP - BOTTOM) / 2}) rotate(-90)" '
               f'text-anchor="middle">{html.escape(fig.yname)} ({arrow(fig.y_max)})</text>')
    ly = HEIGHT - 22
    lx = LEFT
    out.append(f'<circle cx="{lx}" cy="{ly}" r="4" fill="#1f5fbf"/>'
               f'<text x="{lx + 10}" y="{ly + 4}">front ({int(front.sum())})</text>'
               f'<circle cx="{lx + 90}" cy="{ly}" r="2.5" fill="#bbb"/>'
               f'<text x="{lx + 100}" y="{ly + 4}">other ({int((~front).sum())})</text>'
               f'<circle cx="{lx + 190}" cy="{ly}" r="6" fill="none" stroke="#c0392b" stroke-width="2"/>'
               f'<text x="{lx + 200}" y="{ly + 4}">knee</text>')
    out.append("</svg>")
    return "\n".join(out)


def front_html(fig: FrontFigure) -> str:
    """A standalone HTML page: the SVG (hover a point for its design) and the front as a table."""
    rows = "".join(f"<tr><td>{_num(a)}</td><td>{_num(b)}</td><td>{html.escape(lab)}</td></tr>"
                   for a, b, lab, f in sorted(zip(fig.x, fig.y, fig.labels, fig.on_front), key=lambda r: r[0]) if f)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>" + html.escape(fig.title) + "</title>"
            "<style>body{font-family:Helvetica,Arial,sans-serif;margin:24px}table{border-collapse:collapse}"
            "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
            + front_svg(fig) + "<p>Hover a point for its design.</p><table><tr><th>" + html.escape(fig.xname)
            + "</th><th>" + html.escape(fig.yname) + "</th><th>design</th></tr>" + rows + "</table></body></html>")


def front_matplotlib(fig: FrontFigure, path: str, fmt: str) -> None:
    """PNG or PDF through matplotlib (an optional dependency)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f, ax = plt.subplots(figsize=(7.2, 4.8), dpi=150)
    ax.scatter(fig.x[~fig.on_front], fig.y[~fig.on_front], s=8, c="#bbb", label="other designs")
    order = np.argsort(fig.x[fig.on_front], kind="mergesort")
    fx, fy = fig.x[fig.on_front][order], fig.y[fig.on_front][order]
    ax.plot(fx, fy, "-o", c="#1f5fbf", ms=4, lw=1.2, label="Pareto front")
    k = knee(fx, fy)
    if k >= 0:
        ax.scatter([fx[k]], [fy[k]], s=120, facecolors="none", edgecolors="#c0392b", linewidths=2, label="knee")
    ax.set_xlabel(f"{fig.xname} ({'higher' if fig.x_max else 'lower'} is better)")
    ax.set_ylabel(f"{fig.yname} ({'higher' if fig.y_max else 'lower'} is better)")
    ax.set_title(fig.title, fontsize=10)
    ax.legend(fontsize=8)
    f.tight_layout()
    f.savefig(path, format=fmt)
    plt.close(f)


BREAKDOWN_SUFFIXES = (".svg", ".html")


def check_breakdown_path(path) -> None:
    """Before any work: ``dse evaluate --figure`` can write ``path`` (an .svg or .html file)."""
    from dse.errors import DseError
    from dse.output.store import check_output_file

    check_output_file(path, "--figure")
    if path.suffix.lower() not in BREAKDOWN_SUFFIXES:
        raise DseError("--figure", str(path), "a file ending in .svg or .html")


def breakdown_svg(title: str, what: str, bars: list[tuple[str, float, float]]) -> str:
    """Two horizontal bar charts side by side: each group's latency and energy share."""
    row_h, label_w, bar_w = 18, 260, 300
    height = TOP + row_h * max(1, len(bars)) + 40
    width = label_w + 2 * (bar_w + 120) + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="20" font-size="14">{html.escape(title)}: {html.escape(what)}</text>']
    for col, (name, idx, units) in enumerate((("latency", 1, (("s", 1.0), ("ms", 1e3), ("µs", 1e6))),
                                              ("energy", 2, (("J", 1.0), ("mJ", 1e3), ("µJ", 1e6))))):
        values = [b[idx] for b in bars]
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            continue
        # the largest unit in which the largest bar is at least 1
        unit, scale = next(((u, k) for u, k in units if max(finite) * k >= 1.0), units[-1])
        top = max(finite) or 1.0
        total = sum(finite) or 1.0
        x0 = label_w + col * (bar_w + 120)
        out.append(f'<text x="{x0}" y="{TOP - 10}">{name} ({unit}; share of the sum)</text>')
        for i, v in enumerate(values):
            if not math.isfinite(v):
                continue
            y = TOP + i * row_h
            w = bar_w * v / top
            out.append(f'<rect x="{x0}" y="{y}" width="{w:.1f}" height="{row_h - 4}" '
                       f'fill="{"#1f5fbf" if col == 0 else "#c0392b"}"><title>{html.escape(bars[i][0])}: '
                       f'{v * scale:.4g} {unit}</title></rect>')
            out.append(f'<text x="{x0 + w + 4:.1f}" y="{y + row_h - 7}">{v * scale:.4g} ({v / total:.0%})</text>')
    for i, (label, _, _) in enumerate(bars):
        out.append(f'<text x="{label_w - 8}" y="{TOP + i * row_h + row_h - 7}" text-anchor="end">'
                   f'{html.escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def write_breakdown(path, title: str, what: str, bars: list[tuple[str, float, float]]) -> None:
    """``dse evaluate --figure``: the breakdown bars (a kind's ``breakdown`` of its result) as SVG (or
    HTML around it), written atomically."""
    from dse.output.store import atomic_write

    svg = breakdown_svg(title, what, bars)
    text = svg if path.suffix.lower() == ".svg" else (
        "<!doctype html><html><head><meta charset='utf-8'><title>dse evaluate</title></head><body>" + svg
        + "<p>Hover a bar for its value.</p></body></html>")
    atomic_write(path, "--figure", lambda tmp: tmp.write_text(text, encoding="utf-8"))
