"""Pareto correctness on a known point set; Parquet parts round trip with metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dse.output.front import non_dominated
from dse.output.store import META_HARDWARE, read_dataset, read_metadata, write_part


def test_known_front_max_min():
    # (throughput ↑, energy ↓). By hand: A(10, 5) and B(8, 3) and E(12, 9) are not dominated;
    # C(9, 6) is dominated by A; D(8, 4) by B; F(10, 5) ties A exactly and is kept with it;
    # G has a NaN and is never on the front.
    pts = np.array([[10, 5], [8, 3], [9, 6], [8, 4], [12, 9], [10, 5], [np.nan, 1]])
    mask = non_dominated(pts, np.array([True, False]))
    assert mask.tolist() == [True, True, False, False, True, True, False]


def test_front_three_objectives_random_against_definition():
    rng = np.random.default_rng(7)
    pts = rng.integers(0, 6, size=(300, 3)).astype(float)   # many ties on purpose
    mask = non_dominated(pts, np.array([False, False, False]))
    for i in range(len(pts)):
        dominated = np.any(np.all(pts <= pts[i], axis=1) & np.any(pts < pts[i], axis=1))
        assert mask[i] == (not dominated)


def test_parquet_parts_round_trip(tmp_path):
    meta = {META_HARDWARE: json.dumps({"name": "h"}).encode()}
    write_part(tmp_path / "s", "part-w1.parquet", [{"trial": 0, "energy_j": 1.5, "mapping": "m=a*2"}], meta)
    write_part(tmp_path / "s", "part-w2.parquet", [{"trial": 1, "energy_j": 0.5, "mapping": "m=b*2", "extra": 3.0}], meta)
    files = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert len(files) == 2 and all(f.startswith("part-w") and f.endswith(".parquet") for f in files)
    frame = read_dataset(tmp_path / "s").sort_values("trial")
    assert frame["energy_j"].tolist() == [1.5, 0.5]
    assert frame["mapping"].tolist() == ["m=a*2", "m=b*2"]
    assert np.isnan(frame["extra"].iloc[0]) and frame["extra"].iloc[1] == 3.0
    assert read_metadata(tmp_path / "s")["dse.hardware"] == {"name": "h"}


def test_part_is_written_atomically(tmp_path, monkeypatch):
    # A writer that dies part-way (here: the Parquet writer raises after writing some bytes) leaves
    # no part file under its final name and no temp file: readers never see half a file. While the
    # bytes are being written, no file a reader would pick up (part-*.parquet) may exist: a kill -9
    # at that moment runs no clean-up.
    import pyarrow.parquet as pq

    import dse.output.store as store

    visible_while_writing = []

    def dying_write(table, handle, **kw):
        handle.write(b"PAR1 half a file")
        handle.flush()
        visible_while_writing.extend(p.name for p in store.part_files_or_none(tmp_path / "s"))
        raise OSError("killed")

    monkeypatch.setattr(pq, "write_table", dying_write)
    with pytest.raises(OSError):
        store.write_part(tmp_path / "s", "part-w.parquet", [{"trial": 0}], {})
    assert visible_while_writing == []
    assert list((tmp_path / "s").iterdir()) == []
    monkeypatch.undo()
    final = store.write_part(tmp_path / "s", "part-w.parquet", [{"trial": 0}], {})
    assert [p.name for p in (tmp_path / "s").iterdir()] == [final.name]


def _rows(study, trials, sha="a"):
    # Design identity: study, spec hashes, param.* and mapping (store.STUDY_KEY + knobs + mapping).
    return [{"study": study, "workload_sha": sha, "hardware_sha": "h", "param.hw.x": t % 3, "mapping": f"m{t % 3}",
             "trial": t, "energy_j": float(t % 3)} for t in trials]


def test_dataset_dedups_skips_unreadable_and_refuses_mixed_studies(tmp_path):
    from dse.output.store import load_dataset

    folder = tmp_path / "s"
    write_part(folder, "part-w0-a.parquet", _rows("s", [0, 1]), {})
    write_part(folder, "part-w1-b.parquet", _rows("s", [2, 3, 4]), {})      # trials 3, 4 repeat designs 0, 1
    (folder / "part-w2-c.parquet").write_bytes(b"PAR1 truncated")
    data = load_dataset(folder)
    # 5 rows, 3 distinct designs (x = 0, 1, 2): 2 dropped; the truncated part skipped and named.
    assert len(data.frame) == 3 and data.duplicates == 2
    assert [p.name for p, _ in data.skipped] == ["part-w2-c.parquet"]
    write_part(tmp_path / "t", "part-w0-d.parquet", _rows("t", [0]), {})
    write_part(tmp_path / "t2", "part-w0-e.parquet", _rows("s", [0], sha="b"), {})   # same name, other specs
    with pytest.raises(Exception, match="3 studies: s \\(workload a"):
        load_dataset(tmp_path)
    assert len(load_dataset(tmp_path, "t").frame) == 1
    with pytest.raises(Exception, match="these share a name but not their specs"):
        load_dataset(tmp_path, "s")


def test_compact_is_atomic_for_readers(tmp_path):
    from dse.output.store import compact, load_dataset

    folder = tmp_path / "s"
    write_part(folder, "part-w0-a.parquet", _rows("s", [0, 1]), {b"dse.objectives": b"energy_j:min"})
    write_part(folder, "part-w1-b.parquet", _rows("s", [2, 3]), {})
    before = {p.name: p.read_bytes() for p in folder.glob("part-*.parquet")}
    final, replaced, dropped, skipped = compact(folder)
    assert (replaced, dropped, skipped) == (2, 1, [])                  # trial 3 repeats trial 0's design
    assert [p.name for p in folder.glob("part-*.parquet")] == [final.name]
    data = load_dataset(folder)
    assert len(data.frame) == 3 and data.metadata["dse.objectives"] == "energy_j:min"
    # A crash between the rename and the deletes leaves old and new parts side by side: still each row once.
    for name, raw in before.items():
        (folder / name).write_bytes(raw)
    data = load_dataset(folder)
    assert len(data.frame) == 3 and data.duplicates == 0 and len(data.replaced) == 2


def test_a_foreign_part_with_a_text_objective_is_one_line_not_a_traceback(tmp_path):
    """A part whose objective column holds text (not written by dse): compact refuses it naming the
    column, status still reports the best numeric value (issue 23: both were tracebacks)."""
    from dse.errors import DseError
    from dse.output.store import compact
    from dse.search.status import status

    folder = tmp_path / "s"
    write_part(folder, "part-w0-a.parquet", _rows("s", [0, 1]), {b"dse.objectives": b"energy_j:min"})
    text = [{**r, "energy_j": str(r["energy_j"]), "feasible": True} for r in _rows("s", [2])]
    write_part(folder, "part-w1-b.parquet", text, {})
    with pytest.raises(DseError) as err:
        compact(folder)
    assert str(err.value) == (f"{folder}: energy_j: expected parts whose columns have one type each (is one of the "
                              "parts not written by dse?), got 'values of float and str'")
    assert len(list(folder.glob("part-*.parquet"))) == 2                  # nothing rewritten
    (st,) = status(tmp_path / "s")
    assert st.rows == 3 and st.best == {"energy_j": 0.0}                 # rows 0, 1 (numbers) and '2.0'


def test_things_named_like_parts_that_are_not_files_are_skipped_and_named(tmp_path):
    """A folder and a FIFO named part-*.parquet are not parts: a reader skips them, naming each
    'not a regular file'; with nothing else there, the error names one (the fuzz found compact's
    traceback on a folder)."""
    import os

    from dse.errors import DseError
    from dse.output.store import load_dataset

    (tmp_path / "part-dir.parquet").mkdir()
    os.mkfifo(tmp_path / "part-fifo.parquet")
    with pytest.raises(DseError, match="part-dir.parquet is not a regular file"):
        load_dataset(tmp_path)
    write_part(tmp_path, "part-real.parquet", [{"study": "s", "trial": 0, "x": 1.0}], {})
    data = load_dataset(tmp_path)
    assert len(data.frame) == 1 and [f.name for f in data.parts] == ["part-real.parquet"]
    assert [(f.name, why) for f, why in data.skipped] == [("part-dir.parquet", "not a regular file"),
                                                           ("part-fifo.parquet", "not a regular file")]
