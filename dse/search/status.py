"""``dse status``: per-study progress from its storage (trials by state, budget) and its Parquet
rows (rows, distinct design points, best value per objective among feasible rows)."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dse.errors import DseError



@dataclass
class StudyStatus:
    study: str
    storage: str
    budget: int | None = None
    complete: int = 0
    running: int = 0
    waiting: int = 0
    failed: int = 0
    rows: int = 0
    points: int = 0
    duplicate_rows: int = 0
    unreadable_parts: int = 0
    points_without_trial: int | None = None     # points with rows but no COMPLETE trial (a killed worker's, until adopted)
    trials_without_rows: int | None = None      # COMPLETE evaluating trials whose rows are missing (should be 0)
    best: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _storage_for(url: str | None, folder: Path, name: str) -> tuple[Any, str] | None:
    """A read-side Optuna storage for study ``name`` in ``folder`` (None: no storage found)."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    from dse.search.storage import PostgresJournal, default_journal, hide_password, _reason, postgres_url

    if not url:
        journal = default_journal(folder, name)
        if not journal.is_file():
            return None
        try:
            return JournalStorage(JournalFileBackend(str(journal))), str(journal)
        except Exception as exc:         # not an Optuna journal (garbage, another program's file)
            raise DseError(str(journal), "", "an Optuna journal (dse's study storage)",
                           f"a file Optuna cannot replay ({type(exc).__name__})") from None
    try:
        if "://" not in url and url.endswith(".log"):
            if not Path(url).is_file():
                raise FileNotFoundError(url)
            return JournalStorage(JournalFileBackend(url)), url
        full = postgres_url(url) if url.startswith("postgresql://") else url
        if url.partition("://")[0].partition("+")[0] == "postgresql":
            import sqlalchemy

            engine = sqlalchemy.create_engine(full, connect_args={"connect_timeout": 10})
            return JournalStorage(PostgresJournal(engine, name)), hide_password(url)
        return RDBStorage(full, skip_table_creation=True), hide_password(url)
    except DseError:
        raise
    except Exception as exc:
        raise DseError("--storage", hide_password(url), "a reachable Optuna storage", _reason(exc, url)) from None


def study_folders(results: Path) -> list[Path]:
    """``results`` itself when it is one study's folder, else its sub-folders that hold a study."""
    if not results.is_dir():
        raise DseError(str(results), "", "a results folder that exists")

    from dse.search.storage import default_journal

    def is_study(d: Path) -> bool:
        return default_journal(d).is_file() or any(d.glob("part-*.parquet"))

    if is_study(results):
        return [results]
    found = sorted(d for d in results.iterdir() if d.is_dir() and not d.name.startswith((".", "_")) and is_study(d))
    if not found:
        raise DseError(str(results), "", "a results folder holding studies (OUT/STUDY/ with part files, or a journal in OUT/_storage/STUDY/)")
    return found


def _rows(folder: Path):
    """The study folder's dataset (dse.output.store.load_dataset): its one study, or with parts of
    several the study named like the folder; None without readable parts."""
    from dse.output.store import load_dataset

    if not any(folder.glob("part-*.parquet")):
        return None
    for study in (None, folder.name):
        try:
            return load_dataset(folder, study)
        except DseError:
            continue
    return None


def status(results: Path, storage_url: str | None = None) -> list[StudyStatus]:
    import optuna
    import pandas as pd

    from dse.output.front import parse_objectives
    from dse.output.store import META_OBJECTIVES
    from dse.search.storage import BUDGET_ATTR, OWNER_ATTR, POINT_ATTR

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out = []
    for folder in study_folders(results):
        data = _rows(folder)
        # the study is the one its parts name (a renamed folder still finds it), else the folder's name
        name = str(data.frame["study"].iloc[0]) if data is not None and "study" in data.frame and len(data.frame) \
            else folder.name
        st = StudyStatus(study=name, storage="-")
        opened = _storage_for(storage_url, folder, name)
        study = None
        owners: set = set()
        if opened is not None:
            storage, st.storage = opened
            try:
                study = optuna.load_study(study_name=name, storage=storage)
            except KeyError:
                study = None
            except Exception as exc:     # a journal that is not one (garbage, truncated): one line
                from dse.search.storage import _reason

                raise DseError(st.storage, "", f"an Optuna storage holding study {name}", _reason(exc, storage_url)) \
                    from None
            if study is not None:
                trials = study.get_trials(deepcopy=False)
                owners = {t.user_attrs.get(POINT_ATTR) for t in trials
                          if t.state.name == "COMPLETE" and t.user_attrs.get(OWNER_ATTR)}
                states = Counter(t.state.name for t in trials)
                st.complete, st.running = states["COMPLETE"], states["RUNNING"]
                st.waiting, st.failed = states["WAITING"], states["FAIL"]
                st.budget = study.user_attrs.get(BUDGET_ATTR)
        if data is not None:
            frame = data.frame
            st.rows, st.duplicate_rows, st.unreadable_parts = len(frame), data.duplicates, len(data.skipped)
            params = [c for c in frame.columns if c.startswith("param.")]
            st.points = len(frame.drop_duplicates(params)) if params else len(frame)
            if opened is not None and study is not None and params:
                keys = {json.dumps([v.item() if hasattr(v, "item") else v for v in row])
                        for row in frame[params].drop_duplicates().itertuples(index=False)}
                st.points_without_trial = len(keys - owners)
                st.trials_without_rows = len(owners - keys)
            text = str(data.metadata.get(META_OBJECTIVES.decode(), ""))
            feasible = frame[frame["feasible"].astype(bool)] if "feasible" in frame else frame
            for name, maximise, _ in (parse_objectives(text) if text else []):
                if name in feasible and len(feasible):
                    values = pd.to_numeric(feasible[name], errors="coerce")    # a foreign part's text: NaN
                    value = float(values.max() if maximise else values.min())
                    if math.isfinite(value):
                        st.best[name] = value
        out.append(st)
    return out


def render(statuses: list[StudyStatus]) -> None:
    """The studies as a table that fits the terminal: names and numbers never split; when the best
    values do not fit beside the counts, they follow the table, one line per study."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    rows = []
    for st in statuses:
        trials = f"{st.complete}/{st.budget}" if st.budget else str(st.complete)
        rows.append([st.study, trials, str(st.running), str(st.failed), str(st.waiting),
                     str(st.rows) + (f" (+{st.duplicate_rows} dup)" if st.duplicate_rows else ""), str(st.points)])
    best = [", ".join(f"{k} {v:.4g}" for k, v in st.best.items()) or "-" for st in statuses]
    heads = ["study", "trials", "run", "fail", "wait", "rows", "points"]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(heads)]
    beside = sum(widths) + 2 * len(widths) + max([len("best feasible")] + [len(b) for b in best]) <= console.width
    table = Table(title="studies", caption="trials: complete/budget; run, fail, wait: trials in those states",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    mismatched = [st for st in statuses if st.points_without_trial or st.trials_without_rows]
    for head, width in zip(heads, widths):
        table.add_column(head, no_wrap=True, min_width=width, justify="left" if head == "study" else "right")
    if beside:
        table.add_column("best feasible", overflow="fold")
    for row, b in zip(rows, best):
        table.add_row(*row, *([b] if beside else []))
    console.print(table)
    if not beside:
        for st, b in zip(statuses, best):
            console.print(f"{st.study}: best {b}", highlight=False)
    for st in mismatched:
        console.print(f"{st.study}: {st.points_without_trial or 0} design points have rows but no complete trial "
                      f"(a killed worker's; the next run adopts them), {st.trials_without_rows or 0} complete "
                      "trials have no rows")
