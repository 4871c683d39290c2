"""The README's spec-field tables list exactly the fields the loaders accept (each spec module's
FIELDS, which its parser uses), so neither can drift from the other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dse.spec import chiplet, gpu_pim, workload

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def accepted(fields: dict) -> set[str]:
    return {(section + "." if section else "") + key for section, (req, opt) in fields.items() for key in req + opt}


def documented(heading: str) -> set[str]:
    body = README.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
    out: set[str] = set()
    for line in body.splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            out |= set(re.findall(r"`([^`]+)`", first))
    return out


@pytest.mark.parametrize("heading, module", [("Workload fields", workload), ("Chiplet hardware fields", chiplet),
                                             ("GPU/PIM hardware fields", gpu_pim)])
def test_readme_tables_match_the_loaders(heading, module):
    doc, acc = documented(heading), accepted(module.FIELDS)
    assert doc - acc == set(), f"in README but not accepted: {sorted(doc - acc)}"
    assert acc - doc == set(), f"accepted but not in README: {sorted(acc - doc)}"
