"""Where a study lives: in memory (default), a journal file (``FILE.log``) or an RDB URL
(``sqlite:///FILE``, ``postgresql://...``) shared by workers."""

from __future__ import annotations

from typing import Any

from dse.errors import DseError


def open_storage(url: str | None) -> Any:
    """An Optuna storage, or None for in-memory. An unreachable or unusable storage is a DseError."""
    if not url:
        return None
    import optuna

    try:
        if url.endswith(".log") and "://" not in url:
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            return JournalStorage(JournalFileBackend(url))
        return optuna.storages.RDBStorage(url)
    except Exception as exc:  # driver missing, host unreachable, bad URL: one line, exit 2
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DseError("--storage", url, "a reachable Optuna storage (sqlite:///FILE, "
                       "postgresql://USER@HOST/DB with psycopg2 installed, or FILE.log)", reason) from None


def open_study(name: str, storage: Any, sampler: Any, directions: tuple[str, ...]):
    """Create the study, or load it when it exists in ``storage``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(study_name=name, storage=storage, sampler=sampler,
                               directions=list(directions), load_if_exists=True)
