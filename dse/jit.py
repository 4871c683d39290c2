"""Numba for dse's kernels, with an on-disk cache that cannot poison later runs.

Every kernel module imports numba through here (``from dse.jit import nb`` / ``njit``, ``prange``),
so that before any ``@njit(cache=True)`` is decorated, numba's cache file class is made safe against
the two ways it crashed or misled dse runs:

1. **Two processes compiling one function.** Numba's ``IndexDataCacheFile.save`` reads the index
   (signature key -> data file name), picks the first free name, writes the index, then the data,
   with no lock. Two first runs compiling *different* signatures of one kernel both pick
   ``f.1.nbc``; if the first one's data lands last, the index maps the second signature to machine
   code compiled for the first, and every later call with that signature jumps into code built for
   other argument types: a segfault in every run until ``__pycache__`` is deleted. Here a save
   holds an exclusive ``flock`` on ``<cache dir>/dse-numba.lock`` from reading the index to writing
   it (so the second saver sees the first's entry and takes the next name), and a load holds it
   shared. A process killed while holding it releases it (the kernel drops a dead process's locks).
2. **A kill between the two writes.** Numba writes the index first: a kill before the data leaves
   an entry naming a data file that is missing or, worse, left from an older source with the same
   number. Here the data is written first (each file renamed into place whole, as numba does), the
   index second: a kill leaves at most an unreferenced data file.
3. **A changed callee.** Numba keys a cache entry by its own file's time stamp and size and its own
   bytecode, but a kernel inlines the kernels it calls from other files: after an edit to
   ``dse/cost/roofline.py`` the cached ``step_cost`` kept the old roofline. Here the stamp of every
   dse kernel's index also carries a hash of every dse kernel module (:data:`KERNEL_IMPORT`), so any edit to
   any kernel file makes all of dse's cached kernels stale (compiled again on first use).

Kernels outside dse (user code in the same process) keep numba's own stamp: only cache files
whose directory lies in dse's package tree (or NUMBA_CACHE_DIR's mirror of it) carry the hash.

**Plain Python.** A command that evaluates one design of a kind whose kernels are cheap
interpreted (``Kind.plain_python``) calls :func:`use_plain_python` before any kernel module is
imported: the decorators then return the functions themselves (``prange`` is ``range``) and numba
is never imported — its import and its first-call target set-up cost ~0.8 s, more than such a
design costs interpreted. The same code runs either way (numba's ``NUMBA_DISABLE_JIT=1`` runs it
so too, and the mutation run relies on the two agreeing); ``DSE_JIT=0`` asks for it everywhere,
``DSE_JIT=1`` forbids it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
from pathlib import Path
from types import SimpleNamespace

from dse.failpoints import failpoint

PACKAGE = Path(__file__).resolve().parent
LOCK_NAME = "dse-numba.lock"
_MODE = {"plain": os.environ.get("DSE_JIT") == "0", "decided": False}


def use_plain_python() -> bool:
    """Run the kernels interpreted in this process (unless ``DSE_JIT=1``); call before any kernel
    module is imported. Returns whether plain Python is in use (False: numba was already loaded
    for kernels, or ``DSE_JIT=1``)."""
    if not _MODE["decided"] and os.environ.get("DSE_JIT") != "1":
        _MODE["plain"] = True
    return _MODE["plain"]


def _plain_njit(*args, **options):
    """``njit`` that returns the function itself (``@njit`` and ``@njit(...)`` forms); ``py_func``
    names it, as on a numba dispatcher."""
    if len(args) == 1 and callable(args[0]) and not options:
        args[0].py_func = args[0]
        return args[0]
    return lambda function: _plain_njit(function)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity: what Slurm's cgroup or ``taskset``
    allow), not the machine's count, which numba would otherwise size its thread pool by."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def share_cores(workers: int) -> int:
    """Let this process's parallel kernels use its share of the usable cores when ``workers``
    dse workers run on this host: ``max(1, cores // workers)`` threads, never more than
    ``NUMBA_NUM_THREADS`` allows. Without it two workers each run a thread per core and the
    cores are oversubscribed (measured on 2 cores: two workers at 0.49x the trials/s of one).
    Nothing happens while numba is not loaded (plain Python, or no kernel used yet). Returns the
    thread count set (0: none)."""
    import sys

    numba = sys.modules.get("numba")
    if numba is None or _MODE["plain"]:
        return 0
    threads = max(1, min(numba.config.NUMBA_NUM_THREADS, usable_cores() // max(1, workers)))
    numba.set_num_threads(threads)
    return threads


def _numba():
    """numba, with the safe cache class installed (first call), for the kernel modules; its
    thread pool sized by the usable cores unless ``NUMBA_NUM_THREADS`` says otherwise."""
    _MODE["decided"] = True
    os.environ.setdefault("NUMBA_NUM_THREADS", str(usable_cores()))
    import numba

    install()
    return numba


def __getattr__(name: str):
    """``from dse.jit import nb / njit / prange``: numba's own objects (numba must see its own
    ``prange``), or their plain-Python stand-ins, decided when the first kernel module imports."""
    if name not in ("nb", "njit", "prange"):
        raise AttributeError(name)
    if _MODE["plain"]:
        _MODE["decided"] = True
        return {"nb": SimpleNamespace(njit=_plain_njit, prange=range), "njit": _plain_njit, "prange": range}[name]
    numba = _numba()
    return {"nb": numba, "njit": numba.njit, "prange": numba.prange}[name]


# A kernel module: one that takes numba's decorators or prange from here (``from dse.jit import
# nb`` / ``njit`` / ``prange``); modules that only call :func:`use_plain_python` or
# :func:`share_cores` are not, and editing them must not make every cached kernel stale.
KERNEL_IMPORT = re.compile(rb"^from dse\.jit import [^\n]*\b(nb|njit|prange)\b", re.MULTILINE)


def kernel_sources_hash(package: Path = PACKAGE) -> str:
    """SHA-256 over the path and bytes of every dse kernel module (:data:`KERNEL_IMPORT`: each may
    inline another's kernels), in path order."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        text = path.read_bytes()
        if KERNEL_IMPORT.search(text):
            digest.update(str(path.relative_to(package)).encode() + b"\0" + text + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def sources() -> str:
    """This installation's :func:`kernel_sources_hash` (computed when the first cache is made)."""
    return kernel_sources_hash()


def _ours(cache_path: str) -> bool:
    """Whether a cache directory holds dse kernels (in-tree ``__pycache__`` or numba's mirror of the
    tree under NUMBA_CACHE_DIR, which keeps the package's path)."""
    path = os.path.abspath(cache_path)
    return path.startswith(str(PACKAGE)) or str(PACKAGE).lstrip(os.sep) in path


@contextlib.contextmanager
def cache_lock(cache_path: str, exclusive: bool):
    """``flock`` on the cache directory's lock file (shared for reading, exclusive for writing)."""
    os.makedirs(cache_path, exist_ok=True)
    fd = os.open(os.path.join(cache_path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)           # closing the descriptor releases the lock


def _safe_class():
    """The safe subclass of numba's ``IndexDataCacheFile`` (defined on first use: numba is
    imported only when a kernel is compiled or loaded)."""
    from numba.core import caching

    class SafeIndexDataCacheFile(caching.IndexDataCacheFile):
        """Numba's index/data cache file, locked, data before index, stamped with the kernels'
        hash (the module docstring says why)."""

        dse_safe = True

        def __init__(self, cache_path, filename_base, source_stamp):
            if _ours(cache_path):
                source_stamp = (source_stamp, sources())
            super().__init__(cache_path, filename_base, source_stamp)

        def save(self, key, data):
            with cache_lock(self._cache_path, exclusive=True):
                overloads = self._load_index()
                data_name = overloads.get(key)
                if data_name is None:
                    taken = set(overloads.values())
                    number = 1
                    while self._data_name(number) in taken:
                        number += 1
                    data_name = self._data_name(number)
                self._save_data(data_name, data)
                failpoint("numba-data")
                if overloads.get(key) != data_name:
                    overloads[key] = data_name
                    self._save_index(overloads)

        def load(self, key):
            with cache_lock(self._cache_path, exclusive=False):
                return super().load(key)

    return SafeIndexDataCacheFile


def install():
    """Make numba's caches (created from here on) use the safe class; returns it. Idempotent;
    numba looks the class up by its module-level name when a kernel's cache is made."""
    from numba.core import caching

    if not getattr(caching.IndexDataCacheFile, "dse_safe", False):
        caching.IndexDataCacheFile = _safe_class()
    return caching.IndexDataCacheFile
