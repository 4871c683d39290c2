"""Where a study lives, and what its workers share besides Optuna's storage.

Storages (``--storage``):
- default: a journal file ``OUT/_storage/STUDY/journal.log`` (:func:`default_journal`; embedded,
  no server; a re-run resumes it; workers on one machine or one shared file system can share it),
  outside the study's dataset folder ``OUT/STUDY/``, which holds only Parquet parts, so pandas,
  DuckDB and polars read that folder as it is (a study begun with ``OUT/STUDY/_optuna.log`` keeps it);
- ``memory``: in this process only (no resume; benchmarks and tests);
- ``FILE.log``: a journal file elsewhere;
- ``sqlite:///FILE``;
- ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`` (the ``postgres`` extra: psycopg 3): the same
  journal as the file, one per study, in table ``dse_journal`` (:class:`PostgresJournal`), and the
  workers' heartbeats in ``dse_workers``.

A :class:`Coordinator` gives the workers of one study two things Optuna does not:
- a **mutex** (``fcntl.flock`` on a file beside a file storage; a PostgreSQL advisory lock),
  held while a worker claims design points and while it tells finished trials, so that one
  point has one owner and the study-wide trial budget is met exactly;
- **liveness**: a killed worker's RUNNING trials are failed and re-queued (Optuna's
  ``RetryHeartbeatStaleTrialCallback``) once its heartbeat is older than ``GRACE_S``, or at once
  when it ran on this host and its process is gone. File storages keep one heartbeat file per
  worker (``<storage>.workers/<token>``); PostgreSQL a row per worker in ``dse_workers``.

Writes are batched per hold of the mutex (:class:`BatchedJournal`): Optuna's journal appends one
line, with a lock file and an fsync, per trial state change (12 per trial here: create, five
params, four user attributes, values, state); every write a worker makes while it holds the mutex is
applied to its own replay at once and appended to the file as one block when it lets go, so a
round of 50 trials costs three appends (ask and claim; the part names; tell) instead of ~600.
PostgreSQL gets the same journal and the same batches (one INSERT of many rows, one transaction):
Optuna's relational storage made every state change a transaction and every sampler read a query
over all trials (~95 ms a trial on loopback, measured by tests/bench/bench_storage.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from dse.errors import DseError
from dse.failpoints import failpoint

HEARTBEAT_S = 5          # a worker beats at least this often (between design points)
GRACE_S = 60             # a worker silent this long is dead; its RUNNING trials are failed
MAX_RETRY = 3                    # re-queues of one failed trial
# What the workers of a study write beside Optuna's own fields (trial and study user attributes).
WORKER_ATTR = "dse.worker"       # trial: the token of the worker running it
POINT_ATTR = "dse.point"         # trial: the design point's key (its knob labels, JSON)
OWNER_ATTR = "dse.owner"         # trial: True on the one trial per point that evaluated it and wrote its rows
PART_ATTR = "dse.part"           # trial: the part file holding an owner's rows (set before the write)
BUDGET_ATTR = "dse.budget"       # study: the --trials of the latest run that worked on it

SUPPORTED = ("the default (a journal file in the study folder), memory, FILE.log, sqlite:///FILE, "
             "or postgresql://USER@HOST/DB")


def worker_token() -> str:
    """``host:pid:random`` — unique per process, and tells a reaper on the same host which pid to check."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _process_gone(token: str) -> bool:
    """True when ``token`` names a process on this host that no longer exists."""
    host, _, rest = token.partition(":")
    return host == socket.gethostname() and _pid_gone(rest.partition(":")[0])


def _pid_gone(pid_text: str) -> bool:
    """True when ``pid_text`` is a process id of this host with no process (another user's
    process counts as present)."""
    if not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def host_registry() -> Path:
    """Where the dse workers of this user on this host make themselves known (for sharing its
    cores, dse.jit.share_cores): ``$XDG_RUNTIME_DIR`` (else the temporary folder) ``/
    dse-workers-UID``, one entry ``PID_HASH`` per worker (its process, a hash of its token), touched at each heartbeat, removed at
    its end (a killed worker's entry is ignored once its process is gone or after ``GRACE_S``)."""
    import tempfile

    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"dse-workers-{os.getuid()}"


def _host_entry(token: str) -> Path:
    """This worker's entry in :func:`host_registry` (the folder made on first use)."""
    folder = host_registry()
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{os.getpid()}_{hashlib.blake2b(token.encode(), digest_size=6).hexdigest()}"


class StudyTrials:
    """A study's trials through the storage's public API. Optuna's ``Study`` keeps its storage and
    study id private, and a ``Trial`` its id; the storage object is the one :func:`open_store`
    opened (Optuna wraps an RDB storage in a cache that passes state changes straight through and
    re-reads unfinished trials, so both see the same trials), and ids come from trial numbers."""

    def __init__(self, storage: Any, study: Any):
        self.storage = storage
        self.study_id = storage.get_study_id_from_name(study.study_name)
        self._ids: dict[int, int] = {}

    def count(self, state: Any) -> int:
        """Trials in ``state`` (a COUNT query on RDB storages)."""
        return self.storage.get_n_trials(self.study_id, state)

    def trial_id(self, number: int) -> int:
        if number not in self._ids:
            self._ids[number] = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
        return self._ids[number]

    def fail(self, number: int) -> bool:
        """Mark a RUNNING trial FAIL; False if it had finished meanwhile."""
        from optuna.trial import TrialState

        return self.storage.set_trial_state_values(self.trial_id(number), state=TrialState.FAIL)

    def frozen(self, number: int) -> Any:
        return self.storage.get_trial(self.trial_id(number))


class BatchedJournal:
    """A journal backend (Optuna's ``BaseJournalBackend`` protocol: ``read_logs``, ``append_logs``)
    over another (:class:`JournalFile`, or :class:`PostgresJournal`) that holds back the logs written
    inside :meth:`batch` and appends them in one write (one lock file, one fsync) when it ends.

    Why this is safe: a batch runs only while the worker holds the study's mutex, and every dse
    writer appends only under that mutex, so the file cannot change during a batch. Logs are
    numbered by position; a pending log is yielded by :meth:`read_logs` at the position it will
    have in the file (after every line already there), so Optuna's replay sees exactly the
    sequence that is then written. Inside a batch the file is read once (to catch what others
    appended before the mutex was taken); later reads yield only the pending logs.

    Durability: a write is on disk when its batch ends. The worker ends a batch before anything
    that relies on it (a part's name is recorded, in its own batch, before the part is written),
    and a kill inside a batch loses only that batch's writes, none of which anything relied on.
    Outside a batch (``dse status``, a plain Optuna process) writes pass straight through.
    """

    def __init__(self, inner: Any):
        self.inner = inner          # a JournalFile or a PostgresJournal
        self.pending: list[dict[str, Any]] = []
        self.depth = 0              # nesting of batch()
        self.in_file = 0            # logs known to be in the file (read or written by this process)
        self.fresh = False          # the file has been read since this batch began
        self.appends = 0            # writes to the file (for bench_storage)

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        n = log_number_from
        if not (self.depth and self.fresh and n >= self.in_file):
            for log in self.inner.read_logs(n):
                n += 1
                yield log
            self.in_file = max(self.in_file, n)
            self.fresh = bool(self.depth)
        yield from self.pending[max(0, n - self.in_file):]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if self.depth:
            self.pending.extend(logs)
        else:
            self._write(logs)

    def _write(self, logs: list[dict[str, Any]]) -> None:
        self.inner.append_logs(logs)
        self.appends += 1

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold back this block's writes and append them as one when the outermost block ends
        (also when it ends by an exception: Optuna has already applied them to its replay, and
        the replay and the file must not disagree)."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if self.depth == 0:
                self.fresh = False
                if self.pending:
                    logs, self.pending = self.pending, []
                    self._write(logs)
                    # The file now ends with these logs; index their offsets (Optuna's backend
                    # otherwise re-scans the file from the start at its next read).
                    for _ in self.inner.read_logs(self.in_file):
                        pass
                    self.in_file += len(logs)


class JournalFile:
    """Optuna's journal file (its ``JournalFileBackend`` reads it), appended under an ``flock`` and
    cut after its last newline before each append.

    Why not Optuna's own append: (1) its lock is a symbolic link that a killed writer leaves
    behind, and every later append then waits 30 s before forcing it (a worker killed again
    within those 30 s — a pre-empted job retried — never gets through); an ``flock`` dies with its
    process. (2) An append is one ``write`` of every log of a batch, and a ``write`` of many pages
    stops between two pages when a SIGKILL arrives (Linux checks for a fatal signal per page),
    leaving the file ending inside a line. Readers skip such a last line (Optuna's reader ignores
    an unterminated last line), but the next append would glue its first log to the fragment: a
    broken line in the middle, which Optuna refuses to replay — the whole study unreadable. So an
    append, under the lock, first truncates the file after its last newline: the killed writer's
    unfinished line, which no reader ever applied, goes; the lines it completed stay, a prefix of
    its batch, as if it had been killed between two of Optuna's own writes (the worker relies on
    nothing a batch has not finished writing: see :class:`BatchedJournal`). Logs are written as
    Optuna's backend writes them (compact JSON, one log a line, fsync)."""

    def __init__(self, path: Path):
        from optuna.storages.journal import JournalFileBackend

        self.path = str(path)
        self.lock_path = f"{self.path}.dse-append-lock"
        self.reader = JournalFileBackend(self.path)     # reads only (its own lock is never taken)

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        return self.reader.read_logs(log_number_from)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        import fcntl

        data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode()
        lock = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
            try:
                cut_torn_tail(fd)
                failpoint("journal-torn", on_kill=lambda: os.write(fd, data[:len(data) // 2 + 1]))
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
        finally:
            os.close(lock)          # and with it the flock


def cut_torn_tail(fd: int) -> int:
    """Truncate the file open as ``fd`` after its last newline (nothing when it ends with one or
    is empty); returns the bytes cut. Reads backwards in 64 KiB blocks."""
    size = end = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0
    while end > 0:
        start = max(0, end - 65536)
        block = os.pread(fd, end - start, start)
        at = block.rfind(b"\n")
        if at >= 0:
            os.ftruncate(fd, start + at + 1)
            return size - (start + at + 1)
        end = start
    os.ftruncate(fd, 0)
    return size


class PostgresJournal:
    """Optuna's journal-backend protocol over PostgreSQL: study ``study``'s logs are the rows of
    table ``dse_journal`` with that study, in ``seq`` order (0, 1, 2, ...: a log's number is its
    ``seq``). An append takes a transaction-level advisory lock on the study's journal, numbers its
    logs after the last one and inserts them all in one statement; a read selects the rows from a
    number on. (Create the tables under the database-wide schema lock: :meth:`create_tables`.)"""

    def __init__(self, engine: Any, study: str):
        self.engine, self.study = engine, study
        self._key = _lock_key(f"dse-journal:{study}")

    @staticmethod
    def create_tables(connection: Any) -> None:
        import sqlalchemy

        connection.execute(sqlalchemy.text(
            "CREATE TABLE IF NOT EXISTS dse_journal (study TEXT NOT NULL, seq BIGINT NOT NULL, log TEXT NOT NULL, "
            "PRIMARY KEY (study, seq))"))
        connection.execute(sqlalchemy.text(
            "CREATE TABLE IF NOT EXISTS dse_workers (study TEXT NOT NULL, token TEXT NOT NULL, "
            "beat TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (study, token))"))

    def read_logs(self, log_number_from: int) -> Iterator[dict[str, Any]]:
        import sqlalchemy

        with self.engine.connect() as c:
            rows = c.execute(sqlalchemy.text("SELECT log FROM dse_journal WHERE study = :s AND seq >= :n ORDER BY seq"),
                             {"s": self.study, "n": log_number_from}).all()
        for (log,) in rows:
            yield json.loads(log)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        import sqlalchemy

        with self.engine.begin() as c:
            c.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._key})
            start = c.execute(sqlalchemy.text("SELECT COALESCE(MAX(seq) + 1, 0) FROM dse_journal WHERE study = :s"),
                              {"s": self.study}).scalar_one()
            c.execute(sqlalchemy.text("INSERT INTO dse_journal (study, seq, log) VALUES (:s, :q, :l)"),
                      [{"s": self.study, "q": start + i, "l": json.dumps(log, separators=(",", ":"))}
                       for i, log in enumerate(logs)])


class Coordinator:
    """Mutex and liveness for the workers of one study (the in-memory storage: one worker).

    Lifecycle: made by :func:`open_store`; the worker holds :meth:`lock` while it asks, claims and
    tells (a storage with a :class:`BatchedJournal` writes each hold as one batch), calls
    :meth:`beat` between design points and :meth:`reap` under the lock, and :meth:`close` at the end.
    Subclasses give the mutex (:meth:`_acquire`, :meth:`_release`) and the heartbeat store
    (:meth:`_beat`, :meth:`_beat_age`)."""

    def __init__(self, token: str, journal: BatchedJournal | None = None):
        self.token = token
        self.journal = journal
        self._held = 0
        self._last_beat = 0.0
        self._last_reap = 0.0

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The study's mutex (re-entrant); the writes made while it is held are one journal batch."""
        if self._held == 0:
            self._acquire()
        self._held += 1
        try:
            with self.journal.batch() if self.journal is not None else contextlib.nullcontext():
                yield
        finally:
            self._held -= 1
            if self._held == 0:
                self._release()

    def _acquire(self) -> None:
        pass

    def _release(self) -> None:
        pass

    def beat(self, study, trials: StudyTrials, numbers: list[int], force: bool = False) -> bool:
        """Record that this worker is alive, with the trial ``numbers`` it holds RUNNING (at most
        every ``HEARTBEAT_S`` unless ``force``); True when it beat."""
        now = time.monotonic()
        if force or now - self._last_beat >= HEARTBEAT_S:
            self._last_beat = now
            self._beat()
            with contextlib.suppress(OSError):
                _host_entry(self.token).touch()
            return True
        return False

    def local_workers(self) -> int:
        """Live dse workers on this host, of any study and storage, this one included: the entries
        of :func:`host_registry` touched within ``GRACE_S`` whose processes are present."""
        now, mine, count = time.time(), _host_entry(self.token).name, 1
        with contextlib.suppress(OSError):
            for entry in host_registry().iterdir():
                pid = entry.name.partition("_")[0]
                with contextlib.suppress(OSError):
                    if (entry.name != mine and pid.isdigit() and now - entry.stat().st_mtime < GRACE_S
                            and not _pid_gone(pid)):
                        count += 1
        return count

    def _beat(self) -> None:
        pass

    def _beat_age(self, token: str) -> float | None:
        """Seconds since worker ``token`` last beat (None: no beat on record)."""
        return None

    def reap(self, study, trials: StudyTrials, force: bool = False) -> int:
        """Fail (and re-queue) the RUNNING trials of dead workers; returns how many."""
        now = time.monotonic()
        if not force and now - self._last_reap < HEARTBEAT_S:
            return 0
        self._last_reap = now
        return self._reap(study, trials)

    def _reap(self, study, trials: StudyTrials) -> int:
        """Another worker is dead when its last beat (else, its trial's start) is older than
        ``GRACE_S``, or at once when it ran on this host and its process is gone. A RUNNING trial
        that names no worker is dead at once: a worker names its trials in the same batch that
        creates them, so only a batch cut short by a kill (:class:`JournalFile`) leaves one."""
        stale = []
        now = time.time()
        for trial, token in self.others_running(study):
            if token is None:
                stale.append(trial)
                continue
            age = self._beat_age(token)
            if age is None:
                age = now - trial.datetime_start.timestamp() if trial.datetime_start else 0.0
            if age > GRACE_S or _process_gone(token):
                stale.append(trial)
        return self._fail_and_retry(study, trials, stale) if stale else 0

    def _fail_and_retry(self, study, trials: StudyTrials, stale) -> int:
        from optuna.exceptions import UpdateFinishedTrialError

        retry = _retry_callback()
        failed = 0
        for trial in stale:
            try:
                if not trials.fail(trial.number):
                    continue
            except UpdateFinishedTrialError:
                continue           # another worker got there first
            retry(study, trials.frozen(trial.number))
            failed += 1
        return failed

    def close(self) -> None:
        """Leave the host registry (subclasses also drop their heartbeat and connections)."""
        with contextlib.suppress(OSError):
            _host_entry(self.token).unlink()

    def others_running(self, study) -> list[tuple[Any, str | None]]:
        """(trial, worker token or None) of every RUNNING trial not this worker's."""
        from optuna.trial import TrialState

        return [(t, t.user_attrs.get(WORKER_ATTR)) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
                if t.user_attrs.get(WORKER_ATTR) != self.token]


class FileCoordinator(Coordinator):
    """For storages that are files (journal, SQLite): ``flock`` and heartbeat files beside them."""

    def __init__(self, token: str, base: Path, journal: BatchedJournal | None = None):
        super().__init__(token, journal)
        self.lock_path = Path(f"{base}.dse-lock")
        self.beats = Path(f"{base}.workers")
        self.beats.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)

    def _acquire(self) -> None:
        import fcntl

        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def _release(self) -> None:
        import fcntl

        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _beat_file(self, token: str) -> Path:
        return self.beats / token.replace(":", "_")

    def _beat(self) -> None:
        path = self._beat_file(self.token)
        path.touch()
        os.utime(path)

    def _beat_age(self, token: str) -> float | None:
        try:
            return time.time() - self._beat_file(token).stat().st_mtime
        except FileNotFoundError:
            return None

    def close(self) -> None:
        super().close()
        with contextlib.suppress(OSError):
            self._beat_file(self.token).unlink()
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _lock_key(text: str) -> int:
    """A signed 64-bit advisory-lock key for ``text``."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


class PostgresCoordinator(Coordinator):
    """PostgreSQL: a session advisory lock keyed by the study name; a heartbeat row per worker in
    ``dse_workers`` (ages measured by the server's clock)."""

    def __init__(self, token: str, url: str, study_name: str):
        import sqlalchemy

        super().__init__(token)
        self.engine = sqlalchemy.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.study_name = study_name
        self._key = _lock_key(f"dse:{study_name}")

    @contextlib.contextmanager
    def schema_lock(self) -> Iterator[None]:
        """The database-wide advisory lock under which the first worker creates the tables."""
        import sqlalchemy

        key = _lock_key("dse:schema")
        self._conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        try:
            yield
        finally:
            self._conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})

    def _acquire(self) -> None:
        import sqlalchemy

        self._conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": self._key})

    def _release(self) -> None:
        import sqlalchemy

        self._conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})

    def _beat(self) -> None:
        import sqlalchemy

        self._conn.execute(sqlalchemy.text(
            "INSERT INTO dse_workers (study, token) VALUES (:s, :t) ON CONFLICT (study, token) DO UPDATE SET beat = now()"),
            {"s": self.study_name, "t": self.token})

    def _beat_age(self, token: str) -> float | None:
        import sqlalchemy

        age = self._conn.execute(sqlalchemy.text(
            "SELECT EXTRACT(EPOCH FROM now() - beat) FROM dse_workers WHERE study = :s AND token = :t"),
            {"s": self.study_name, "t": token}).scalar()
        return None if age is None else float(age)

    def close(self) -> None:
        import sqlalchemy

        super().close()
        with contextlib.suppress(Exception):
            self._conn.execute(sqlalchemy.text("DELETE FROM dse_workers WHERE study = :s AND token = :t"),
                               {"s": self.study_name, "t": self.token})
        with contextlib.suppress(Exception):
            self._conn.close()
            self.engine.dispose()


@dataclass
class StudyStore:
    """An Optuna storage, its coordinator and a printable description."""

    storage: Any
    coordinator: Coordinator
    description: str


def _reason(exc: BaseException, url: str | None = None) -> str:
    """The first informative line of a driver's error, without the driver's own prefixes, and
    without any piece of ``url``'s password (a driver that split the URL at an ``@`` inside the
    password quotes the password's tail as a host name)."""
    text = _mask(str(exc).strip(), url)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("(Background on this error"):
            for prefix in ("(psycopg.OperationalError) ", "(psycopg2.OperationalError) ", "connection failed: "):
                line = line.removeprefix(prefix)
            if "failed: " in line:          # 'connection to server at "h", port p failed: FATAL: ...'
                line = line.rsplit("failed: ", 1)[1] if "FATAL" in line.rsplit("failed: ", 1)[1] else line
            return " ".join(line.removeprefix("FATAL:").split())
    return type(exc).__name__


def _mask(text: str, url: str | None) -> str:
    scheme, sep, rest = (url or "").partition("://")
    password = rest.rpartition("@")[0].partition(":")[2] if sep else ""
    pieces = sorted({password, *password.split("@"), *password.split(":")} - {""}, key=len, reverse=True)
    for piece in pieces:
        text = text.replace(piece + "@", "***@")          # 'ss@host': the tail quoted as a host name
        if len(piece) >= 3 or piece == password:
            text = text.replace(piece, "***")
    return text


def storage_problem(url: str | None) -> str | None:
    """Why ``url`` cannot name a study's storage, checked without opening it (None: it can).
    An in-memory SQLite database (``sqlite:///`` or ``sqlite:///:memory:``) is refused: a study
    there could not resume, and other workers could not join it."""
    if url is None or url == "memory" or ("://" not in url and url.endswith(".log") and url.strip() == url):
        return None
    scheme, sep, rest = url.partition("://")
    if scheme == "sqlite" and sep:
        path = url.removeprefix("sqlite:///")
        if not url.startswith("sqlite:///") or not path or path == ":memory:":
            return "sqlite:///FILE naming a file (an in-memory SQLite study could not resume)"
        return None
    if scheme.partition("+")[0] == "postgresql" and sep:
        auth, at, where = rest.rpartition("@")
        if at and auth.partition(":")[0] and re.fullmatch(r"[A-Za-z0-9_.\-]+(:\d{1,5})?/[A-Za-z0-9_.\-]+(\?\S*)?", where):
            return None
        return "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB"
    return SUPPORTED


def postgres_url(url: str) -> str:
    """``postgresql://`` with the driver that is installed (psycopg 3 first, then psycopg2)."""
    scheme, sep, rest = url.partition("://")
    if scheme != "postgresql":
        return url
    import importlib.util

    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}{sep}{rest}"
    raise DseError("--storage", "", "a PostgreSQL driver: pip install '.[postgres]' in dse's folder (psycopg 3)",
                   "no psycopg or psycopg2 installed")


STORAGE_DIR = "_storage"      # OUT/_storage/STUDY/: the default journals, their locks and heartbeats


def default_journal(study_folder: Path, study: str | None = None) -> Path:
    """The default journal of study ``study`` (default: the folder's name) whose dataset folder is
    ``study_folder`` (OUT/STUDY): OUT/_storage/STUDY/journal.log, or OUT/STUDY/_optuna.log where an
    earlier dse began it there. A folder renamed by hand keeps finding its journal by the study
    name its parts carry."""
    legacy = study_folder / "_optuna.log"
    if legacy.is_file():
        return legacy
    return study_folder.parent / STORAGE_DIR / (study or study_folder.name) / "journal.log"


def open_store(url: str | None, study_folder: Path, study_name: str, token: str) -> StudyStore:
    """Open (creating if needed) the storage ``url`` names for study ``study_name``.

    An unusable storage is a :class:`DseError` naming ``--storage``; nothing has been written.
    """
    import optuna
    from optuna.storages import JournalStorage, RDBStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    shown = url or str(default_journal(study_folder))
    problem = storage_problem(url)
    if problem is not None:
        raise DseError("--storage", hide_password(shown), problem)
    try:
        if url == "memory":
            return StudyStore(optuna.storages.InMemoryStorage(), Coordinator(token), "memory (this process only)")
        if not url or ("://" not in url and url.endswith(".log")):
            path = Path(url) if url else default_journal(study_folder)
            path.parent.mkdir(parents=True, exist_ok=True)
            journal = BatchedJournal(JournalFile(path))
            return StudyStore(JournalStorage(journal), FileCoordinator(token, path, journal), str(path))
        scheme = url.partition("://")[0]
        if scheme == "sqlite":
            path = Path(url.removeprefix("sqlite:///"))
            storage = RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})
            return StudyStore(storage, FileCoordinator(token, path), url)
        if scheme.partition("+")[0] == "postgresql":
            full = postgres_url(url) if scheme == "postgresql" else url
            coordinator = PostgresCoordinator(token, full, study_name)
            with coordinator.schema_lock(), coordinator.engine.begin() as connection:
                PostgresJournal.create_tables(connection)     # the first worker creates them, the rest find them
            coordinator.journal = BatchedJournal(PostgresJournal(coordinator.engine, study_name))
            return StudyStore(JournalStorage(coordinator.journal), coordinator, hide_password(url))
    except DseError:
        raise
    except Exception as exc:  # driver missing, host unreachable, wrong password, not a file: one line, exit 2
        what = ("a reachable PostgreSQL database (USER:PASSWORD@HOST:PORT/DB)" if "postgresql" in shown
                else "a usable SQLite file" if shown.startswith("sqlite") else "a writable journal file")
        raise DseError("--storage", hide_password(shown), what, _reason(exc, url)) from None
    raise DseError("--storage", hide_password(url), SUPPORTED)


def _retry_callback():
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)


def hide_password(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    auth, _, host = rest.rpartition("@")
    user, colon, _ = auth.partition(":")
    return f"{scheme}{sep}{user}{':***' if colon else ''}@{host}"


def open_study(name: str, store: StudyStore, sampler: Any, directions: tuple[str, ...], binding: dict[str, str]):
    """Create the study once (a concurrent creator loads it instead: Optuna catches the duplicate),
    or load it; ``binding`` (spec hashes, kind, objectives) is stored with it, and a study made for
    other specs or objectives is refused, naming what differs."""
    import optuna

    with store.coordinator.lock():
        study = optuna.create_study(study_name=name, storage=store.storage, sampler=sampler,
                                    directions=list(directions), load_if_exists=True)
        attrs = study.user_attrs
        if not any(k in attrs for k in binding):
            for key, value in binding.items():
                study.set_user_attr(key, value)
            return study
    for key, value in binding.items():
        if attrs.get(key) != value:
            raise DseError("--study", name, f"a study made for these specs ({key} {value}); the one in "
                           f"{store.description} has {attrs.get(key)!r}. Give another --study name",
                           attrs.get(key))
    if [d.name.lower() for d in study.directions] != list(directions):
        raise DseError("--study", name, f"directions {list(directions)}", [d.name for d in study.directions])
    return study
