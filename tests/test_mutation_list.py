"""The mutation run's list stays applicable: every mutant's fragment is still in its file, so a
refactor cannot silently shrink `python tests/mutation.py` (which itself refuses to start otherwise)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_mutant_still_applies():
    spec = importlib.util.spec_from_file_location("dse_mutation", ROOT / "tests/mutation.py")
    mutation = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mutation)
    assert len(mutation.MUTANTS) >= 30
    for path, fragment, replacement, description, *tests in mutation.MUTANTS:
        source = (ROOT / path).read_text()
        assert mutation.apply(source, fragment, replacement) != source, description
