"""Input limits at their edges (in-process, fast): the largest plausible value is accepted, the next
one refused with the limit named — so a loosened or dropped bound fails here, not silently."""

from __future__ import annotations

import re

import pytest

from dse.errors import DseError
from dse.spec.common import MAX_COUNT, MAX_NAME, Node
from dse.spec.workload import Op
from dse.system.chiplet.ir import MAX_OP, check_magnitude


def node(value):
    return Node(value, "f.yaml", "x")


@pytest.mark.parametrize("unit, limit", [("hz", 1e11), ("bytes", 1e18), ("s", 1e6), ("bytes_per_s", 1e16),
                                         ("pj", 1e6), ("pj_per_bit", 1e4), ("flop_per_s", 1e19)])
def test_unit_limits(unit, limit):
    assert node(limit).number(unit) == limit
    with pytest.raises(DseError, match=re.escape(f"at most {limit:g},")):
        node(limit * 1.000001).number(unit)


def test_plain_integer_and_negative_magnitude_limits():
    assert node(MAX_COUNT).number(integer=True) == MAX_COUNT
    with pytest.raises(DseError, match="at most 1e\\+09"):
        node(MAX_COUNT + 1).number(integer=True)
    with pytest.raises(DseError, match="at most 1e\\+09"):
        node(-(MAX_COUNT + 1)).number(integer=True, positive=False)
    with pytest.raises(DseError, match="at most 5"):           # a field's own bound
        node(6).number(integer=True, high=5)
    with pytest.raises(DseError, match="at most 1e\\+09"):      # a range's ends are checked like the field
        node({"min": 1, "max": MAX_COUNT + 1}).number(integer=True)


def test_name_length_limit():
    assert node("n" * MAX_NAME).name() == "n" * MAX_NAME
    with pytest.raises(DseError, match="at most 100 characters"):
        node("n" * (MAX_NAME + 1)).name()


def test_operator_magnitude_limit():
    # MACs = K*C*Y*X: 10**9 * 10**9 = 1e18 exactly is accepted; one more MAC row (C + 1) is not.
    check_magnitude(Op("ok", K=10**9, C=10**9), "w.yaml", 0)
    assert MAX_OP == 10**18
    with pytest.raises(DseError, match="models\\[2\\]: expected operators of at most 1e\\+18 MACs"):
        check_magnitude(Op("big", K=10**9, C=10**9 + 1), "w.yaml", 2)
    # Input elements N*C*(Y*stride+R)*(X*stride+S) = 1e9 * (1e5*1e5 + 1) * (1e5 + 1) > 1e18 with 1e14 MACs.
    with pytest.raises(DseError, match="input elements"):
        check_magnitude(Op("strided", C=10**9, Y=10**5, stride=10**5), "w.yaml", 0)


def test_pe_array_side_limit():
    from dse.system.chiplet.spec import MAX_PE_SIDE, _int_pair

    assert _int_pair(node([MAX_PE_SIDE, 1]), "pe", high=MAX_PE_SIDE) == (MAX_PE_SIDE, 1)
    with pytest.raises(DseError, match="each at most 65536"):
        _int_pair(node([1, MAX_PE_SIDE + 1]), "pe", high=MAX_PE_SIDE)


def test_knobs_probed_at_their_largest_together(tmp_path):
    """Each knob alone is fine; together they make an operator beyond 1e18 MACs. Refused up front.

    GPT-3 175B's score matmul has batch x heads x seq_len^2 x head_dim MACs: with seq_len 1e6 and
    batch 1 that is 96 * 1e12 * 128 = 1.2e16 (fine); with batch 1000 as well, 1.2e19 > 1e18."""
    from pathlib import Path

    from dse.search.runner import SearchConfig, prepare

    root = Path(__file__).resolve().parent.parent
    wl = tmp_path / "w.yaml"
    wl.write_text("name: w\nmodels:\n  - name: m\n    transformer:\n      preset: gpt3-175b\n"
                  "      seq_len: {choices: [512, 1000000]}\n      batch: {choices: [1, 1000]}\n")
    with pytest.raises(DseError, match="models\\[0\\]: expected operators of at most 1e\\+18 MACs"):
        prepare(str(wl), str(root / "hardware/mcm4_hetero.yaml"), SearchConfig(), 0)
    wl.write_text(wl.read_text().replace("[1, 1000]", "[1, 8]"))          # 9.7e16: accepted
    prepare(str(wl), str(root / "hardware/mcm4_hetero.yaml"), SearchConfig(), 0)


def test_a_knob_extreme_the_model_cannot_build_is_one_line_before_any_search():
    """dse.search.runner.probe builds every knob's extremes first: one whose build divides by zero
    is a DseError naming the hardware file and the knob value, not a traceback mid-search."""
    from dataclasses import dataclass

    from dse.errors import DseError
    from dse.search.runner import probe
    from dse.search.space import Space
    from dse.spec.common import Knob

    @dataclass(frozen=True)
    class Hw:
        x: object

    class Kind:
        def build(self, workload, hardware):
            return 1.0 / hardware.x           # x = 0 cannot be built

    knob = Knob("x", low=0, high=8, integer=True)
    space = Space.of([("hw.x", knob)])
    try:
        probe(Kind(), None, Hw(knob), space, "hw.yaml")
    except DseError as err:
        assert str(err).startswith("hw.yaml: hw.x=0 (the defaults): expected knob values the model can build"), \
            str(err)
        assert "ZeroDivisionError" in str(err)
    else:
        raise AssertionError("the extreme x=0 was not refused")
    probe(Kind(), None, Hw(Knob("x", low=1, high=8, integer=True)), Space.of([("hw.x", Knob("x", low=1, high=8,
                                                                                          integer=True))]), "hw.yaml")
