"""Studies shared by workers, re-runs and kills: the real CLI in subprocesses, real journal files,
real Parquet, and a real PostgreSQL server when ``DSE_TEST_POSTGRES`` names one (``.ci/run``
starts one on loopback; in CI its absence is a failure, not a skip)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest

from dse.search.storage import default_journal

ROOT = Path(__file__).resolve().parent.parent
WL = str(ROOT / "workloads/gpt2_resnet50.yaml")
HW = str(ROOT / "hardware/mcm4_hetero.yaml")
STUDY = "gpt2_resnet50__mcm4_hetero"
PG = os.environ.get("DSE_TEST_POSTGRES")


def dse_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dse.cli", *args]


def dse(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(dse_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def journal(folder: Path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(default_journal(folder))))


def audit(folder: Path, storage, budget: int, study: str = STUDY) -> dict:
    """Storage and Parquet agree: ``budget`` COMPLETE trials and nothing RUNNING; every part is
    readable; no design row twice; the points with rows are exactly the points of COMPLETE owner
    trials (each owned once)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    assert states["COMPLETE"] == budget, states
    assert states["RUNNING"] == 0, states
    owners = [t.user_attrs["dse.point"] for t in trials
              if t.state.name == "COMPLETE" and t.user_attrs.get("dse.owner")]
    assert len(owners) == len(set(owners))
    rows = []
    for part in sorted(folder.glob("part-*.parquet")):
        rows += pq.read_table(part).to_pylist()          # every part readable
    assert not list(folder.glob(".*.tmp"))
    params = [c for c in rows[0] if c.startswith("param.")]
    design = Counter(json.dumps([r[c] for c in params] + [r["mapping"]]) for r in rows)
    assert max(design.values()) == 1, "a design row was written twice"
    points = {json.dumps([r[c] for c in params]) for r in rows}
    assert points == set(owners)
    return {"states": states, "rows": len(rows), "points": len(points)}


def test_rerun_resumes_same_rows(tmp_path):
    """Three runs of one command: the rows of one run; the re-runs say the study is complete."""
    args = ("search", WL, HW, "--trials", "30", "--out", str(tmp_path), "-q")
    first = dse(*args)
    assert first.returncode == 0, first.stderr
    before = sorted(p.name for p in (tmp_path / STUDY).glob("part-*.parquet"))
    for _ in range(2):
        again = dse(*args)
        assert again.returncode == 0, again.stderr
        assert f"study {STUDY} already has 30 of 30 trials" in again.stdout
    assert sorted(p.name for p in (tmp_path / STUDY).glob("part-*.parquet")) == before
    audit(tmp_path / STUDY, journal(tmp_path / STUDY), 30)


def test_file_storage_mutex_excludes_other_workers(tmp_path):
    """The claims mutex beside a journal (flock on <journal>.dse-lock) is exclusive between workers:
    while one holds it, another's lock() waits until it is released. (The concurrent-worker test
    below needs the workers' claims to collide to notice a missing mutex; this one does not.)"""
    import threading

    from dse.search.storage import FileCoordinator

    base = tmp_path / "_optuna.log"
    first, second = FileCoordinator("w1", base), FileCoordinator("w2", base)
    entered = threading.Event()

    def other():
        with second.lock():
            entered.set()

    with first.lock():
        thread = threading.Thread(target=other)
        thread.start()
        assert not entered.wait(0.5)            # blocked while the first worker holds the mutex
    assert entered.wait(10)                      # and admitted once it is released
    thread.join()
    first.close()
    second.close()


def test_batched_journal_appends_once_per_batch_and_replays_what_it_wrote(tmp_path):
    """Writes inside a batch reach the file as one append when it ends; a reader of the file then
    sees exactly what the writer's own replay saw; a line another process appended before the
    batch began is read inside it and lands before the batch's lines."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from dse.search.storage import BatchedJournal

    path = tmp_path / "j.log"
    journal_ = BatchedJournal(JournalFileBackend(str(path)))
    mine = JournalStorage(journal_)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with journal_.batch():
        study = optuna.create_study(study_name="s", storage=mine)
        for value in range(5):
            trial = study.ask()
            trial.suggest_int("x", 0, 9)
            study.tell(trial, value)
        assert path.read_bytes() == b""           # nothing written inside the batch
    assert journal_.appends == 1
    lines = len(path.read_text().splitlines())
    assert lines == 1 + 5 * 3                     # create study; per trial: create, param, state with values
    other = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))
    assert [t.values for t in other.trials] == [[0.0], [1.0], [2.0], [3.0], [4.0]]
    other.enqueue_trial({"x": 7})                 # another process writes between our batches
    with journal_.batch():
        trial = study.ask()                       # takes the other process's queued trial
        assert trial.params == {"x": 7} or trial.suggest_int("x", 0, 9) == 7
        study.tell(trial, 9.0)
    assert journal_.appends == 2
    again = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))
    assert [(t.number, t.state.name, t.values) for t in again.trials][-1] == (5, "COMPLETE", [9.0])
    assert len(again.trials) == 6 and [t.number for t in study.trials] == list(range(6))


def test_a_search_appends_to_its_journal_a_few_times_per_round(tmp_path):
    """Three appends per round (ask and claim; the part names; tell), not one per trial state
    change (Optuna's own journal: ~12 per trial). 60 trials in rounds of 20: 3 rounds."""
    from dse.search.runner import SearchConfig
    from dse.search.storage import JournalFile
    from dse.search.worker import run_search

    appends = []
    original = JournalFile.append_logs

    def counted(self, logs):
        appends.append(len(logs))
        return original(self, logs)

    JournalFile.append_logs = counted
    try:
        summary = run_search(WL, HW, SearchConfig(out=tmp_path, trials=60, batch=20, flush_seconds=1e9))
    finally:
        JournalFile.append_logs = original
    assert summary.complete_after == 60
    # open: the study and its binding (one hold of the mutex), then the baselines and the budget
    # (another); 3 rounds x 3 holds; close finds nothing left to fail.
    assert len(appends) <= 2 + 3 * 3, appends
    assert sum(appends) == len(default_journal(tmp_path / STUDY).read_text().splitlines())
    audit(tmp_path / STUDY, journal(tmp_path / STUDY), 60)


def test_concurrent_workers_share_budget_without_duplicates(tmp_path):
    procs = [subprocess.Popen(dse_cmd("search", WL, HW, "--trials", "60", "--out", str(tmp_path), "-q",
                                      "--worker", str(w)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for w in range(3)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    got = audit(tmp_path / STUDY, journal(tmp_path / STUDY), 60)
    told = sum(int(o.split("told ")[1].split(":")[0]) for o, _ in outs)
    assert told == 60 and got["points"] > 0
    workers = {pq.read_table(p).column("worker")[0].as_py() for p in (tmp_path / STUDY).glob("part-*.parquet")}
    assert workers <= {0, 1, 2} and len(workers) >= 1   # who got which share depends on start-up timing


@pytest.mark.parametrize("point", ["evaluated:12", "written:2", "told:2"])
def test_killed_worker_then_resume_loses_and_duplicates_nothing(tmp_path, point):
    """SIGKILL mid-trial (rows not written), mid-flush (part written, trials not told) and between
    rounds; then the same command again: the budget completes, storage and Parquet agree."""
    args = ("search", WL, HW, "--trials", "40", "--batch", "10", "--out", str(tmp_path), "-q")   # rounds of 10
    killed = dse(*args, env={"DSE_FAILPOINT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    parts_before = {p.name for p in (tmp_path / STUDY).glob("part-*.parquet")}
    resumed = dse(*args)
    assert resumed.returncode == 0, resumed.stderr
    got = audit(tmp_path / STUDY, journal(tmp_path / STUDY), 40)
    assert parts_before <= {p.name for p in (tmp_path / STUDY).glob("part-*.parquet")}
    if point.startswith("written"):
        # The killed worker's last part was durable but untold: the resume adopts it, not re-evaluates.
        assert int(resumed.stdout.split(" adopted")[0].rsplit(" ", 1)[1]) >= 1
    if point.startswith("told"):
        assert got["states"]["FAIL"] == 0    # killed between rounds: nothing was RUNNING
    else:
        assert got["states"]["FAIL"] >= 1    # the dead worker's RUNNING trials were failed and re-queued


@pytest.mark.parametrize("append", [3, 4, 5])
def test_worker_killed_mid_append_then_resume_reads_and_completes(tmp_path, append):
    """SIGKILL in the middle of a journal append (half its bytes on disk, the file ending inside a
    line; a multi-page write stops between pages at a SIGKILL). Before: the next run glued its
    first log to the fragment and the study was unreadable from then on; a batch cut inside the
    ask left trials RUNNING that named no worker, never reaped, and the next run waited for them
    forever; and Optuna's lock link, left by the dead writer, held every later append 30 s.
    Now: the fragment is cut, such trials are reaped, there is no lock link; the budget completes
    and storage and Parquet agree. Appends 3, 4, 5 of a first run of rounds of 10 fall in the
    first round's ask-and-claim, part names and tell."""
    args = ("search", WL, HW, "--trials", "40", "--batch", "10", "--out", str(tmp_path), "-q")
    killed = dse(*args, env={"DSE_FAILPOINT": f"journal-torn:{append}"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    log = default_journal(tmp_path / STUDY)
    assert log == tmp_path / "_storage" / STUDY / "journal.log"
    assert not log.read_bytes().endswith(b"\n")          # torn: the file ends inside a line
    resumed = dse(*args, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    assert "lock" not in resumed.stderr                     # no wait for a dead writer's lock
    assert not log.with_name("journal.log.lock").exists()
    got = audit(tmp_path / STUDY, journal(tmp_path / STUDY), 40)
    assert got["states"].get("RUNNING", 0) == 0
    again = dse(*args)                                      # a third run reads it too: nothing to do
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stderr


def test_cut_torn_tail(tmp_path):
    """The journal's tail after the last newline is cut; a file ending in one is left as it is."""
    import os

    from dse.search.storage import cut_torn_tail

    cases = [(b"", b""), (b"a\nb\n", b"a\nb\n"), (b"a\nb\nc", b"a\nb\n"), (b"abc", b""),
             (b"x\n" + b"y" * 200_000, b"x\n"),           # a fragment longer than one 64 KiB block
             (b"x" * 70_000 + b"\n" + b"z" * 10, b"x" * 70_000 + b"\n")]
    for before, after in cases:
        path = tmp_path / "j.log"
        path.write_bytes(before)
        fd = os.open(path, os.O_RDWR)
        try:
            assert cut_torn_tail(fd) == len(before) - len(after)
        finally:
            os.close(fd)
        assert path.read_bytes() == after


def test_told_failpoint_counts_rounds_not_timer_flushes(tmp_path):
    """The flaky case made deterministic: a worker whose timer flushes after every point (as a slow
    machine's 5 s timer does mid-round) is killed after its 2nd *round*, so nothing is RUNNING
    then. (Before the fix the failpoint sat in tell(), which every timer flush reaches.)"""
    script = ("from pathlib import Path\nfrom dse.search.runner import SearchConfig\n"
              "from dse.search.worker import run_search\n"
              f"run_search({WL!r}, {HW!r}, SearchConfig(out=Path({str(tmp_path)!r}), trials=40, batch=10, "
              "flush_seconds=0.0))\n")
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "DSE_FAILPOINT": "told:2"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    stopped = optuna.load_study(study_name=STUDY, storage=journal(tmp_path / STUDY)).get_trials(deepcopy=False)
    assert Counter(t.state.name for t in stopped) == {"COMPLETE": 20}     # two whole rounds of 10, told
    resumed = dse("search", WL, HW, "--trials", "40", "--batch", "10", "--out", str(tmp_path), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert audit(tmp_path / STUDY, journal(tmp_path / STUDY), 40)["states"]["FAIL"] == 0


def test_sigterm_flushes_and_exits_143_then_resumes(tmp_path):
    args = ("search", WL, HW, "--trials", "300", "--out", str(tmp_path), "-q")
    proc = subprocess.Popen(dse_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    folder = tmp_path / STUDY
    deadline = time.time() + 300
    while time.time() < deadline and not list(folder.glob("part-*.parquet")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "interrupted by SIGTERM" in err and "Traceback" not in err
    stopped = optuna.load_study(study_name=STUDY, storage=journal(folder)).get_trials(deepcopy=False)
    assert not [t for t in stopped if t.state.name == "RUNNING"]   # unfinished trials were failed
    complete = sum(t.state.name == "COMPLETE" for t in stopped)
    assert 0 < complete < 300
    resumed = dse("search", WL, HW, "--trials", str(complete + 20), "--out", str(tmp_path), "-q")
    assert resumed.returncode == 0, resumed.stderr
    audit(folder, journal(folder), complete + 20)


def test_study_bound_to_its_specs(tmp_path):
    """The same study name with edited specs is refused (its rows would mix two studies)."""
    r = dse("search", WL, HW, "--trials", "5", "--out", str(tmp_path), "-q", "--study", "s")
    assert r.returncode == 0, r.stderr
    edited = tmp_path / "hw.yaml"
    edited.write_text(Path(HW).read_text().replace("clock_hz: 500 MHz", "clock_hz: 600 MHz"))
    r = dse("search", WL, str(edited), "--trials", "5", "--out", str(tmp_path), "-q", "--study", "s")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "dse: error: --study: s: expected a study made for these specs (dse.hardware_sha" in r.stderr


@pytest.fixture
def postgres():
    if not PG:
        if os.environ.get("CI"):
            pytest.fail("CI runs the PostgreSQL tests: .ci/run starts a server and sets DSE_TEST_POSTGRES")
        pytest.skip("DSE_TEST_POSTGRES not set (source .ci/postgres.sh start)")
    return PG


def test_postgres_workers_share_one_study(tmp_path, postgres):
    study = f"pg{os.getpid()}_{int(time.time())}"
    procs = [subprocess.Popen(dse_cmd("search", WL, HW, "--trials", "40", "--out", str(tmp_path), "-q",
                                      "--study", study, "--storage", postgres, "--worker", str(w)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(3)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert not any(err for _, err in outs), outs              # no warnings, no tracebacks
    import sqlalchemy
    from optuna.storages import JournalStorage

    from dse.search.storage import PostgresJournal, postgres_url

    # The study is an Optuna journal in table dse_journal, read here with a plain JournalStorage.
    engine = sqlalchemy.create_engine(postgres_url(postgres))
    audit(tmp_path / study, JournalStorage(PostgresJournal(engine, study)), 40, study)
    with engine.connect() as c:     # every worker deleted its heartbeat row when it closed
        assert c.execute(sqlalchemy.text("SELECT count(*) FROM dse_workers WHERE study = :s"),
                         {"s": study}).scalar() == 0
        logs = c.execute(sqlalchemy.text("SELECT count(*) FROM dse_journal WHERE study = :s"), {"s": study}).scalar()
    assert logs > 40 * 5                                    # every trial's state changes are there
    again = dse("search", WL, HW, "--trials", "40", "--out", str(tmp_path), "-q", "--study", study,
                "--storage", postgres)
    assert again.returncode == 0 and "already has 40 of 40 trials" in again.stdout


def test_postgres_bad_password_and_database_one_line(tmp_path, postgres):
    scheme, _, rest = postgres.partition("://")
    user_pw, _, host_db = rest.rpartition("@")
    user = user_pw.partition(":")[0]
    host = host_db.rpartition("/")[0]
    for url, expect in ((f"{scheme}://{user}:wrong@{host_db}", "password authentication failed"),
                        (f"{scheme}://{user_pw}@{host}/no_such_db", 'database "no_such_db" does not exist')):
        r = dse("search", WL, HW, "--trials", "2", "--out", str(tmp_path), "-q", "--storage", url)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert r.stderr.startswith("dse: error: --storage: ") and expect in r.stderr, r.stderr
        assert ":wrong@" not in r.stderr                       # passwords are not echoed
    assert not any(tmp_path.iterdir())


def test_rows_without_their_study_are_not_written_again(tmp_path):
    """A memory study cannot resume, and a study folder whose journal is gone cannot either: both refuse
    (one line, exit 2) instead of writing every row a second time."""
    args = ("search", WL, HW, "--trials", "4", "--out", str(tmp_path), "-q", "--study", "m")
    assert dse(*args, "--storage", "memory").returncode == 0
    parts = sorted((tmp_path / "m").glob("part-*.parquet"))
    for extra in (("--storage", "memory"), ()):
        r = dse(*args, *extra)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "expected the storage holding study m, whose rows are already in" in r.stderr
    assert sorted((tmp_path / "m").glob("part-*.parquet")) == parts
    assert not default_journal(tmp_path / "m").exists() and not (tmp_path / "_storage").exists()


def test_file_storage_reaps_a_silent_worker_by_heartbeat_age(tmp_path):
    """A RUNNING trial of a worker on another host (its pid cannot be checked) is failed and re-queued
    once that worker's heartbeat file is older than GRACE_S, and left alone while it is fresh."""
    from optuna.trial import TrialState

    from dse.search.storage import GRACE_S, WORKER_ATTR, FileCoordinator, StudyTrials, open_store

    store = open_store(None, tmp_path, "s", "me:1:a")
    study = optuna.create_study(study_name="s", storage=store.storage)
    trial = study.ask()
    trial.suggest_int("x", 0, 9)
    other = "elsewhere.example:4242:b"
    trial.set_user_attr(WORKER_ATTR, other)
    coord = store.coordinator
    assert isinstance(coord, FileCoordinator)
    beat = coord.beats / other.replace(":", "_")
    beat.touch()
    trials = StudyTrials(store.storage, study)
    assert coord.reap(study, trials, force=True) == 0              # fresh heartbeat: alive
    old = time.time() - GRACE_S - 5
    os.utime(beat, (old, old))
    assert coord.reap(study, trials, force=True) == 1              # silent for longer than the grace period
    states = Counter(t.state for t in study.get_trials(deepcopy=False))
    assert states == {TrialState.FAIL: 1, TrialState.WAITING: 1}   # failed, and re-queued with its params
    retry = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))[0]
    assert retry.params == trial.params
    coord.close()


def test_postgres_reaps_a_silent_worker_by_its_heartbeat_row(postgres):
    """The same on PostgreSQL: the other worker's beat is a row in dse_workers, aged by the
    server's clock; a fresh row keeps its trial, one older than GRACE_S gets it failed and re-queued."""
    import sqlalchemy
    from optuna.trial import TrialState

    from dse.search.storage import GRACE_S, WORKER_ATTR, PostgresCoordinator, StudyTrials, open_store

    name = f"reap{os.getpid()}_{int(time.time())}"
    store = open_store(postgres, Path("/nonexistent"), name, "me:1:a")
    coord = store.coordinator
    assert isinstance(coord, PostgresCoordinator)
    with coord.lock():
        study = optuna.create_study(study_name=name, storage=store.storage)
        trial = study.ask()
        trial.suggest_int("x", 0, 9)
        other = "elsewhere.example:4242:b"
        trial.set_user_attr(WORKER_ATTR, other)
    trials = StudyTrials(store.storage, study)
    with coord.engine.begin() as c:
        c.execute(sqlalchemy.text("INSERT INTO dse_workers (study, token) VALUES (:s, :t)"), {"s": name, "t": other})
    with coord.lock():
        assert coord.reap(study, trials, force=True) == 0          # fresh heartbeat: alive
    with coord.engine.begin() as c:
        c.execute(sqlalchemy.text("UPDATE dse_workers SET beat = now() - make_interval(secs => :g) "
                                  "WHERE study = :s AND token = :t"), {"s": name, "t": other, "g": GRACE_S + 5})
    with coord.lock():
        assert coord.reap(study, trials, force=True) == 1          # silent for longer than the grace period
    states = Counter(t.state for t in study.get_trials(deepcopy=False))
    assert states == {TrialState.FAIL: 1, TrialState.WAITING: 1}
    coord.close()


def test_postgres_mutex_is_the_study_advisory_lock(postgres):
    """While a worker holds the study's mutex, the study's advisory lock is taken: another session's
    pg_try_advisory_lock on it fails (no waiting, no timer), and succeeds once it is let go."""
    import sqlalchemy

    from dse.search.storage import _lock_key, open_store

    name = f"mutex{os.getpid()}_{int(time.time())}"
    store = open_store(postgres, Path("/nonexistent"), name, "me:1:a")
    coord = store.coordinator
    key = {"k": _lock_key(f"dse:{name}")}
    with coord.engine.connect() as other:
        with coord.lock():
            assert other.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), key).scalar() is False
        assert other.execute(sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), key).scalar() is True
        other.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), key)
    coord.close()


def test_the_samplers_fixed_space_is_optunas_intersection(tmp_path):
    """The sampler is told the study's space (dse.search.sampler); it must be what Optuna's own
    NSGA-II infers: empty before any trial is complete, then the intersection of the complete
    trials' distributions, sorted by name — checked on the main job after a run, on its study."""
    from optuna.search_space import IntersectionSearchSpace

    from dse.search.runner import SearchConfig
    from dse.search.worker import Worker

    worker = Worker(WL, HW, SearchConfig(out=tmp_path, trials=30, batch=10))
    worker.open()
    study = worker.study
    assert study.sampler.infer_relative_search_space(study, None) == {}     # nothing complete yet
    worker.coord.close()
    summary = Worker(WL, HW, SearchConfig(out=tmp_path, trials=30, batch=10)).run()
    assert summary.complete_after == 30
    again = Worker(WL, HW, SearchConfig(out=tmp_path, trials=30, batch=10))
    again.open()
    fixed = again.study.sampler.infer_relative_search_space(again.study, None)
    inferred = {n: d for n, d in IntersectionSearchSpace().calculate(again.study).items() if not d.single()}
    again.coord.close()
    assert list(fixed) == list(inferred) and fixed == inferred and len(fixed) == 5


def test_workers_on_one_host_share_its_cores(tmp_path, monkeypatch):
    """Live dse workers on this host, of any study, are counted from the host registry (an entry
    of a dead process or one silent for longer than the grace period does not count; a worker that
    ends leaves it), and each worker's parallel kernels get cores // workers threads (never more
    than numba's pool): two workers on 2 cores, one thread each."""
    import numba

    import dse.jit
    from dse.search.storage import GRACE_S, Coordinator, FileCoordinator, host_registry, worker_token

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    a = FileCoordinator(worker_token(), tmp_path / "one.log")
    b = Coordinator(worker_token())                        # another study, in memory
    assert a.local_workers() == 1
    a.beat(None, None, [], force=True)
    b.beat(None, None, [], force=True)
    assert a.local_workers() == 2 and b.local_workers() == 2
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                            # a pid that is gone
    (host_registry() / f"{dead.pid}_deadbeef").touch()
    stale = host_registry() / f"{os.getpid()}_0ldbeat0"
    stale.touch()
    os.utime(stale, (time.time() - GRACE_S - 5,) * 2)     # alive, but silent for longer than the grace period
    assert a.local_workers() == 2
    b.close()
    assert a.local_workers() == 1
    a.close()

    numba.njit(lambda: 0)()                                # numba loaded
    before = numba.get_num_threads()
    monkeypatch.setattr(dse.jit, "usable_cores", lambda: 2)
    try:
        assert dse.jit.share_cores(2) == 1 and numba.get_num_threads() == 1
        assert dse.jit.share_cores(5) == 1
        assert dse.jit.share_cores(1) == min(2, numba.config.NUMBA_NUM_THREADS) == numba.get_num_threads()
        monkeypatch.setattr(dse.jit, "usable_cores", lambda: 64)
        assert dse.jit.share_cores(1) == numba.config.NUMBA_NUM_THREADS      # capped by the pool
    finally:
        numba.set_num_threads(before)


def test_space_suggests_what_its_distributions_say():
    """Space.suggest asks Optuna for exactly Space.distributions() (the sampler's fixed space is
    that dict): a categorical, an integer knob on a log scale and a float one."""
    from dse.search.space import Space
    from dse.spec.common import Knob

    space = Space.of([("a", Knob("a", choices=(1, 2, 4))), ("b", Knob("b", low=1, high=64, log=True, integer=True)),
                      ("c", Knob("c", low=0.5, high=2.0))])
    study = optuna.create_study()
    trial = study.ask()
    values = space.suggest(trial)
    assert study.trials[0].distributions == space.distributions()
    assert values["a"] in (1, 2, 4) and 1 <= values["b"] <= 64 and 0.5 <= values["c"] <= 2.0


def test_another_users_live_process_is_not_gone(monkeypatch):
    """kill(pid, 0) refused (another user's process) means the process exists; no such process
    means gone; a non-number is never gone."""
    import os

    from dse.search import storage

    def refused(pid, sig):
        raise PermissionError

    def missing(pid, sig):
        raise ProcessLookupError

    monkeypatch.setattr(os, "kill", refused)
    assert storage._pid_gone("12345") is False
    monkeypatch.setattr(os, "kill", missing)
    assert storage._pid_gone("12345") is True
    assert storage._pid_gone("w1") is False
