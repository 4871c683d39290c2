"""Generated bad input through the real CLI (tests/fuzz.py has the classes): every case ran or was
refused in one line; none printed a traceback, hung, printed a private file's content or wrote an
injected Slurm line. The same cases every run (seeded); ``DSE_PROPERTY_EXAMPLES=N`` runs N of them
(2,000 take ~6 minutes on 2 cores) and prints the table."""

from __future__ import annotations

import os

from tests.fuzz import CLASSES, run_cases, table

EXAMPLES = int(os.environ.get("DSE_PROPERTY_EXAMPLES", "0")) or 150


def test_generated_bad_input_is_refused_in_one_line_or_runs(tmp_path):
    cases = run_cases(EXAMPLES, seed=23, base=tmp_path, jobs=2)
    print("\n" + table(cases))
    bad = [f"{c.outcome}: [{c.cls}] {c.what}: {' '.join(c.argv)[:160]} -> {c.detail[:300]}"
           for c in cases if c.outcome not in ("ran", "refused")]
    assert bad == []
    assert {c.cls for c in cases} == set(CLASSES)
    # Both outcomes occur in every class that can run at all: the generator is not all refusals.
    assert {c.outcome for c in cases} == {"ran", "refused"}
