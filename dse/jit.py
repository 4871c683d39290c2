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
   dse kernel's index also carries a hash of every dse module that imports this one, so any edit to
   any kernel file makes all of dse's cached kernels stale (compiled again on first use).

Kernels outside dse (user code in the same process) are untouched: the changes apply to cache
files whose directory lies in dse's package tree or under ``NUMBA_CACHE_DIR``'s mirror of it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from pathlib import Path

import numba as nb
from numba import njit, prange  # noqa: F401  (re-exported for the kernel modules)
from numba.core import caching

from dse.failpoints import failpoint

PACKAGE = Path(__file__).resolve().parent
LOCK_NAME = "dse-numba.lock"


def kernel_sources_hash(package: Path = PACKAGE) -> str:
    """SHA-256 over the path and bytes of every dse module that imports ``dse.jit`` (the kernel
    modules: each may inline another's kernels), in path order."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        text = path.read_bytes()
        if b"from dse.jit import" in text:
            digest.update(str(path.relative_to(package)).encode() + b"\0" + text + b"\0")
    return digest.hexdigest()


SOURCES = kernel_sources_hash()


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


class SafeIndexDataCacheFile(caching.IndexDataCacheFile):
    """Numba's index/data cache file, locked, data before index, stamped with the kernels' hash
    (the module docstring says why)."""

    def __init__(self, cache_path, filename_base, source_stamp):
        if _ours(cache_path):
            source_stamp = (source_stamp, SOURCES)
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


def install() -> None:
    """Make numba's caches (created from here on) use :class:`SafeIndexDataCacheFile`.
    Idempotent; numba looks the class up by this module-level name when a cache is made."""
    caching.IndexDataCacheFile = SafeIndexDataCacheFile


install()

__all__ = ["nb", "njit", "prange", "install", "kernel_sources_hash", "SOURCES"]
