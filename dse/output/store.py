"""Results dataset: ``<out>/<study>/part-<worker>-<uuid>.parquet``, one immutable file per flush.

Each part is written to a hidden temp name in the same folder, fsynced, then renamed, so a reader
never sees half a file and a killed worker loses at most its unflushed rows. The specs' JSON lives
in each file's key-value metadata (``dse.workload``, ``dse.hardware``) next to the tool version.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from dse.errors import DseError

META_WORKLOAD = b"dse.workload"
META_HARDWARE = b"dse.hardware"
META_VERSION = b"dse.version"
META_OBJECTIVES = b"dse.objectives"     # the study's objectives, COL:max,COL:min (pareto's default)
META_KIND = b"dse.kind"                 # the system kind (dse.system.base.REGISTRY key)
META_STUDY = b"dse.study"
META_SEED = b"dse.seed"                 # --seed
META_WORKER = b"dse.worker"             # the worker index (--worker or SLURM_ARRAY_TASK_ID)
META_SAMPLER_SEED = b"dse.sampler_seed"  # the sampler's seed, derived from both
META_REPLACES = b"dse.replaces"         # a compacted part: the parts it replaces (JSON list)


def atomic_write(path: Path, option: str, write: Callable[[Path], None]) -> Path:
    """``write(temp)`` then rename over ``path``; a failure leaves neither temp nor half a file and is
    a DseError naming ``option``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise DseError(option, str(path), "a writable file", exc.strerror or type(exc).__name__) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def check_output_file(path: Path, option: str) -> None:
    """Before any work: ``path`` can be written (its folder exists and is writable; it is not a folder)."""
    if path.is_dir():
        raise DseError(option, str(path), "a file path (this is a folder)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise DseError(option, str(path), "a file in an existing folder", f"no folder {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DseError(option, str(path), "a file in a writable folder", f"{parent} is not writable")


def new_part_name(worker: int) -> str:
    """A fresh part file name for worker ``worker``: ``part-w<index>-<random>.parquet``."""
    return f"part-w{worker}-{uuid.uuid4().hex[:12]}.parquet"


def check_results_folder(out: Path, folder: Path) -> None:
    """Before any search work, without creating anything: ``folder`` is a writable folder, or can be
    created under its nearest existing ancestor."""
    if "\0" in str(folder):
        raise DseError("--out", repr(str(out))[1:-1], "a path without NUL characters (no file system takes them)")
    for path in (out, folder):
        if path.exists() and not path.is_dir():
            raise DseError("--out", str(path), "a folder (this is a file)")
    ancestor = folder
    while not ancestor.exists():
        if os.path.lexists(ancestor):     # a link to nothing, or a loop of links
            raise DseError("--out", str(out), "a folder", f"{ancestor} is a symbolic link that leads nowhere")
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DseError("--out", str(out), "a path under a folder", f"{ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK) or _read_only_fs(ancestor) or not _can_create_in(ancestor):
        raise DseError("--out", str(out), "a folder this user can write", f"{ancestor} is not writable")


def _can_create_in(folder: Path) -> bool:
    """Try it (pseudo file systems such as /proc pass the access checks): make and remove a folder."""
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(prefix=".dse-probe-", dir=folder))
    except OSError:
        return False
    return True


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return True


def write_part(folder: Path, name: str, rows: list[dict], metadata: dict[bytes, bytes], table: Any = None,
               metadata_override: dict[bytes, bytes] | None = None) -> Path:
    """Write ``rows`` (or a prepared Arrow ``table``) as part file ``folder/name``, atomically;
    returns its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows) if table is None else table
    merged = dict(metadata_override) if metadata_override is not None else {**(table.schema.metadata or {}), **metadata}
    table = table.replace_schema_metadata(merged)
    final = folder / name
    temp = folder / f".{final.name}.tmp"
    try:
        with open(temp, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    finally:
        if temp.exists():          # the write failed part-way: leave nothing behind
            temp.unlink()
    return final


def _named_parts(folder: Path) -> tuple[list[Path], list[Path]]:
    """One scan of ``folder`` for names like part files (hidden temp files aside): the regular
    files, and the rest (a FIFO, device or folder named like a part is not a part)."""
    if not folder.is_dir():
        return [], []
    named = sorted(f for f in folder.rglob("*.parquet") if not f.name.startswith("."))
    regular = [f for f in named if f.is_file()]
    return regular, [f for f in named if not f.is_file()]


def part_files_or_none(folder: Path) -> list[Path]:
    """The part files a reader would pick up in ``folder``: regular files only."""
    return _named_parts(folder)[0]


def dataset_parts(path: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The part files of a dataset folder (or a single Parquet file), and the things named like
    parts that are not regular files, with why (a reader skips them and says so)."""
    p = Path(path)
    if p.is_file() and p.suffix == ".parquet":
        return [p], []
    if not p.is_dir():
        raise DseError(str(path), "", "a results folder or .parquet file that exists")
    files, others = _named_parts(p)
    odd = [(f, "not a regular file") for f in others]
    if not files:
        found = f"{odd[0][0].name} is {odd[0][1]}" if odd else "none found"
        raise DseError(str(path), "", f"a results folder holding part-*.parquet files ({found})")
    return files, odd


def part_files(path: str | Path) -> list[Path]:
    """The part files of a dataset folder (or a single Parquet file)."""
    return dataset_parts(path)[0]


STUDY_KEY = ("study", "workload_sha", "hardware_sha")     # what makes rows one study


@dataclass
class Dataset:
    """The readable rows of a results path, one study, with what was left out and why."""

    frame: Any                                   # pandas DataFrame
    metadata: dict[str, object]                  # the study's first part's metadata (read_metadata form)
    parts: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)    # unreadable parts, reason
    replaced: list[Path] = field(default_factory=list)               # superseded by a compacted part
    duplicates: int = 0                          # design rows dropped: already in another part
    other_studies: int = 0                       # rows of other studies left out by --study


def _study_of(table, meta: dict) -> tuple[str, str, str]:
    """A part's study identity: its rows' study and spec hashes (every dse part has them)."""
    values = []
    for col in STUDY_KEY:
        values.append(str(table.column(col)[0].as_py()) if col in table.column_names and len(table) else "?")
    if values[0] == "?" and META_STUDY in meta:
        values[0] = meta[META_STUDY].decode()
    return values[0], values[1], values[2]


def _design_columns(frame) -> list[str]:
    return [c for c in (*STUDY_KEY, *sorted(c for c in frame.columns if c.startswith("param.")), "mapping")
            if c in frame.columns]


def load_dataset(path: str | Path, study: str | None = None) -> Dataset:
    """Read every part under ``path`` (a study folder, a folder of studies, or one .parquet file).

    An unreadable part is skipped and named, not fatal; parts a compacted part replaces are left
    out; rows of more than one study are refused (a DseError listing them) unless ``study`` picks
    one; design rows present twice (same study, specs, knobs and mapping) are kept once.
    """
    import pandas as pd
    import pyarrow.parquet as pq

    tables: list[tuple[Path, Any, dict]] = []
    files, skipped = dataset_parts(path)
    for f in files:
        try:
            table = pq.read_table(f)
            tables.append((f, table, table.schema.metadata or {}))
        except Exception as exc:     # truncated, empty, foreign: name it and go on
            skipped.append((f, _one_line(exc)))
    replaced_names = {(f.parent, name) for f, _, meta in tables for name in _replaces_meta(meta)}
    replaced = [f for f, _, _ in tables if (f.parent, f.name) in replaced_names]
    tables = [t for t in tables if (t[0].parent, t[0].name) not in replaced_names]
    if not tables:
        raise DseError(str(path), "", "at least one readable part file",
                       f"{len(skipped)} unreadable, the first {skipped[0][0].name}" if skipped else "none")
    groups: dict[tuple[str, str, str], list] = {}
    for f, table, meta in tables:
        groups.setdefault(_study_of(table, meta), []).append((f, table, meta))
    chosen = [k for k in groups if study is None or k[0] == study]
    if not chosen:
        names = sorted({k[0] for k in groups})
        raise DseError(str(path), "--study", f"one of the studies found: {', '.join(names)}", study)
    if len(chosen) > 1:
        names = [k[0] for k in chosen]
        listing = ", ".join(sorted(f"{k[0]} (workload {k[1][:6]}, hardware {k[2][:6]})" if names.count(k[0]) > 1
                                   else k[0] for k in chosen))
        hint = "these share a name but not their specs" if study else "pick one with --study NAME"
        raise DseError(str(path), "--study" if study else "", f"one study per front ({hint})",
                       f"{len(chosen)} studies: {listing}")
    key = chosen[0]
    members = groups[key]
    frame = pd.concat([t.to_pandas() for _, t, _ in members], ignore_index=True, sort=False)
    design = _design_columns(frame)
    mask = frame.duplicated(subset=design) if design else pd.Series(False, index=frame.index)
    return Dataset(frame=frame[~mask].reset_index(drop=True), metadata=_decode(members[0][2]),
                   parts=[f for f, _, _ in members], skipped=skipped, replaced=replaced,
                   duplicates=int(mask.sum()),
                   other_studies=sum(len(t) for k, g in groups.items() if k != key for _, t, _ in g))


def read_dataset(path: str | Path, study: str | None = None):
    """All rows of one study under ``path`` as a pandas DataFrame (see :func:`load_dataset`)."""
    return load_dataset(path, study).frame


def _decode(meta: dict) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in (META_WORKLOAD, META_HARDWARE):
        if key in meta:
            out[key.decode()] = json.loads(meta[key])
    for key in (META_VERSION, META_OBJECTIVES, META_KIND, META_STUDY):
        if key in meta:
            out[key.decode()] = meta[key].decode()
    return out


def read_metadata(path: str | Path, study: str | None = None) -> dict[str, object]:
    """Spec JSON, version, objectives and kind of the study's first readable part."""
    return load_dataset(path, study).metadata


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 100 else text[:97] + "..."


def compact(folder: Path) -> tuple[Path, int, int, list[tuple[Path, str]]]:
    """Rewrite the readable parts of one study folder as a single part, atomically.

    The new part names the parts it replaces in its metadata (``dse.replaces``), so a reader that
    sees both (a crash before the old ones are deleted) still reads each row once. Returns the new
    part, how many parts it replaced, how many duplicate rows it dropped, and the unreadable parts
    (left in place).
    """
    import pyarrow as pa

    import pyarrow.parquet as pq

    data = load_dataset(folder)
    if any(f.parent != folder for f in data.parts):
        raise DseError(str(folder), "", "a study folder (part files directly inside it)")
    sources = data.parts + data.replaced
    try:
        table = pa.Table.from_pandas(data.frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):     # a column whose type differs between parts
        frame = data.frame
        mixed = [c for c in frame.columns if frame[c].dtype == object
                 and len({type(v) for v in frame[c].dropna()}) > 1]
        raise DseError(str(folder), mixed[0] if mixed else "", "parts whose columns have one type each (is one "
                       "of the parts not written by dse?)", "values of " + " and ".join(
                           sorted({type(v).__name__ for v in frame[mixed[0]].dropna()}) if mixed else ["mixed types"])
                       ) from None
    per_worker = (META_WORKER, META_SEED, META_SAMPLER_SEED, META_REPLACES, b"pandas")
    meta = {k: v for k, v in (pq.read_schema(data.parts[0]).metadata or {}).items() if k not in per_worker}
    meta[META_REPLACES] = json.dumps(sorted(f.name for f in sources)).encode()
    final = write_part(folder, f"part-compact-{uuid.uuid4().hex[:12]}.parquet", [], {}, table=table,
                       metadata_override=meta)
    for f in sources:
        with contextlib.suppress(FileNotFoundError):
            f.unlink()
    return final, len(sources), data.duplicates, data.skipped


def read_trial_rows(folder: Path, part: str, trial: int) -> list[dict]:
    """Rows of ``trial`` in part ``part`` of ``folder`` (or of the compacted part that replaced it);
    [] when the part was never written (its worker died before the rename)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = folder / part
    if not path.exists():
        path = next((f for f in part_files_or_none(folder) if part in _replaces(f)), None)
        if path is None:
            return []
    try:
        table = pq.read_table(path)
    except Exception:
        return []
    return table.filter(pc.equal(table["trial"], trial)).to_pylist() if "trial" in table.column_names else []


def _replaces(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return _replaces_meta(pq.read_schema(path).metadata or {})
    except Exception:
        return []


def _replaces_meta(meta: dict) -> list[str]:
    try:
        return list(json.loads(meta[META_REPLACES])) if META_REPLACES in meta else []
    except ValueError:
        return []
