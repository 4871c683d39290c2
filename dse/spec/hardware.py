"""Hardware files of any system kind: the registry (dse.system.base) says which kind a file is
(its ``kind:`` field, or the sections it has) and that kind's spec module parses it:
chiplet modules in dse.system.chiplet.spec, GPUs and PIM in dse.system.llm.spec."""

from __future__ import annotations

from typing import Any

from dse.spec.common import Node, load_yaml


def load_hardware(path: str) -> Any:
    return parse_hardware(load_yaml(path))


def parse_hardware(root: Node) -> Any:
    from dse.system.base import kind_for_hardware_file

    return kind_for_hardware_file(root).parse_hardware(root)
