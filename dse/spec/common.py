"""Shared spec machinery: a path-tracking YAML reader, units, and search knobs.

Every value a spec reads goes through :class:`Node`, which knows the file and the field path, so
every error is one line naming both and saying what was expected (:class:`dse.errors.DseError`).

Numeric fields carry their unit in their name (``clock_hz``, ``l2_bytes``, ``hop_latency_s``).
A value may be a plain number in that unit or a string with an explicit unit of the same kind
(``"10 MiB"``, ``"500 MHz"``, ``"35 ns"``, ``"64 GB/s"``, ``"2.04 pJ/bit"``); a unit of another kind
is an error.

Any numeric or named field may instead be a search range, which makes it a design knob::

    pe_array: {choices: [[64, 64], [32, 128]]}
    l2_bytes: {min: 1 MiB, max: 16 MiB, log: true}
    dataflow: {choices: [weight_stationary, output_stationary]}
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Callable

from dse.errors import DseError

# Unit tables: dimension -> {suffix: factor to the field's base unit}.
_UNITS: dict[str, dict[str, float]] = {
    "bytes": {"b": 1.0, "byte": 1.0, "bytes": 1.0, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
              "kib": 1024.0, "mib": 1024.0**2, "gib": 1024.0**3, "tib": 1024.0**4},
    "hz": {"hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9},
    "s": {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9, "ps": 1e-12},
    "bytes_per_s": {"b/s": 1.0, "kb/s": 1e3, "mb/s": 1e6, "gb/s": 1e9, "tb/s": 1e12,
                    "kib/s": 1024.0, "mib/s": 1024.0**2, "gib/s": 1024.0**3},
    "pj": {"pj": 1.0, "fj": 1e-3, "nj": 1e3},
    "pj_per_bit": {"pj/bit": 1.0, "pj/b": 1.0, "fj/bit": 1e-3},
    "bytes_per_cycle": {"b/cycle": 1.0, "bytes/cycle": 1.0},
    "flop_per_s": {"flop/s": 1.0, "gflop/s": 1e9, "tflop/s": 1e12, "pflop/s": 1e15},
    "w": {"w": 1.0, "mw": 1e-3, "uw": 1e-6, "µw": 1e-6, "kw": 1e3},
    "pj_per_flop": {"pj/flop": 1.0, "fj/flop": 1e-3},
    "mm2": {"mm2": 1.0, "mm^2": 1.0},
}
_UNIT_NAMES = {"bytes": "bytes", "hz": "Hz", "s": "seconds", "bytes_per_s": "bytes/s",
               "pj": "pJ", "pj_per_bit": "pJ/bit", "bytes_per_cycle": "bytes/cycle",
               "flop_per_s": "FLOP/s", "w": "W", "pj_per_flop": "pJ/FLOP", "mm2": "mm^2"}
# The largest physically plausible value per unit (a field beyond it is a typo or a unit slip, and
# would overflow or hang the cost model): named in the error.
_MAX: dict[str | None, float] = {
    "bytes": 1e18, "hz": 1e11, "s": 1e6, "bytes_per_s": 1e16, "pj": 1e6, "pj_per_bit": 1e4,
    "bytes_per_cycle": 1e9, "flop_per_s": 1e19, "w": 1e7, "pj_per_flop": 1e4, "mm2": 1e6,
}
MAX_COUNT = 10**9          # unitless integers: dimensions, counts, lengths, degrees
MAX_PLAIN = 1e12           # unitless reals
MAX_SPEC_BYTES = 16 * 2**20   # a spec file is a page of YAML, not a data set
MAX_ALIASES = 10_000          # *name references in one YAML file
MAX_EXPANDED = 1_000_000      # values of a YAML document with its aliases expanded
MAX_NAME = 100             # names become study names, folder names and Parquet labels
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\s\d].*?)?\s*$")


@dataclass(frozen=True)
class Knob:
    """A field left open for search. ``choices`` xor (``low``, ``high``)."""

    path: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    # How the plain field parses one value (``dse evaluate --set`` checks a value outside the
    # choices with it); not part of the knob's identity.
    parse: Callable[[Node], Any] | None = field(default=None, compare=False, hash=False, repr=False)

    @property
    def default(self) -> Any:
        """The value used when no search assigns one: the first choice, else the minimum."""
        if self.choices is not None:
            return self.choices[0]
        return int(self.low) if self.integer else self.low


def choices_of(value: Any) -> tuple:
    """The values a field may take: a knob's choices, or the fixed value alone."""
    return value.choices if isinstance(value, Knob) else (value,)


@dataclass(frozen=True)
class Parallel:
    """Tensor x pipeline x data parallel degrees (GPU kinds); ``auto`` (all None) lets the
    evaluator try every split of the GPUs."""

    tp: int | Knob | None = None
    pp: int | Knob | None = None
    dp: int | Knob | None = None

    @property
    def auto(self) -> bool:
        return self.tp is None


@dataclass(frozen=True)
class Node:
    """A YAML value with its provenance (file, dotted path) for error messages."""

    value: Any
    source: str
    path: str

    def fail(self, expected: str, got: object = None) -> DseError:
        """The error at this node; without ``got`` it shows the node's value, except for a whole
        file, where it says what the file holds rather than echoing it."""
        if got is None:
            got = self.value if self.path else ("an empty file" if self.value is None else
                                                f"{_yaml_type(self.value)} at the top level")
        return DseError(self.source, self.path, expected, got)

    def child(self, key: str | int, value: Any) -> Node:
        if isinstance(key, int):
            return Node(value, self.source, f"{self.path}[{key}]")
        return Node(value, self.source, f"{self.path}.{key}" if self.path else key)

    # --- containers -------------------------------------------------------------------------
    def mapping(self, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Node]:
        """Children of a mapping, rejecting unknown keys and requiring ``required``."""
        if not isinstance(self.value, dict):
            raise self.fail("a mapping" if self.path else "a YAML mapping of fields (name: ..., and so on)")
        allowed = set(required) | set(optional)
        for key in self.value:
            if key not in allowed:
                where = self.child(str(key), None)
                raise DseError(self.source, where.path,
                               f"one of the known fields {sorted(allowed)} (unknown field)", key)
        for key in required:
            if key not in self.value:
                raise DseError(self.source, self.child(key, None).path, "a value (missing field)")
        return {k: self.child(k, v) for k, v in self.value.items()}

    def sequence(self, min_len: int = 0) -> list[Node]:
        if not isinstance(self.value, list) or len(self.value) < min_len:
            raise self.fail(f"a list of at least {min_len} item(s)")
        return [self.child(i, v) for i, v in enumerate(self.value)]

    # --- scalars ----------------------------------------------------------------------------
    def number(self, unit: str | None = None, *, integer: bool = False, positive: bool = True,
               allow_zero: bool = False, knob: bool = True, high: float | None = None) -> float | int | Knob:
        """A number in the field's unit, or a search range when ``knob``; at most ``high`` in
        magnitude (default: the unit's plausible maximum, ``MAX_COUNT`` for plain integers)."""
        if knob and isinstance(self.value, dict):
            return self._knob(lambda n: n.number(unit, integer=integer, positive=positive,
                                                 allow_zero=allow_zero, knob=False, high=high), integer)
        limit = high if high is not None else _MAX.get(unit, MAX_COUNT if integer else MAX_PLAIN)
        what = _describe(unit, integer, positive, allow_zero)
        raw = self.value
        if isinstance(raw, bool):
            raise self.fail(what)
        if isinstance(raw, str):
            raw = self._parse_quantity(raw, unit, what)
        if not isinstance(raw, (int, float)) or not math.isfinite(raw):
            raise self.fail(what)
        if integer:
            if float(raw) != int(raw):
                raise self.fail(what)
            raw = int(raw)
        if raw < 0 and positive or raw == 0 and positive and not allow_zero:
            raise self.fail(what)
        if abs(raw) > limit:
            raise self.fail(f"{what}, at most {limit:g}")
        return raw

    def fraction(self, *, knob: bool = True) -> float | Knob:
        """A number in (0, 1] (efficiency caps, shares), or a search range."""
        if knob and isinstance(self.value, dict):
            return self._knob(lambda n: n.fraction(knob=False), False)
        value = self.number(knob=False)
        if value > 1:
            raise self.fail("a fraction in (0, 1]")
        return value

    def probability(self, *, knob: bool = True) -> float | Knob:
        """A number in [0, 1] (a probability), or a search range."""
        if knob and isinstance(self.value, dict):
            return self._knob(lambda n: n.probability(knob=False), False)
        value = self.number(knob=False, allow_zero=True, high=1e300)
        if value > 1:
            raise self.fail("a probability in [0, 1]")
        return value

    def name(self, allowed: tuple[str, ...] | None = None, *, knob: bool = True) -> str | Knob:
        if knob and isinstance(self.value, dict) and "choices" in self.value:
            return self._knob(lambda n: n.name(allowed, knob=False), False)
        if not isinstance(self.value, str) or not self.value.strip():
            raise self.fail("a name" if allowed is None else f"one of {list(allowed)}")
        if len(self.value) > MAX_NAME:
            raise self.fail(f"a name of at most {MAX_NAME} characters", f"{len(self.value)} characters")
        if allowed is not None and self.value not in allowed:
            raise self.fail(f"one of {list(allowed)}")
        return self.value

    def boolean(self, *, knob: bool = True) -> bool | Knob:
        if knob and isinstance(self.value, dict) and "choices" in self.value:
            return self._knob(lambda n: n.boolean(knob=False), False)
        if not isinstance(self.value, bool):
            raise self.fail("true or false")
        return self.value

    def _parse_quantity(self, text: str, unit: str | None, what: str) -> float:
        match = _QUANTITY.match(text)
        if not match:
            raise self.fail(what)
        number, suffix = float(match.group(1)), (match.group(2) or "").strip().lower()
        if not suffix:
            return number
        table = _UNITS.get(unit or "", {})
        if suffix not in table:
            raise self.fail(f"{what} (unit '{match.group(2)}' is not a unit of {_UNIT_NAMES.get(unit, 'this field')})")
        return number * table[suffix]

    def _knob(self, parse_one: Callable[[Node], Any], integer: bool) -> Knob:
        """``{choices: [...]}`` or ``{min, max[, log]}``: each value parsed like the plain field."""
        fields_ = self.mapping((), ("choices", "min", "max", "log"))
        if "choices" in fields_:
            if set(fields_) != {"choices"}:
                raise self.fail("either {choices: [...]} or {min: ..., max: ...[, log: true]}")
            items = fields_["choices"].sequence(min_len=1)
            values = tuple(parse_one(item) for item in items)
            if len(set(map(_freeze, values))) != len(values):
                raise fields_["choices"].fail("distinct choices")
            return Knob(self.path, choices=values, parse=parse_one)
        if "min" not in fields_ or "max" not in fields_:
            raise self.fail("a range {min: ..., max: ...} or {choices: [...]}")
        low, high = parse_one(fields_["min"]), parse_one(fields_["max"])
        if not isinstance(low, (int, float)) or isinstance(low, bool):
            raise self.fail("a numeric field for a {min, max} range (use {choices: [...]})")
        if low > high:
            raise fields_["max"].fail(f"max >= min ({low})")
        log = fields_["log"].boolean(knob=False) if "log" in fields_ else False
        if log and low <= 0:
            raise fields_["min"].fail("min > 0 for a log range")
        return Knob(self.path, low=low, high=high, log=log, integer=integer, parse=parse_one)


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _describe(unit: str | None, integer: bool, positive: bool, allow_zero: bool) -> str:
    kind = "an integer" if integer else "a number"
    sign = " >= 0" if positive and allow_zero else " > 0" if positive else ""
    unit_text = f" in {_UNIT_NAMES[unit]}" if unit else ""
    return f"{kind}{sign}{unit_text}"


# --- knob utilities over frozen dataclass trees ---------------------------------------------

def collect_knobs(spec: Any) -> list[Knob]:
    """All knobs in a spec tree, in declaration order."""
    found: list[Knob] = []

    def walk(obj: Any) -> None:
        if isinstance(obj, Knob):
            found.append(obj)
        elif is_dataclass(obj):
            for f in fields(obj):
                walk(getattr(obj, f.name))
        elif isinstance(obj, tuple):
            for item in obj:
                walk(item)

    walk(spec)
    return found


def resolve(spec: Any, values: dict[str, Any]) -> Any:
    """A copy of ``spec`` with every knob replaced by ``values[path]`` or its default."""

    def walk(obj: Any) -> Any:
        if isinstance(obj, Knob):
            return values.get(obj.path, obj.default)
        if is_dataclass(obj):
            changes = {f.name: walk(getattr(obj, f.name)) for f in fields(obj)}
            return replace(obj, **changes)
        if isinstance(obj, tuple):
            return tuple(walk(item) for item in obj)
        return obj

    return walk(spec)


def label_of(value: Any) -> Any:
    """A knob value as a short label (Optuna choices, Parquet ``param.`` columns, ``--set``):
    a value's own ``label`` (a chiplet dataflow -> its name), a tuple as 'AxB' (pe_array (64, 64) ->
    '64x64'), anything else as itself."""
    label = getattr(value, "label", None)
    if label is not None:
        return label
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    return value


def to_jsonable(obj: Any) -> Any:
    """Spec tree as plain JSON data (knobs as their ranges), for metadata and hashing."""
    if isinstance(obj, Knob):
        out: dict[str, Any] = {"knob": obj.path}
        if obj.choices is not None:
            out["choices"] = [to_jsonable(c) for c in obj.choices]
        else:
            out.update(min=obj.low, max=obj.high, log=obj.log)
        return out
    if is_dataclass(obj):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (tuple, list)):
        return [to_jsonable(item) for item in obj]
    return obj


def spec_hash(obj: Any) -> str:
    text = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_yaml(path: str | Path) -> Node:
    """Read a YAML file into a root :class:`Node`; unreadable, special, oversized or malformed
    files and duplicate keys are DseErrors (dse.spec.files reads the bytes)."""
    import yaml

    from dse.spec.files import FileProblem, read_limited

    source = str(path)
    loader, duplicate_key = _yaml_loader()
    try:
        text = read_limited(path, MAX_SPEC_BYTES).decode("utf-8")
    except FileProblem as exc:
        raise DseError(source, "", f"a readable YAML file of at most {MAX_SPEC_BYTES // 2**20} MiB", str(exc)) from None
    except UnicodeDecodeError as exc:
        raise DseError(source, "", "a UTF-8 text file", f"byte {exc.start} is not UTF-8 (UTF-16? binary?)") from None
    try:
        data = yaml.load(text, Loader=loader)
    except RecursionError:
        raise DseError(source, "", "YAML of ordinary nesting depth", "nested too deep to parse") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        if isinstance(exc, duplicate_key):
            raise DseError(source, where, f"each key once per mapping (this one is first on line {exc.first_line})",
                           exc.key) from None
        problem = getattr(exc, "problem", None) or "malformed YAML"
        raise DseError(source, where, "well-formed YAML", problem) from None
    return Node(data, source, "")


def _yaml_type(value: object) -> str:
    return {str: "text", list: "a list", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


@functools.lru_cache(maxsize=1)
def _yaml_loader() -> tuple[type, type]:
    """(Loader, DuplicateKey): yaml.SafeLoader refusing a key given twice in one mapping (PyYAML
    keeps the last silently; keys brought in by a ``<<:`` merge may be overridden, as YAML
    intends), more than MAX_ALIASES aliases, and a document whose aliases expand it beyond
    MAX_EXPANDED nodes (PyYAML shares an alias's node, so a 1 KB "billion laughs" file loads in
    microseconds, but anything that walks the values -- a message, a hash, JSON -- would walk
    them all). Expanded size, with memo over shared nodes: size(n) = 1 + sum of its children's."""
    import yaml

    class DuplicateKey(yaml.MarkedYAMLError):
        def __init__(self, key, mark, first_line: int):
            super().__init__(problem=f"duplicate key {key!r}", problem_mark=mark)
            self.key, self.first_line = key, first_line

    class Loader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                self.aliases += 1
                if self.aliases > MAX_ALIASES:
                    raise yaml.MarkedYAMLError(problem=f"more than {MAX_ALIASES} aliases (*name)",
                                               problem_mark=self.peek_event().start_mark)
            return super().compose_node(parent, index)

        def construct_document(self, node):
            size: dict[int, int] = {}
            for n in _post_order(node):
                children = (n.value if isinstance(n, yaml.SequenceNode) else
                            [c for pair in n.value for c in pair] if isinstance(n, yaml.MappingNode) else [])
                size[id(n)] = min(1 + sum(size.get(id(c), MAX_EXPANDED + 1) for c in children),  # a cycle: no end
                                  MAX_EXPANDED + 1)
            if size[id(node)] > MAX_EXPANDED:
                raise yaml.MarkedYAMLError(problem=f"aliases expanding the document beyond {MAX_EXPANDED:,} values",
                                           problem_mark=node.start_mark)
            return super().construct_document(node)

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                        continue
                    key = self.construct_object(key_node)
                    if key in seen:
                        raise DuplicateKey(key, key_node.start_mark, seen[key])
                    seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep)

    return Loader, DuplicateKey


def _post_order(root):
    """Each distinct node of a composed YAML graph once, children before parents (iterative)."""
    import yaml

    seen, order, stack = set(), [], [(root, False)]
    while stack:
        n, done = stack.pop()
        if done:
            order.append(n)
            continue
        if id(n) in seen:
            continue
        seen.add(id(n))
        stack.append((n, True))
        if isinstance(n, yaml.SequenceNode):
            stack.extend((c, False) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            stack.extend((c, False) for pair in n.value for c in pair)
    return order
