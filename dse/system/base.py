"""The system-kind interface and the registry: the only place that lists the kinds.

A *system kind* (chiplet modules, LLM inference on GPUs/PIM, ...) is one package under
``dse/system/<kind>/`` exposing one :class:`SystemKind` object. ``dse search``, ``evaluate``,
``pareto`` and the hardware loader reach systems only through :func:`kind_named` and
:func:`kind_for_hardware_file`; nothing downstream guesses a kind from fields or columns (every
result row and every results file carries ``kind``). Adding a system = one package + one line in
:data:`REGISTRY`.

Kind objects are light to import (specs only); heavy modules (numba kernels) load inside their
methods, so ``dse --help`` stays instant.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from dse.errors import DseError
from dse.spec.common import Knob, Node, collect_knobs

# kind name -> "module:class" of its SystemKind.
REGISTRY: dict[str, str] = {
    "chiplet": "dse.system.chiplet.kind:ChipletKind",
    "llm": "dse.system.llm.kind:LlmKind",
    "training": "dse.system.training.kind:TrainingKind",
    "serving": "dse.system.serving.kind:ServingKind",
}


class SystemKind(ABC):
    """What one system kind declares and does. Data flows one way through it:

        parse_hardware (YAML -> frozen spec)   check_workload (the pair is one it runs)
        knobs / objectives (what search varies and optimises)
        build (resolved specs -> IR point)  ->  design_rows (search: rows per point)
                                            ->  detail (evaluate: one design in full) -> render
    """

    name: ClassVar[str]                   # the registry key, also the ``kind`` column
    hardware_sections: ClassVar[tuple[str, ...]]   # top-level hardware keys that identify the kind
    mapping_title: ClassVar[str] = "mapping"       # `dse pareto` column title of the mapping summary
    fields_heading: ClassVar[str]         # README heading of the kind's hardware-field table
    spec_module: ClassVar[str]            # the hardware spec module: ``parse(root)`` and ``FIELDS``
    view_module: ClassVar[str]            # rendering for people: ``render``, ``breakdown`` (``mapping_summary``)
    cases_module: ClassVar[str | None] = None   # ``dse validate``'s reference cases: ``CASES`` and ``COMPUTE``
    # The optional workload sections it reads (names of dse.spec.workload.sections); a workload
    # with any other is an error before any search work, never silently ignored.
    workload_sections: ClassVar[tuple[str, ...]]
    # One design costs less interpreted than numba's import and first-call set-up (~0.8 s): `dse
    # evaluate` runs this kind's kernels as plain Python (dse.jit.use_plain_python), same code.
    plain_python: ClassVar[bool] = False

    def plain_python_for(self, hardware: Any, mapping_given: bool) -> bool:
        """Whether `dse evaluate` of this pair should run the kernels interpreted (decided from the
        specs alone, before any kernel module is imported): the kind's ``plain_python``."""
        return self.plain_python

    def hardware_fields(self) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Every hardware field the loader accepts: section path -> (required, optional) keys
        (the dict the parser itself uses; README's table under ``fields_heading`` lists the same)."""
        return importlib.import_module(self.spec_module).FIELDS

    def parse_hardware(self, root: Node) -> Any:
        """Hardware YAML (root node) -> the kind's frozen hardware spec (knobs left as Knobs)."""
        return importlib.import_module(self.spec_module).parse(root)

    @abstractmethod
    def check_workload(self, workload: Any, hardware: Any) -> None:
        """Raise a DseError (file, field, expectation) if this kind cannot run the workload."""

    def check_pair(self, workload: Any, hardware: Any) -> None:
        """No workload section the kind would silently ignore (a ``training`` section on inference
        hardware, ``serving`` traffic on a chiplet module, ...), then :meth:`check_workload`."""
        from dse.spec.workload import sections

        for path, section in sections(workload):
            if section not in self.workload_sections:
                readers = [name for name in REGISTRY if section in kind_named(name).workload_sections]
                name = section.rsplit(".", 1)[-1]
                raise DseError(workload.source, path, f"no {name} section for {self.name} hardware (the "
                               f"{', '.join(readers) or 'no'} kind{'s' if len(readers) > 1 else ''} "
                               f"read{'' if len(readers) > 1 else 's'} it; {self.name} would ignore it)")
        self.check_workload(workload, hardware)

    def seed_points(self, workload: Any, hardware: Any) -> list[dict]:
        """Knob values (by knob name, ``hw.<path>``) every new study evaluates first: the kind's
        baselines. None by default."""
        return []

    def knobs(self, workload: Any, hardware: Any) -> list[tuple[str, Knob]]:
        """The outer knobs, named ``wl.<path>`` / ``hw.<path>``: every knob of both specs."""
        return ([("wl." + k.path, k) for k in collect_knobs(workload)]
                + [("hw." + k.path, k) for k in collect_knobs(hardware)])

    @abstractmethod
    def objectives(self, workload: Any, hardware: Any) -> tuple[tuple[str, bool], ...]:
        """Default objectives: (column, maximise) pairs, the first two plotted by `dse pareto`."""

    @abstractmethod
    def build(self, workload: Any, hardware: Any) -> Any:
        """Resolved specs (no knobs left) -> the kind's design point (IR and cost tables)."""

    @abstractmethod
    def design_rows(self, point: Any, weights: tuple[float, ...] | None = None) -> tuple[list[dict], int]:
        """The inner level of the search on one point: result rows (mapping text, metrics with
        units in their names, ``feasible``, ``violations``) and the number of mappings evaluated.
        ``weights``: the inner objective weights, where the kind has them (None: its default)."""

    @abstractmethod
    def detail(self, point: Any, mapping_path: Path | None) -> dict:
        """`dse evaluate`: one design in full (mapping, its source, metrics, ``per_op`` rows)."""

    def render(self, console: Any, result: dict, full: bool = False) -> None:
        """Print a `detail` result (with workload, hardware and params added) for people: its ops
        grouped, or every op with ``full`` (the view module's ``render``)."""
        importlib.import_module(self.view_module).render(console, result, full)

    def breakdown(self, result: dict) -> tuple[str, list[tuple[str, float, float]]]:
        """`dse evaluate --figure`'s bars of a `detail` result: (what they are, [(label, latency_s,
        energy_j)]) (the view module's ``breakdown``)."""
        return importlib.import_module(self.view_module).breakdown(result)

    def reference_cases(self) -> list[dict]:
        """`dse validate`'s cases of this kind: the entries of ``validate_cases.yaml`` in the package
        of its ``cases_module`` (none without one)."""
        if self.cases_module is None:
            return []
        from importlib import resources

        import yaml

        package = importlib.import_module(self.cases_module).__package__
        return yaml.safe_load(resources.files(package).joinpath("validate_cases.yaml").read_text()) or []

    def compute_case(self, compute: str, args: dict) -> float:
        """One case's value: the cases module's ``COMPUTE[compute](**args)``."""
        return float(importlib.import_module(self.cases_module).COMPUTE[compute](**args))

    def mapping_summary(self, mapping: str) -> str:
        """A short form of a row's mapping text for `dse pareto`'s table (the view module's
        ``mapping_summary``, else the text as it is)."""
        summary = getattr(importlib.import_module(self.view_module), "mapping_summary", None)
        return summary(mapping) if summary is not None else mapping


def kind_names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def kind_named(name: str, source: str = "kind", path: str = "") -> SystemKind:
    """The registered kind ``name``; an unknown name is a one-line DseError."""
    if name not in REGISTRY:
        raise DseError(source, path, f"a system kind, one of {list(REGISTRY)}", name)
    module, _, cls = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


def kind_of(spec: Any) -> SystemKind:
    """The kind of a parsed hardware spec (its ``kind`` class attribute)."""
    return kind_named(spec.kind)


def kind_for_hardware_file(root: Node) -> SystemKind:
    """The kind of a hardware YAML: its ``kind:`` field, else the one kind whose identifying
    sections (``chiplets`` / ``gpu``, ``pim``) the file has."""
    if not isinstance(root.value, dict):
        raise root.fail("a YAML mapping of fields (name: ..., and so on)")
    value = root.value
    if "kind" in value:
        node = root.child("kind", value["kind"])
        if not isinstance(node.value, str):
            raise node.fail(f"a system kind, one of {list(REGISTRY)}")
        return kind_named(node.value, root.source, node.path)
    kinds = [kind_named(name) for name in REGISTRY]
    matches = [k for k in kinds if any(s in value for s in k.hardware_sections)]
    if len(matches) == 1:
        return matches[0]
    sections = {k.name: list(k.hardware_sections) for k in kinds if k.hardware_sections}
    if not matches:
        raise DseError(root.source, "kind", f"a `kind` field (one of {list(REGISTRY)}) or the sections of "
                       f"one kind {sections}", sorted(value))
    raise DseError(root.source, "kind", f"sections of one kind only {sections} (or a `kind` field)",
                   sorted(value))
