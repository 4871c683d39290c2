"""The bundled spec files (workloads/ and hardware/): where they are in a checkout or after
``pip install``, and loading one resolved, for `dse validate`'s reference cases."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from dse.errors import DseError


def bundled(path: str) -> str:
    """A bundled spec file: in a checkout (or editable install) next to the package, else where
    ``pip install`` put the data files (``<prefix>/share/dse``)."""
    for root in (Path(__file__).resolve().parents[2], Path(sys.prefix) / "share" / "dse"):
        if (root / path).is_file():
            return str(root / path)
    raise DseError(path, "", "a bundled spec file (workloads/ and hardware/ next to the dse package, or "
                   f"{Path(sys.prefix) / 'share' / 'dse'} after pip install)")


def spec(folder: str, name: str, knobs: dict | None = None) -> Any:
    """The bundled ``folder``/``name``.yaml (``workloads`` or ``hardware``), its knobs resolved
    (``knobs`` by path, the rest at their defaults)."""
    from dse.spec.common import resolve
    from dse.spec.hardware import load_hardware
    from dse.spec.workload import load_workload

    loader = load_workload if folder == "workloads" else load_hardware
    return resolve(loader(bundled(f"{folder}/{name}.yaml")), knobs or {})
