"""dse.jit: numba's on-disk cache cannot poison later runs — two first runs compiling different
signatures of one kernel, a first run killed between the cache's two writes, and an edit to a
kernel another kernel inlines (dse/jit.py's docstring has the three failures)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from dse import jit

SafeIndexDataCacheFile = jit.install()

ROOT = Path(__file__).resolve().parents[1]


def test_two_savers_of_one_cache_get_two_data_files(tmp_path):
    """Numba's own save chose the first free name from the index it had read; a second process
    that had read the same (empty) index took the same name. Here each save re-reads the index
    under the lock: two cache-file objects (as two processes hold) end with one entry each."""
    first = SafeIndexDataCacheFile(str(tmp_path), "k.f-1.py311", "stamp")
    second = SafeIndexDataCacheFile(str(tmp_path), "k.f-1.py311", "stamp")
    first.save("sig-int", {"code": "for int64"})
    second.save("sig-float", {"code": "for float64"})
    assert sorted(p.name for p in tmp_path.glob("*.nbc")) == ["k.f-1.py311.1.nbc", "k.f-1.py311.2.nbc"]
    reader = SafeIndexDataCacheFile(str(tmp_path), "k.f-1.py311", "stamp")
    assert reader.load("sig-int") == {"code": "for int64"}
    assert reader.load("sig-float") == {"code": "for float64"}
    assert (tmp_path / jit.LOCK_NAME).exists()


def test_a_save_reads_the_index_writes_data_then_index_all_under_the_lock(tmp_path, monkeypatch):
    """The order that makes the collision and the half-save impossible, recorded: the exclusive
    lock is taken before the index is read and let go after the index is written, and the data is
    written before the index. (Interleavings between processes cannot be forced without a timer;
    this checks the order they rely on.)"""
    import contextlib

    events = []

    @contextlib.contextmanager
    def recording(path, exclusive):
        events.append("lock" if exclusive else "shared")
        yield
        events.append("unlock")

    for name in ("_load_index", "_save_data", "_save_index"):
        original = getattr(SafeIndexDataCacheFile, name)
        monkeypatch.setattr(SafeIndexDataCacheFile, name,
                            lambda self, *a, _n=name, _o=original: (events.append(_n), _o(self, *a))[1])
    monkeypatch.setattr(jit, "cache_lock", recording)
    cache = SafeIndexDataCacheFile(str(tmp_path), "k.f-1.py311", "stamp")
    cache.save("sig", "data")
    assert events == ["lock", "_load_index", "_save_data", "_save_index", "unlock"]
    events.clear()
    assert cache.load("sig") == "data"
    assert events == ["shared", "_load_index", "unlock"]


def test_a_kill_between_data_and_index_leaves_no_entry_naming_other_code(tmp_path, monkeypatch):
    """Data first, index second: a kill between them (here: the index write fails) leaves the new
    data unreferenced, never an entry naming a file that still holds another signature's code."""
    old = SafeIndexDataCacheFile(str(tmp_path), "k.f-1.py311", "old source")
    old.save("sig-a", "code for sig-a, old source")               # k.f-1.py311.1.nbc
    new = SafeIndexDataCacheFile(str(tmp_path), "k.f-1.py311", "new source")

    def killed(self, overloads):
        raise KeyboardInterrupt("killed between the data and the index")

    monkeypatch.setattr(SafeIndexDataCacheFile, "_save_index", killed)
    try:
        new.save("sig-b", "code for sig-b, new source")            # the stale index is ignored: name 1 again
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    after = SafeIndexDataCacheFile(str(tmp_path), "k.f-1.py311", "new source")
    assert after.load("sig-b") is None          # compiled again, not read from a file it never indexed
    assert after.load("sig-a") is None          # the old source's entry is stale


def test_dse_caches_are_stamped_with_every_kernel_source(tmp_path):
    """An edit to any file that imports dse.jit changes the stamp of every dse kernel's cache (a
    kernel inlines kernels from other files); other directories keep numba's own stamp."""
    package = tmp_path / "dse"
    shutil.copytree(ROOT / "dse", package, ignore=shutil.ignore_patterns("__pycache__"))
    before = jit.kernel_sources_hash(package)
    assert before == jit.sources()
    for kernel_file in ("cost/roofline.py", "cost/dataflow.py", "system/chiplet/kernels.py"):   # nb / njit importers
        path = package / kernel_file
        path.write_text(path.read_text() + "\n# an edit\n")
        assert jit.kernel_sources_hash(package) != before, kernel_file
        before = jit.kernel_sources_hash(package)
    for other in ("cli.py", "point.py", "search/worker.py"):     # not kernel modules (the last two call
        path = package / other                                # use_plain_python / share_cores from dse.jit)
        path.write_text(path.read_text() + "\n# not a kernel module\n")
        assert jit.kernel_sources_hash(package) == before, other
    ours = SafeIndexDataCacheFile(str(jit.PACKAGE / "cost/__pycache__"), "roofline.x-1.py311", "stamp")
    assert ours._source_stamp == ("stamp", jit.sources())
    theirs = SafeIndexDataCacheFile(str(tmp_path / "elsewhere"), "m.x-1.py311", "stamp")
    assert theirs._source_stamp == "stamp"


KERNEL = '''
import sys
from dse.jit import njit

@njit(cache=True)
def twice(x):
    return x + x

for arg in sys.argv[1:]:
    value = {"i": 21, "f": 1.25, "b": True, "c": 2j}[arg]
    print(arg, twice(value))
'''


def test_concurrent_first_runs_compiling_different_signatures_then_every_signature_works(tmp_path):
    """Four cold processes at once, each compiling the same kernel for its own argument types
    (the collision that made the chiplet kernel segfault), then one process loading all four."""
    (tmp_path / "kern.py").write_text(KERNEL)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}"}
    orders = ["i f", "f b", "b c", "c i"]
    procs = [subprocess.Popen([sys.executable, "kern.py", *o.split()], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for o in orders]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outs
    final = subprocess.run([sys.executable, "kern.py", "i", "f", "b", "c"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert final.stdout.split("\n")[:4] == ["i 42", "f 2.5", "b 2", "c 4j"]
    index = list((tmp_path / "__pycache__").glob("kern.twice-*.nbi"))
    assert len(index) == 1 and len(list((tmp_path / "__pycache__").glob("kern.twice-*.nbc"))) == 4


def test_a_first_run_killed_while_compiling_then_two_at_once_then_the_next_run_works(tmp_path):
    """The real CLI on a cold copy of dse (its own __pycache__): killed right after writing a
    compiled kernel's data (its index entry not yet written), then two cold runs at once, then
    one more; each that finishes prints what a run of this checkout prints."""
    shutil.copytree(ROOT / "dse", tmp_path / "dse", ignore=shutil.ignore_patterns("__pycache__"))
    args = ["evaluate", str(ROOT / "workloads/zb_table5_profiled.yaml"), str(ROOT / "hardware/pipeline_only.yaml"),
            "--set", "family=zb-h1"]
    expected = subprocess.run([sys.executable, "-m", "dse.cli", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=600)
    assert expected.returncode == 0, expected.stderr
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "DSE_JIT": "1"}     # compiled, not plain Python
    cmd = [sys.executable, "-m", "dse.cli", *args]
    killed = subprocess.run(cmd, cwd=tmp_path, env={**env, "DSE_FAILPOINT": "numba-data:2"}, capture_output=True,
                            text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert list((tmp_path / "dse").rglob("*.nbc"))          # it died with data on disk
    pair = [subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in pair]
    assert [p.returncode for p in pair] == [0, 0], outs
    assert [o for o, _ in outs] == [expected.stdout] * 2
    after = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert after.returncode == 0 and after.stdout == expected.stdout, after.stderr
