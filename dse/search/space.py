"""The outer search space: the knobs declared in the specs, with Optuna-friendly labels."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from dse.output.names import short_names
from dse.spec.common import Knob, label_of


@dataclass(frozen=True)
class Space:
    """The outer knobs, named ``wl.<path>`` / ``hw.<path>``, with label <-> value maps."""

    names: tuple[str, ...]
    knobs: tuple[Knob, ...]

    @staticmethod
    def of(named_knobs: list[tuple[str, Knob]]) -> Space:
        """From a system kind's ``knobs()``: (name, knob) pairs."""
        return Space(tuple(n for n, _ in named_knobs), tuple(k for _, k in named_knobs))

    def suggest(self, trial) -> dict[str, Any]:
        """Values (by knob path) for an Optuna trial, asked with :meth:`distributions`; labels go to
        Optuna, values to the specs."""
        values: dict[str, Any] = {}
        for (name, dist), knob in zip(self.distributions().items(), self.knobs):
            if knob.choices is not None:
                label = trial.suggest_categorical(name, dist.choices)
                values[knob.path] = knob.choices[dist.choices.index(label)]
            elif knob.integer:
                values[knob.path] = trial.suggest_int(name, dist.low, dist.high, log=dist.log)
            else:
                values[knob.path] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
        return values

    @functools.cached_property
    def _distributions(self) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        out: dict[str, Any] = {}
        for name, knob in zip(self.names, self.knobs):
            if knob.choices is not None:
                out[name] = CategoricalDistribution([label_of(c) for c in knob.choices])
            elif knob.integer:
                out[name] = IntDistribution(int(knob.low), int(knob.high), log=knob.log)
            else:
                out[name] = FloatDistribution(knob.low, knob.high, log=knob.log)
        return out

    def distributions(self) -> dict[str, Any]:
        """Optuna's distribution of each knob, by name (made once): what :meth:`suggest` asks for,
        and the sampler's search space (dse.search.sampler)."""
        return self._distributions

    def split(self, values: dict[str, Any]) -> tuple[dict, dict]:
        """Values by knob path -> (workload values, hardware values)."""
        parts: dict[str, dict] = {"wl": {}, "hw": {}}
        for name, knob in zip(self.names, self.knobs):
            if knob.path in values:
                parts[name[:2]][knob.path] = values[knob.path]
        return parts["wl"], parts["hw"]

    @property
    def aliases(self) -> dict[str, str]:
        """Knob name -> its short alias (:func:`short_names`)."""
        return dict(zip(self.names, short_names(self.names)))

    def named(self, text: str) -> str | None:
        """The knob name ``text`` stands for: a full name, one without its ``wl.``/``hw.`` prefix, or
        an alias; None when none matches."""
        if text in self.names:
            return text
        for name, alias in self.aliases.items():
            if text in (alias, name[3:]):
                return name
        return None

    def labels(self, values: dict[str, Any]) -> dict[str, Any]:
        """Knob name -> label, with defaults for knobs not in ``values``."""
        return {name: label_of(values.get(k.path, k.default)) for name, k in zip(self.names, self.knobs)}
