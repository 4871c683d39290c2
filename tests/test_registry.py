"""The system-kind registry: the only list of kinds, how a hardware file finds its kind, and the
one-line errors for unknown or ambiguous kinds."""

from __future__ import annotations

import pytest
import yaml

from dse.errors import DseError
from dse.spec.common import Node
from dse.spec.hardware import load_hardware, parse_hardware
from dse.system.base import REGISTRY, SystemKind, kind_named, kind_of


def test_every_registered_kind_loads_and_names_itself():
    assert list(REGISTRY) == ["chiplet", "llm", "training", "serving"]
    for name in REGISTRY:
        kind = kind_named(name)
        assert isinstance(kind, SystemKind) and kind.name == name
    # training files name their kind: their gpu section is not the llm kind's
    assert kind_named("training").hardware_sections == ()
    assert kind_of(load_hardware("hardware/a100_cluster_40.yaml")).name == "training"


def test_unknown_kind_is_one_line_error():
    with pytest.raises(DseError) as err:
        kind_named("tpu", "hw.yaml", "kind")
    assert str(err.value) == "hw.yaml: kind: expected a system kind, one of ['chiplet', 'llm', 'training', 'serving'], got 'tpu'"


def _papi() -> dict:
    return yaml.safe_load(open("hardware/papi.yaml"))


def test_kind_field_or_sections_choose_the_kind():
    text = _papi()
    assert kind_of(parse_hardware(Node(text, "p.yaml", ""))).name == "llm"          # by its sections
    assert kind_of(parse_hardware(Node({**text, "kind": "llm"}, "p.yaml", ""))).name == "llm"
    assert kind_of(load_hardware("hardware/mcm4_hetero.yaml")).name == "chiplet"
    # kind: chiplet on a GPU file: the chiplet loader rejects the GPU sections by name.
    with pytest.raises(DseError, match="p.yaml: gpu: expected one of the known fields"):
        parse_hardware(Node({**text, "kind": "chiplet"}, "p.yaml", ""))


@pytest.mark.parametrize("text, message", [
    ({"name": "x", "kind": "tpu"}, "x.yaml: kind: expected a system kind, one of ['chiplet', 'llm', 'training', 'serving'], got 'tpu'"),
    ({"name": "x", "kind": 3}, "x.yaml: kind: expected a system kind, one of ['chiplet', 'llm', 'training', 'serving'], got 3"),
    ({"name": "x", "dram": {}}, "x.yaml: kind: expected a `kind` field (one of ['chiplet', 'llm', 'training', 'serving']) or the sections "
                                "of one kind {'chiplet': ['chiplets'], 'llm': ['gpu', 'pim']}, got ['dram', 'name']"),
    ({"name": "x", "chiplets": [], "gpu": {}}, "x.yaml: kind: expected sections of one kind only"),
    ([1, 2], "x.yaml: expected a YAML mapping of fields (name: ..., and so on), got 'a list at the top level'"),
])
def test_hardware_files_that_name_no_single_kind(text, message):
    with pytest.raises(DseError) as err:
        parse_hardware(Node(text, "x.yaml", ""))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("workload, hardware, expected", [
    # a training workload on inference hardware: before, it ran and printed 0 tokens/s, feasible
    ("cm_9.6b_seq1024", "papi", "workloads/cm_9.6b_seq1024.yaml: models[0].transformer.training: expected no "
     "training section for llm hardware (the training kind reads it; llm would ignore it)"),
    # a synthetic pipeline on a chiplet module: before, a ZeroDivisionError traceback
    ("pipeline_p8_n32", "mcm4_hetero", "workloads/pipeline_p8_n32.yaml: models[0].pipeline: expected no pipeline "
     "section for chiplet hardware (the training kind reads it; chiplet would ignore it)"),
    ("gpt3_66b_decode", "a100_cluster_8", "workloads/gpt3_66b_decode.yaml: models[0].transformer.decode: expected "
     "no decode section for training hardware (the llm, serving kinds read it; training would ignore it)"),
    ("bert_2x2.6b", "papi", "workloads/bert_2x2.6b.yaml: serving: expected no serving section for llm hardware "
     "(the serving kind reads it; llm would ignore it)"),
])
def test_a_section_the_kind_would_ignore_is_an_error(workload, hardware, expected):
    from dse.spec.workload import load_workload

    wl, hw = load_workload(f"workloads/{workload}.yaml"), load_hardware(f"hardware/{hardware}.yaml")
    with pytest.raises(DseError) as err:
        kind_of(hw).check_pair(wl, hw)
    assert str(err.value) == expected


def test_every_section_is_read_by_some_kind():
    # every section dse.spec.workload.sections can name is read by at least one kind
    read = {s for name in REGISTRY for s in kind_named(name).workload_sections}
    for section in ("serving", "models[].serving", "models[].transformer", "models[].transformer.decode",
                    "models[].transformer.training", "models[].pipeline", "models[].resnet50", "models[].ops"):
        assert section in read, section
