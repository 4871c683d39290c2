"""Fault injection for the kill tests: ``DSE_FAILPOINT=NAME:N`` SIGKILLs this process the N-th
time it passes ``failpoint(NAME)``. The places:

- ``evaluated``: a design point evaluated, its rows not yet written (dse.search.worker);
- ``written``: a part renamed into place, its trials not yet told;
- ``told``: a round told, the next not asked;
- ``journal-torn``: half of a journal append written (a SIGKILL between two pages of its
  ``write``) (dse.search.storage.JournalFile);
- ``numba-data``: a compiled kernel's data file written to numba's cache, its index entry not yet
  (dse.jit) — a first run killed while it compiles.

Unset (the default) it costs one dictionary lookup.
"""

from __future__ import annotations

import os

_PASSES: dict[str, int] = {}


def failpoint(name: str, on_kill=None) -> None:
    """SIGKILL this process if ``DSE_FAILPOINT`` names ``name`` and this is its N-th pass
    (``on_kill()`` first: what the process had done when the signal arrived)."""
    spec = os.environ.get("DSE_FAILPOINT")
    if not spec or spec.partition(":")[0] != name:
        return
    _PASSES[name] = _PASSES.get(name, 0) + 1
    if _PASSES[name] >= int(spec.partition(":")[2] or 1):
        import signal

        if on_kill is not None:
            on_kill()
        os.kill(os.getpid(), signal.SIGKILL)
