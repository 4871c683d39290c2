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


# The shared GPU layer's fields (gpu.*, cluster.*) have one table for every GPU-side kind.
SHARED = "GPU, link and cluster fields"
SHARED_SECTIONS = ("gpu.", "cluster.", "pim[].", "interconnect.")


@pytest.mark.parametrize("heading, fields", list(tables()), ids=lambda v: v if isinstance(v, str) else "")
def test_readme_tables_match_the_loaders(heading, fields):
    assert f"### {heading}\n" in README, f"README has no table '### {heading}'"
    doc, acc = documented(heading), accepted(fields)
    own = {k for k in acc if not k.startswith(SHARED_SECTIONS)}
    assert doc - own == set(), f"in README but not accepted (or in the shared table): {sorted(doc - own)}"
    assert own - doc == set(), f"accepted but not in README: {sorted(own - doc)}"
    assert acc - own <= documented(SHARED), f"not in '{SHARED}': {sorted(acc - own - documented(SHARED))}"


def test_shared_gpu_table_lists_only_accepted_fields():
    everything = set().union(*(accepted(fields) for _, fields in tables()))
    shared = documented(SHARED)
    assert shared and all(k.startswith(SHARED_SECTIONS) for k in shared)
    assert shared - everything == set(), sorted(shared - everything)


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation other than '-' dropped, spaces to '-'."""
    return re.sub(r"[^a-z0-9 \-]", "", heading.strip().lower()).replace(" ", "-")


def test_internal_links_reach_a_heading():
    anchors = {github_anchor(line.lstrip("#")) for line in README.splitlines() if line.startswith("#")}
    links = set(re.findall(r"\]\(#([^)]+)\)", README))
    assert links, "the README links its own sections"
    assert links <= anchors, f"links to no heading: {sorted(links - anchors)}"


def test_every_table_row_has_its_header_cells():
    """A row whose cells do not match its header (an unescaped | in a meaning, a lost cell) renders
    as a broken table."""
    header = 0
    for line in README.splitlines():
        if not line.startswith("|"):
            header = 0
            continue
        cells = len(re.split(r"(?<!\\)\|", line.strip())) - 2
        if header == 0:
            header = cells
        assert cells == header, line[:80]


def test_readme_is_a_manual_not_a_book():
    """Issue 22: at most 45 KB; algorithm and model narratives live in the docstrings."""
    assert len(README.encode()) <= 45 * 1024
