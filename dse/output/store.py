"""Results dataset: ``<out>/<study>/part-<worker>-<uuid>.parquet``, one immutable file per flush.

Each part is written to a hidden temp name in the same folder, fsynced, then renamed, so a reader
never sees half a file and a killed worker loses at most its unflushed rows. The specs' JSON lives
in each file's key-value metadata (``dse.workload``, ``dse.hardware``) next to the tool version.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

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


def new_part_name(worker: int) -> str:
    """A fresh part file name for worker ``worker``: ``part-w<index>-<random>.parquet``."""
    return f"part-w{worker}-{uuid.uuid4().hex[:12]}.parquet"


def check_results_folder(out: Path, folder: Path) -> None:
    """Before any search work, without creating anything: ``folder`` is a writable folder, or can be
    created under its nearest existing ancestor."""
    for path in (out, folder):
        if path.exists() and not path.is_dir():
            raise DseError("--out", str(path), "a folder (this is a file)")
    ancestor = folder
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise DseError("--out", str(out), "a path under a folder", f"{ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK) or _read_only_fs(ancestor):
        raise DseError("--out", str(out), "a folder this user can write", f"{ancestor} is not writable")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return True


def write_part(folder: Path, name: str, rows: list[dict], metadata: dict[bytes, bytes]) -> Path:
    """Write ``rows`` as part file ``folder/name``, atomically; returns its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
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


def part_files_or_none(folder: Path) -> list[Path]:
    """The part files a reader would pick up in ``folder`` (hidden temp files are not)."""
    return sorted(f for f in folder.rglob("*.parquet") if not f.name.startswith(".")) if folder.is_dir() else []


def part_files(path: str | Path) -> list[Path]:
    """The part files of a dataset folder (or a single Parquet file)."""
    p = Path(path)
    if p.is_file() and p.suffix == ".parquet":
        return [p]
    if not p.is_dir():
        raise DseError(str(path), "", "a results folder or .parquet file that exists")
    files = part_files_or_none(p)
    if not files:
        raise DseError(str(path), "", "a results folder holding part-*.parquet files (none found)")
    return files


def read_dataset(path: str | Path):
    """All rows of a dataset as a pandas DataFrame (parts concatenated; columns unioned)."""
    import pandas as pd
    import pyarrow.parquet as pq

    frames = []
    for f in part_files(path):
        try:
            frames.append(pq.read_table(f).to_pandas())
        except Exception as exc:  # a corrupt or foreign file: name it, do not trace back
            raise DseError(str(f), "", "a readable Parquet part file", type(exc).__name__) from None
    return pd.concat(frames, ignore_index=True, sort=False)


def read_metadata(path: str | Path) -> dict[str, object]:
    """Spec JSON and version from the first part's metadata."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(part_files(path)[0]).metadata or {}
    out: dict[str, object] = {}
    for key in (META_WORKLOAD, META_HARDWARE):
        if key in meta:
            out[key.decode()] = json.loads(meta[key])
    for key in (META_VERSION, META_OBJECTIVES, META_KIND):
        if key in meta:
            out[key.decode()] = meta[key].decode()
    return out


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
        meta = pq.read_schema(path).metadata or {}
    except Exception:
        return []
    return json.loads(meta[META_REPLACES]) if META_REPLACES in meta else []
