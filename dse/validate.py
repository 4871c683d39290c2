"""``dse validate``: the shipped reference cases -- published and measured figures with their source,
a tolerance and the reason for it -- computed with dse's own model. Every system kind supplies its
own (dse.system.base.SystemKind.reference_cases: ``validate_cases.yaml`` and ``cases.py`` in its
package); this module knows no kind.

A case names one of its kind's computations (``compute``) and its arguments; the specs it reads are
the bundled workloads/ and hardware/ files (dse.spec.bundled: next to the package in a checkout,
under ``<prefix>/share/dse`` once installed). A case marked ``must`` has to hold for ``dse validate`` to
exit 0; the others are known, named deviations, shown so that nobody mistakes them for agreement.

Tolerances (``tolerance`` in a case):
    rel: r          |dse / reference - 1| <= r
    abs: a          |dse - reference| <= a
    band: [lo, hi]  lo <= dse / reference <= hi
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Case:
    name: str
    group: str
    compute: str
    args: dict
    reference: float
    unit: str
    source: str
    tolerance: dict
    must: bool
    reason: str
    kind: str = ""          # the system kind whose computation ``compute`` names

    def within(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        tol = self.tolerance
        if "rel" in tol:
            return abs(value / self.reference - 1.0) <= tol["rel"] + 1e-12
        if "abs" in tol:
            return abs(value - self.reference) <= tol["abs"] + 1e-12
        lo, hi = tol["band"]
        return lo <= value / self.reference <= hi

    def tolerance_text(self) -> str:
        tol = self.tolerance
        if "rel" in tol:
            return "exact" if tol["rel"] < 1e-6 else f"±{tol['rel'] * 100:g} %"
        if "abs" in tol:
            return f"±{tol['abs']:g}"
        return f"{tol['band'][0]:g}-{tol['band'][1]:g}x"


def load_cases() -> list[Case]:
    """Every registered kind's cases, in registry order."""
    from dse.system.base import REGISTRY, kind_named

    out = []
    for name in REGISTRY:
        for raw in kind_named(name).reference_cases():
            out.append(Case(name=raw["name"], group=raw["group"], compute=raw["compute"], args=raw.get("args", {}),
                            reference=float(raw["reference"]), unit=raw["unit"], source=raw["source"],
                            tolerance=raw["tolerance"], must=bool(raw["must"]), reason=raw["reason"], kind=name))
    return out


def run(cases: list[Case]) -> list[dict[str, Any]]:
    from dse.system.base import kind_named

    results = []
    for case in cases:
        value = kind_named(case.kind).compute_case(case.compute, case.args)
        results.append({
            "name": case.name, "group": case.group, "dse": value, "reference": case.reference, "unit": case.unit,
            "ratio": value / case.reference if case.reference else float("nan"),
            "within_tolerance": case.within(value), "tolerance": case.tolerance_text(), "must": case.must,
            "source": case.source, "reason": case.reason})
    return results


def summary(results: list[dict]) -> dict:
    must = [r for r in results if r["must"]]
    return {"cases": len(results), "within_tolerance": sum(r["within_tolerance"] for r in results),
            "must": len(must), "must_held": sum(r["within_tolerance"] for r in must),
            "ok": all(r["within_tolerance"] for r in must)}


def report(cases: list[Case], as_json: bool) -> bool:
    """Run the cases and print them (a table per group and the deviations' reasons, or JSON);
    True when every ``must`` case holds."""
    import json

    from dse.point import strict

    results = run(cases)
    summ = summary(results)
    if as_json:
        print(json.dumps(strict({"cases": results, "summary": summ}), indent=2, allow_nan=False))
        return summ["ok"]
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="dse validate: dse beside published and measured figures", title_justify="left",
                  show_edge=False, pad_edge=False)
    for col, justify in (("case", "left"), ("dse", "right"), ("reference", "right"), ("ratio", "right"),
                         ("tol.", "right"), ("ok", "center")):
        table.add_column(col, justify=justify, no_wrap=col != "case", overflow="fold")
    group = None
    for r in results:
        if r["group"] != group:
            group = r["group"]
            table.add_section()
            table.add_row(f"[bold]{group}[/bold]", "", "", "", "", "")
        mark = "✓" if r["within_tolerance"] else ("✗" if r["must"] else "·")
        table.add_row(r["name"], f"{r['dse']:.4g}", f"{r['reference']:.4g}", f"{r['ratio']:.3f}", r["tolerance"], mark)
    console.print(table)
    console.print("ok: ✓ within tolerance, ✗ a must case outside it (fails the run), · a known deviation")
    off = [r for r in results if not r["within_tolerance"]]
    if off:
        console.print("\n[bold]Outside tolerance, and why[/bold]")
        for r in off:
            console.print(f"- {r['name']} ({'MUST' if r['must'] else 'known deviation'}): {r['reason']}")
    console.print(f"\n{summ['cases']} cases, {summ['within_tolerance']} within tolerance; "
                  f"{summ['must_held']} of {summ['must']} must cases hold"
                  + ("" if summ["ok"] else " -- FAILED"))
    return summ["ok"]
