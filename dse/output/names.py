"""Short names for knob columns: what `dse knobs`, `dse pareto` and `--set` call a knob."""

from __future__ import annotations


def _segments(name: str) -> list[str]:
    """``wl.models[0].transformer.batch`` -> ['models[0]', 'transformer', 'batch'] (prefix dropped)."""
    return name[3:].split(".") if name[:3] in ("wl.", "hw.") else name.split(".")


def short_names(names: tuple[str, ...] | list[str]) -> list[str]:
    """The shortest unique dotted suffix of each knob name: ``batch``, ``tp``, ``ws0.pe_array``
    (``pe_array`` alone is shared by four chiplets); the full name when no suffix is unique."""
    segs = [_segments(n) for n in names]
    out = []
    for i, parts in enumerate(segs):
        for k in range(1, len(parts) + 1):
            tail = parts[-k:]
            if all(other[-k:] != tail for j, other in enumerate(segs) if j != i):
                out.append(".".join(tail))
                break
        else:
            out.append(names[i])
    return out
