"""The README's spec-field tables list exactly the fields the loaders accept (the FIELDS dicts the
parsers use: the workload's, and each registered system kind's hardware fields), so neither can
drift from the other, and a new kind cannot land without its table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dse.spec import workload
from dse.system.base import REGISTRY, kind_named

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


def tables():
    yield "Workload fields", workload.FIELDS
    for name in REGISTRY:
        kind = kind_named(name)
        yield kind.fields_heading, kind.hardware_fields()


@pytest.mark.parametrize("heading, fields", list(tables()), ids=lambda v: v if isinstance(v, str) else "")
def test_readme_tables_match_the_loaders(heading, fields):
    assert f"### {heading}\n" in README, f"README has no table '### {heading}'"
    doc, acc = documented(heading), accepted(fields)
    assert doc - acc == set(), f"in README but not accepted: {sorted(doc - acc)}"
    assert acc - doc == set(), f"accepted but not in README: {sorted(acc - doc)}"
