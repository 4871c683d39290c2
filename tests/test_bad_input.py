"""Every kind of bad input the CLI meets: one line ``dse: error: ...`` naming file, field and what
was expected; exit 2; no traceback; nothing written; all before any search work.

``python tests/test_bad_input.py`` prints the same cases as a table (case, exit code, message).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
WL = ROOT / "workloads/gpt2_resnet50.yaml"
HW = ROOT / "hardware/mcm4_hetero.yaml"
LLM_WL = ROOT / "workloads/gpt3_175b_decode.yaml"
LLM_HW = ROOT / "hardware/papi.yaml"
TR_WL = ROOT / "workloads/cm_9.6b_seq1024.yaml"
TR_HW = ROOT / "hardware/a100_cluster_16.yaml"
PIPE_WL = ROOT / "workloads/zb_table5_profiled.yaml"
PIPE_HW = ROOT / "hardware/pipeline_only.yaml"
SV_WL = ROOT / "workloads/bert_2x2.6b.yaml"
SV_HW = ROOT / "hardware/v100x2_6gb.yaml"
PAPI_WL = ROOT / "workloads/gpt3_66b_papi_serving.yaml"
PAPI_HW = ROOT / "hardware/papi_serving.yaml"


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], list[str]]      # tmp folder -> CLI args (writing any files it needs)
    expect: str                            # a substring of the one-line message
    code: int = 2


def write(tmp: Path, name: str, text: str | bytes) -> str:
    path = tmp / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def edited(tmp: Path, source: Path, old: str, new: str, name: str = "edited.yaml") -> str:
    text = source.read_text()
    assert old in text, (source, old)
    return write(tmp, name, text.replace(old, new, 1))


def traced(tmp: Path, trace_text: str) -> str:
    """bert_2x2.6b driven by a trace t.csv of ``trace_text`` (its rates dropped: the trace sets them)."""
    write(tmp, "t.csv", trace_text)
    text = SV_WL.read_text().replace("  arrival: {process: gamma, cv: 3}\n", "  trace: t.csv\n")
    return write(tmp, "traced.yaml", text.replace("serving: {rate_per_s: 4}", "serving: {slo_scale: 5}"))


def search(wl, hw, *extra: str) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        w = wl(tmp) if callable(wl) else str(wl)
        h = hw(tmp) if callable(hw) else str(hw)
        return ["search", w, h, "--trials", "4", "--out", str(tmp / "out"), "-q", *extra]
    return make


def results(tmp: Path) -> Path:
    """A real study folder to point pareto at (made once per case that needs it)."""
    r = subprocess.run([sys.executable, "-m", "dse.cli", "search", str(LLM_WL), str(LLM_HW), "--trials", "6",
                        "--out", str(tmp / "res"), "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return tmp / "res" / "gpt3_175b_decode__papi"


def tr_hw(tmp: Path, parallel: str, family: str, chunks: int = 2) -> str:
    text = TR_HW.read_text().replace("parallel: auto", f"parallel: {parallel}").replace("chunks: 2", f"chunks: {chunks}")
    text = text.replace("family: {choices: [1f1b, interleaved, zb-h1, zb-h2, zb-v, v-half, v-min]}", f"family: {family}")
    return write(tmp, "tr.yaml", text)


BLOCK = ("name: blk\nkind: training\nsystem:\n  schedule:\n    family: block\n    block:\n"
         "      placement: sequential\n      offsets: {f: 3, turn: 1, b: 1}\n")


VBLOCK = ("name: v\nkind: training\nsystem:\n  schedule:\n    family: block\n    block:\n"
          "      placement: v_shape\n      offsets: {f_up: 1, f_down: 1, b_up: 1, b_down: 1, f_turn: 2}\n")


def wl_op(tmp: Path, op: str) -> str:
    return write(tmp, "ops.yaml", f"name: w\nmodels:\n  - name: m\n    ops:\n      - {op}\n")


SWEEP_RUN = f"runs:\n  - {{workload: {WL}, hardware: {HW}}}\n"

CASES = [
    # --- spec files -------------------------------------------------------------------------
    Case("missing file", search("nope.yaml", HW), "nope.yaml: expected a readable YAML file"),
    Case("a folder as spec", search(lambda t: str(t), HW), "expected a readable YAML file"),
    Case("empty file", search(lambda t: write(t, "e.yaml", ""), HW),
         "e.yaml: expected a YAML mapping of fields (name: ..., and so on), got 'an empty file'"),
    Case("malformed YAML", search(lambda t: write(t, "m.yaml", "name: [a, b\nmodels: x\n"), HW),
         "m.yaml: line 2, column 7: expected well-formed YAML"),
    Case("UTF-16 file", search(lambda t: write(t, "u.yaml", WL.read_text().encode("utf-16")), HW),
         "u.yaml: expected a UTF-8 text file"),
    Case("binary file", search(lambda t: write(t, "b.yaml", bytes(range(256))), HW), "expected a UTF-8 text file"),
    Case("5,000-deep nesting", search(lambda t: write(t, "d.yaml", "a: " + "[" * 5000 + "]" * 5000), HW),
         "d.yaml: expected YAML of ordinary nesting depth"),
    Case("a list, not a mapping", search(lambda t: write(t, "l.yaml", "- 1\n- 2\n"), HW),
         "l.yaml: expected a YAML mapping of fields (name: ..., and so on), got 'a list at the top level'"),
    # a file that is not YAML is described, never echoed (its first 200 characters could be a secret)
    Case("a text file as spec", search(lambda t: write(t, "secret.txt", "hunter2 is the password\n"), HW),
         "secret.txt: expected a YAML mapping of fields (name: ..., and so on), got 'text at the top level'"),
    Case("a FIFO as spec", search(lambda t: (os.mkfifo(t / "fifo"), str(t / "fifo"))[1], HW),
         "fifo: expected a readable YAML file of at most 16 MiB, got 'a FIFO (named pipe), not a regular file'"),
    Case("/dev/zero as spec", search("/dev/zero", HW),
         "/dev/zero: expected a readable YAML file of at most 16 MiB, got 'a character device, not a regular file'"),
    Case("a FIFO as --mapping", lambda t: ["evaluate", str(WL), str(HW), "--mapping",
                                           (os.mkfifo(t / "m"), str(t / "m"))[1]], "not a regular file"),
    Case("trace: a secret file is not echoed", search(lambda t: (
        write(t, "shadow", "root:$6$secrethash:19000:0:99999:7:::\n"),
        edited(t, ROOT / "workloads/bert_2x2.6b_trace.yaml", "trace: traces/two_models.csv", f"trace: {t}/shadow"))[1],
        SV_HW), "shadow: line 1: expected the header arrival_s,model or arrival_s,model,prompt_tokens,output_tokens, "
                "got 'another first line (1 comma-separated fields)'"),
    Case("trace: a FIFO", search(lambda t: (os.mkfifo(t / "tr"), edited(
        t, ROOT / "workloads/bert_2x2.6b_trace.yaml", "trace: traces/two_models.csv", f"trace: {t}/tr"))[1], SV_HW),
        "serving.trace: expected a readable CSV trace file of at most 1 GiB"),
    Case("spec over 16 MiB", search(lambda t: write(t, "big.yaml", "# " + "x" * (16 << 20) + "\n"), HW),
         "big.yaml: expected a readable YAML file of at most 16 MiB, got 'larger than 16 MiB'"),
    Case("duplicate key", search(lambda t: write(t, "dup.yaml", WL.read_text() + "name: again\n"), HW),
         "dup.yaml: line 16, column 1: expected each key once per mapping (this one is first on line 4), got 'name'"),
    # a billion-element alias bomb where a name goes: refused at once, the value shown in a few items
    Case("alias bomb in a field", search(lambda t: write(t, "bomb.yaml", WL.read_text().replace(
        "name: gpt2_resnet50", "name: [" + ", ".join(
            f"&{k} [{', '.join(['*' + p] * 9) if p else ', '.join(['x'] * 9)}]"
            for p, k in zip([""] + list("abcdefg"), "abcdefgh")) + "]", 1)), HW),
        "bomb.yaml: line 4, column 1: expected well-formed YAML, got 'aliases expanding the document beyond "
        "1,000,000 values'"),
    Case("recursive alias", search(lambda t: write(t, "rec.yaml", "name: &a [*a]\n"), HW),
         "rec.yaml: line 1, column 1: expected well-formed YAML, got 'aliases expanding the document beyond"),
    Case("10,001 aliases", search(lambda t: write(t, "al.yaml", "x: &x 1\ny: [" + ", ".join(["*x"] * 10001) + "]\n"), HW),
         "al.yaml: line 2, column 40005: expected well-formed YAML, got 'more than 10000 aliases (*name)'"),
    # a long value where a name goes is quoted in a few items, not whole
    Case("a 100,000-item list as a name", search(lambda t: write(t, "long.yaml", WL.read_text().replace(
        "name: gpt2_resnet50", "name: [" + ", ".join(["x"] * 100000) + "]", 1)), HW),
        "long.yaml: name: expected a name, got ['x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', ...]"),
    Case("unknown field", search(lambda t: edited(t, WL, "name: gpt2_resnet50", "name: gpt2_resnet50\ncolour: red"), HW),
         "colour: expected one of the known fields"),
    Case("missing field", search(WL, lambda t: edited(t, HW, "    clock_hz: 500 MHz\n", "")),
         "chiplets.ws0.clock_hz: expected a value (missing field)"),
    Case("wrong unit", search(WL, lambda t: edited(t, HW, "clock_hz: 500 MHz", "clock_hz: 500 GB")),
         "chiplets.ws0.clock_hz: expected a number > 0 in Hz (unit 'GB' is not a unit of Hz)"),
    Case("wrong sign", search(WL, lambda t: edited(t, HW, "l2_bytes: 10 MB", "l2_bytes: -10 MB")),
         "chiplets.ws0.l2_bytes: expected a number > 0 in bytes"),
    Case("clock_hz: 1e30", search(WL, lambda t: edited(t, HW, "clock_hz: 500 MHz", "clock_hz: 1.0e30")),
         "chiplets.ws0.clock_hz: expected a number > 0 in Hz, at most 1e+11"),
    Case("seq_len: 10**20", search(lambda t: edited(t, LLM_WL, "seq_len: 512", f"seq_len: {10**20}"), LLM_HW),
         "models[0].transformer.seq_len: expected an integer > 0, at most 1e+09"),
    Case("seq_len: 1e30 (hung before)", search(lambda t: edited(t, LLM_WL, "seq_len: 512", "seq_len: 1.0e30"), LLM_HW),
         "seq_len: expected an integer > 0, at most 1e+09"),
    Case("Y, X: 10**12", search(lambda t: wl_op(t, f"{{name: a, K: 8, C: 8, Y: {10**12}, X: {10**12}}}"), HW),
         "models[0].ops[0].Y: expected an integer > 0, at most 1e+09"),
    Case("op of 1e36 MACs", search(lambda t: wl_op(t, "{name: a, K: 1000000000, C: 1000000000, Y: 1000000000, "
                                                     "X: 1000000000}"), HW),
         "models[0]: expected operators of at most 1e+18 MACs (operator a has 1e+36"),
    Case("pe_array 1e15 a side", search(WL, lambda t: edited(t, HW, "pe_array: {choices: [[64, 64], [32, 128], [128, 32]]}",
                                                             "pe_array: [1000000000000000, 1000000000000000]")),
         "chiplets.ws0.pe_array: expected pe_array [rows, cols] of positive integers, each at most 65536"),
    Case("300-character name", search(lambda t: edited(t, WL, "name: gpt2_resnet50", "name: " + "n" * 300), HW),
         "name: expected a name of at most 100 characters, got '300 characters'"),
    Case("knob value rejected at its extreme", search(
        lambda t: edited(t, LLM_WL, "tlp: {choices: [1, 2, 4]}", "tlp: {choices: [1, 2, 64]}"), LLM_HW),
        "models[0].transformer.decode.tlp: expected GEMV-like ops on PIM pool"),
    Case("spec of another kind", search(LLM_WL, HW), "models[0].transformer.decode: expected no decode section"),
    # --- imported models --------------------------------------------------------------------
    Case("hf_config: no such file", search(lambda t: write(t, "hf.yaml", "name: w\nmodels:\n  - name: m\n    transformer:"
                                                       " {hf_config: none.json, seq_len: 8}\n"), LLM_HW),
         "hf.yaml: models[0].transformer.hf_config: expected a readable Hugging Face config.json"),
    Case("hf_config: malformed JSON", search(lambda t: (write(t, "c.json", "{\"model_type\": "), write(
        t, "hf.yaml", "name: w\nmodels:\n  - name: m\n    transformer: {hf_config: c.json, seq_len: 8}\n"))[1], LLM_HW),
         "hf.yaml: models[0].transformer.hf_config: expected well-formed JSON"),
    Case("hf_config: mixture of experts", search(lambda t: (write(t, "c.json", '{"model_type": "mixtral", '
                                                                 '"num_local_experts": 8}'), write(
        t, "hf.yaml", "name: w\nmodels:\n  - name: m\n    transformer: {hf_config: c.json, seq_len: 8}\n"))[1], LLM_HW),
         "hf.yaml: models[0].transformer.hf_config (c.json): num_local_experts: expected a dense model"),
    Case("onnx: not a model", search(lambda t: (write(t, "m.onnx", b"\x00garbage"), write(
        t, "o.yaml", "name: w\nmodels:\n  - name: m\n    onnx: {file: m.onnx}\n"))[1], HW),
         "o.yaml: models[0].onnx.file"),
    Case("onnx: unknown field", search(lambda t: write(t, "o.yaml", "name: w\nmodels:\n  - name: m\n    onnx: "
                                                       "{file: m.onnx, batchsize: 2}\n"), HW),
         "o.yaml: models[0].onnx.batchsize: expected one of the known fields"),
    # --- training ---------------------------------------------------------------------------
    Case("training: tp x pp x dp != GPUs", search(TR_WL, lambda t: edited(
        t, TR_HW, "parallel: auto", "parallel: {tp: 2, pp: 2, dp: 2}")),
        "edited.yaml: system.parallel: expected tp x pp x dp = the cluster's 16 GPUs (2 nodes x 8), "
        "got '2 x 2 x 2 = 8'"),
    Case("training: layers not divisible by pp", search(TR_WL, lambda t: tr_hw(t, "{tp: 8, pp: 2, dp: 1}",
                                                                                "interleaved", chunks=3)),
         "tr.yaml: system.parallel.pp: expected pp x 3 chunks dividing the model's 30 layers + embedding + loss "
         "(whole layers per stage), got 2"),
    Case("training: microbatches do not divide the batch", search(lambda t: edited(
        t, TR_WL, "microbatch_size: {choices: [1, 2, 4]}", "microbatch_size: 3"), lambda t: edited(
        t, TR_HW, "parallel: auto", "parallel: {tp: 2, pp: 8, dp: 1}", "h.yaml")),
        "models[0].transformer.training.microbatch_size: expected dp (1) x microbatch_size dividing global_batch "
        "(160) into whole microbatches, got 3"),
    Case("training: unknown family", search(PIPE_WL, lambda t: edited(
        t, PIPE_HW, "family: {choices: [1f1b, zb-h1, zb-h2, zb-v, v-half, v-min, gpipe, interleaved]}",
        "family: pipedream")),
        "system.schedule.family: expected one of ['gpipe', '1f1b', 'interleaved', 'zb-h1', 'zb-h2', 'zb-v', "
        "'v-half', 'v-min', 'block'], got 'pipedream'"),
    Case("training: colliding block offsets", search(PIPE_WL, lambda t: write(t, "blk.yaml", BLOCK)),
         "blk.yaml: system.schedule.block.offsets: expected offsets whose passes do not collide: B of stage 2 "
         "takes slot 0 (mod 3) of device 2, already used by F of stage 2, got {'f': 3, 'turn': 1, 'b': 1}"),
    Case("training: some V turns given, not all", search(PIPE_WL, lambda t: write(t, "v.yaml", VBLOCK)),
         "v.yaml: system.schedule.block.offsets: expected all three turns ['f_turn', 'fb_turn', 'b_turn'] or none "
         "(then they are chosen), got ['f_turn']"),
    Case("training: transformer without a GPU", search(TR_WL, PIPE_HW),
         "pipeline_only.yaml: gpu: expected gpu and cluster sections to train a transformer"),
    Case("training: decode workload", search(LLM_WL, TR_HW),
         "models[0].transformer.decode: expected no decode section for training hardware (the llm, serving kinds "
         "read it; training would ignore it)"),
    Case("training: inference workload", search(ROOT / "workloads/gpt2.yaml", TR_HW),
         "models[0].transformer.training: expected a transformer with a training section"),
    Case("llm: training workload", search(ROOT / "workloads/cm_9.6b_seq1024.yaml", LLM_HW),
         "models[0].transformer.training: expected no training section for llm hardware (the training kind reads "
         "it; llm would ignore it)"),
    Case("training: negative pass time", search(lambda t: edited(t, PIPE_WL, "forward_s: 18.522 ms",
                                                                  "forward_s: -18.522 ms"), PIPE_HW),
         "models[0].pipeline.forward_s: expected a number > 0 in seconds"),
    # --- serving ----------------------------------------------------------------------------
    Case("serving: zero rate", search(lambda t: edited(t, SV_WL, "rate_per_s: 4}", "rate_per_s: 0}"), SV_HW),
         "models[0].serving.rate_per_s: expected a number > 0"),
    Case("serving: negative rate", search(lambda t: edited(t, SV_WL, "rate_per_s: 4}", "rate_per_s: -4}"), SV_HW),
         "models[0].serving.rate_per_s: expected a number > 0"),
    Case("serving: CV 0", search(lambda t: edited(t, SV_WL, "cv: 3}", "cv: 0}"), SV_HW),
         "serving.arrival.cv: expected a number > 0"),
    Case("serving: cv on a Poisson process", search(lambda t: edited(t, SV_WL, "process: gamma", "process: poisson"),
                                                   SV_HW),
         "serving.arrival.cv: expected a field of the poisson process"),
    Case("serving: bursts above the mean", search(lambda t: edited(
        t, SV_WL, "{process: gamma, cv: 3}", "{process: bursty, burst_factor: 5, burst_fraction: 0.3}"), SV_HW),
         "serving.arrival.burst_factor: expected a burst_factor > 1 with burst_factor x burst_fraction < 1"),
    Case("serving: no rate", search(lambda t: edited(t, SV_WL, "serving: {rate_per_s: 4}", "count: 1"), SV_HW),
         "models[0].serving.rate_per_s: expected a value (missing field; or serving.total_rate_per_s"),
    Case("serving: a model that fits no group", search(SV_WL, lambda t: edited(t, SV_HW, "memory_bytes: 6 GB",
                                                                                "memory_bytes: 2 GB")),
         "models[0]: expected a model that fits some group of the cluster's 2 GPUs (bert-a needs 2.65 GB"),
    Case("serving: more GPUs in groups than the cluster", search(SV_WL, lambda t: edited(
        t, SV_HW, 'groups: {choices: ["1+1", "2"]}', 'groups: "2+1"')),
         "system.groups: expected groups joined by '+', each a GPU count or its degrees (e.g. '2+1+1', "
         "'pp2tp2+tp2+1'), or auto, at most the cluster's 2 GPUs"),
    Case("serving: malformed groups", search(SV_WL, lambda t: edited(
        t, SV_HW, 'groups: {choices: ["1+1", "2"]}', 'groups: 2x1')), "system.groups: expected groups joined by '+'"),
    Case("serving: a group of tensor degree 0", search(SV_WL, lambda t: edited(
        t, SV_HW, 'groups: {choices: ["1+1", "2"]}', 'groups: "tp0+1"')), "system.groups: expected groups joined by '+'"),
    Case("serving: a group's degrees misspelt", search(SV_WL, lambda t: edited(
        t, SV_HW, 'groups: {choices: ["1+1", "2"]}', 'groups: "tp1pp2"')), "system.groups: expected groups joined by '+'"),
    Case("serving: degrees over the cluster", search(SV_WL, lambda t: edited(
        t, SV_HW, 'groups: {choices: ["1+1", "2"]}', 'groups: "pp2tp2"')), "at most the cluster's 2 GPUs in all, got "
         "'pp2tp2'"),
    Case("serving: trace naming an unknown model", search(lambda t: (write(t, "t.csv", "arrival_s,model\n0.5,bert-a\n"
                                                                           "1.0,gpt9\n"), edited(
        t, SV_WL, "  arrival: {process: gamma, cv: 3}\n", "  trace: t.csv\n").replace("4}", "4}"))[1], SV_HW),
         "t.csv: line 3: expected a model of the workload, one of ['bert-a', 'bert-b'], got 'gpt9'"),
    Case("serving: malformed trace time", search(lambda t: (write(t, "t.csv", "arrival_s,model\nsoon,bert-a\n"), edited(
        t, SV_WL, "  arrival: {process: gamma, cv: 3}\n", "  trace: t.csv\n"))[1], SV_HW),
         "t.csv: line 2: expected arrival_s, a number of seconds >= 0, got 'soon'"),
    Case("serving: an absurdly long run", search(lambda t: edited(t, SV_WL, "duration_s: 2000", "duration_s: 1e7"), SV_HW),
         "serving.duration_s: expected a run of at most 1e+07 requests (duration_s x total rate = 8e+07"),
    Case("serving: an engine without continuous batching", search(SV_WL, lambda t: edited(
        t, SV_HW, "  admission: reject\n", "  admission: reject\n  engine: {block_size: 16}\n")),
         "system.engine: expected no engine section unless batching is continuous or static"),
    Case("serving: a KV block of 0 tokens", search(SV_WL, lambda t: edited(
        t, SV_HW, "  admission: reject\n", "  admission: reject\n  batching: continuous\n  engine: {block_size: 0}\n")),
         "system.engine.block_size: expected an integer > 0"),
    Case("serving: GPU memory share above 1", search(SV_WL, lambda t: edited(
        t, SV_HW, "  admission: reject\n",
        "  admission: reject\n  batching: continuous\n  engine: {gpu_memory_utilization: 1.5}\n")),
         "system.engine.gpu_memory_utilization: expected a fraction in (0, 1]"),
    Case("serving: chunked prefill as a word", search(SV_WL, lambda t: edited(
        t, SV_HW, "  admission: reject\n", "  admission: reject\n  batching: continuous\n  engine: {chunked_prefill: yes please}\n")),
         "system.engine.chunked_prefill: expected true or false"),
    Case("serving: unknown batching", search(SV_WL, lambda t: edited(
        t, SV_HW, "  admission: reject\n", "  admission: reject\n  batching: dynamic\n")),
         "system.batching: expected one of ['none', 'continuous', 'static']"),
    Case("serving: token objectives without batching", search(lambda t: edited(
        t, SV_WL, "  slo_scale: 5\n", "  ttft_slo_s: 0.5\n"), SV_HW),
         "models[0].serving.slo_s: expected an SLO on whole requests (slo_s, or slo_scale here or under serving)"),
    Case("serving: a negative TPOT objective", search(lambda t: edited(
        t, SV_WL, "  slo_scale: 5\n", "  slo_scale: 5\n  tpot_slo_s: -0.05\n"), SV_HW),
         "serving.tpot_slo_s: expected a number > 0 in seconds"),
    Case("serving: lengths without batching", search(lambda t: edited(
        t, SV_WL, "serving: {rate_per_s: 4}", "serving: {rate_per_s: 4, lengths: {dist: uniform, prompt: [8, 16]}}"),
        SV_HW), "models[0].serving.lengths: expected no per-request lengths"),
    Case("serving: lognormal lengths without a cap", search(lambda t: edited(
        t, SV_WL, "serving: {rate_per_s: 4}", "serving: {rate_per_s: 4, lengths: {dist: lognormal, prompt: [600, 1]}}"),
        SV_HW), "models[0].serving.lengths.max_tokens: expected a value (missing field"),
    Case("serving: uniform lengths upside down", search(lambda t: edited(
        t, SV_WL, "serving: {rate_per_s: 4}", "serving: {rate_per_s: 4, lengths: {dist: uniform, prompt: [16, 8]}}"),
        SV_HW), "models[0].serving.lengths.prompt: expected [low, high] with low <= high, got '[16, 8]'"),
    Case("serving: a zero-token output", search(lambda t: edited(
        t, SV_WL, "serving: {rate_per_s: 4}", "serving: {rate_per_s: 4, lengths: {dist: fixed, output: 0}}"),
        SV_HW), "models[0].serving.lengths.output: expected an integer > 0"),
    Case("serving: a lengths file that is a FIFO", search(lambda t: (os.mkfifo(t / "l.csv"), edited(
        t, SV_WL, "serving: {rate_per_s: 4}", "serving: {rate_per_s: 4, lengths: {dist: empirical, file: l.csv}}"))[1],
        SV_HW), "models[0].serving.lengths.file: expected a readable CSV lengths file of at most 64 MiB"),
    Case("serving: a cv for uniform lengths", search(lambda t: edited(
        t, SV_WL, "serving: {rate_per_s: 4}", "serving: {rate_per_s: 4, lengths: {dist: uniform, max_tokens: 9}}"),
        SV_HW), "models[0].serving.lengths.max_tokens: expected a field of the uniform distribution"),
    Case("serving: trace lengths without batching", search(lambda t: traced(
        t, "arrival_s,model,prompt_tokens,output_tokens\n0.5,bert-a,10,1\n"), SV_HW),
         "serving.trace: expected a trace without per-request lengths"),
    Case("serving: a trace length of zero", search(lambda t: traced(
        t, "arrival_s,model,prompt_tokens,output_tokens\n0.5,bert-a,0,1\n"), SV_HW),
         "t.csv: line 2: expected prompt_tokens and output_tokens in [1, 1e+07]"),
    Case("serving: an acceptance rate above 1", search(lambda t: edited(
        t, PAPI_WL, "acceptance_rate: 0.8", "acceptance_rate: 1.2"), PAPI_HW),
         "models[0].serving.speculative.acceptance_rate: expected a probability in [0, 1], got 1.2"),
    Case("serving: a negative acceptance rate", search(lambda t: edited(
        t, PAPI_WL, "acceptance_rate: 0.8", "acceptance_rate: -0.1"), PAPI_HW),
         "models[0].serving.speculative.acceptance_rate: expected a number >= 0, got -0.1"),
    Case("serving: 100 speculative tokens", search(lambda t: edited(
        t, PAPI_WL, "tokens: {choices: [1, 0, 3]}", "tokens: 100"), PAPI_HW),
         "models[0].serving.speculative.tokens: expected an integer >= 0, at most 64"),
    Case("serving: a draft without its fields", search(lambda t: edited(
        t, PAPI_WL, "draft: {preset: gpt3-1.3b, precision_bits: 16, seq_len: 512}", "draft: {seq_len: 512}"), PAPI_HW),
         "models[0].serving.speculative.draft.num_hidden_layers: expected a value (missing field"),
    Case("serving: speculative decoding without batching", search(lambda t: edited(
        t, SV_WL, "serving: {rate_per_s: 4}", "serving: {rate_per_s: 4, speculative: {draft: {preset: gpt2, seq_len: 64}, "
        "tokens: 2, acceptance_rate: 0.5}}"), SV_HW),
         "models[0].serving.speculative: expected no speculative decoding"),
    Case("serving: PIM pools without an engine", search(PAPI_WL, lambda t: edited(
        t, PAPI_HW, "  batching: continuous\n", "  batching: {choices: [continuous, none]}\n")),
         "pim: expected batching: continuous or static for PIM pools and a dispatch policy"),
    Case("serving: a PIM-only policy", search(PAPI_WL, lambda t: edited(
        t, PAPI_HW, "policy: {choices: [papi, gpu_attn_pim, gpu]}", "policy: pim_split")),
         "system.dispatch.policy: expected one of ['gpu', 'gpu_attn_pim', 'papi'], got 'pim_split'"),
    Case("serving: papi without its pools", search(SV_WL, lambda t: edited(
        t, SV_HW, "  admission: reject\n", "  admission: reject\n  batching: continuous\n  dispatch: {policy: papi}\n")),
         "system.dispatch.policy: expected a policy this hardware can run (policy papi needs a gpu and PIM pools with roles "
         "fc and attn)"),
    Case("serving: PIM pools without a policy", search(PAPI_WL, lambda t: edited(
        t, PAPI_HW, "  dispatch:\n    policy: {choices: [papi, gpu_attn_pim, gpu]}\n"
                    "    alpha: {choices: [32, 8, 16, 64, 128, 2048]}\n", "")),
         "system.dispatch: expected a dispatch policy for the PIM pools"),
    Case("serving: PIM pools without their links", search(PAPI_WL, lambda t: edited(
        t, PAPI_HW, "interconnect:\n  hbm_io: {bytes_per_s: 670.4 GB/s, latency_s: 100 ns, pj_per_bit: 3.04}\n"
                    "  cxl: {bytes_per_s: 64 GB/s, latency_s: 1 us, pj_per_bit: 1.3}\n", "")),
         "interconnect: expected an interconnect section naming the links the PIM pools talk over"),
    Case("serving: a token budget below a KV block", search(SV_WL, lambda t: edited(
        t, SV_HW, "  admission: reject\n", "  admission: reject\n  batching: continuous\n"
        "  engine: {max_num_batched_tokens: 8, block_size: 16}\n")),
         "system.engine.max_num_batched_tokens: expected a token budget of at least one KV block (16 tokens), got 8"),
    Case("serving: traffic on chiplet hardware", search(SV_WL, HW),
         "bert_2x2.6b.yaml: serving: expected no serving section for chiplet hardware"),
    Case("serving: no traffic for serving hardware", search(ROOT / "workloads/gpt2.yaml", SV_HW),
         "gpt2.yaml: serving: expected a serving section"),
    Case("serving: a CNN for serving hardware", search(WL, SV_HW),
         "gpt2_resnet50.yaml: models[1].resnet50: expected no resnet50 section for serving hardware (the chiplet "
         "kind reads it; serving would ignore it)"),
    # --- options ----------------------------------------------------------------------------
    Case("--out is a file", lambda t: ["search", str(WL), str(HW), "--out", write(t, "f", "x"), "-q"],
         "--out: ", ),
    Case("--out under /proc", lambda t: ["search", str(WL), str(HW), "--out", "/proc/dse-results", "-q"],
         "--out: /proc/dse-results: expected a folder this user can write"),
    Case("--study with a slash", search(WL, HW, "--study", "a/b"), "--study: expected a study name"),
    Case("--study named like the storage folder", search(WL, HW, "--study", "_storage"),
         "--study: expected a study name of 1-120 letters, digits, '_', '.', '-' (not starting with '.' or '_')"),
    Case("--trials 0", search(WL, HW, "--trials", "0"), "Invalid value for '--trials'"),
    Case("--worker abc", search(WL, HW, "--worker", "abc"), "Invalid value for '--worker'"),
    Case("unknown option", search(WL, HW, "--colour", "red"), "No such option: --colour"),
    Case("--storage unreachable", search(WL, HW, "--storage", "postgresql://dse@127.0.0.1:9/dse"),
         "--storage: postgresql://dse@127.0.0.1:9/dse: expected a reachable PostgreSQL database"),
    Case("--storage unknown scheme", search(WL, HW, "--storage", "mysql://h/db"),
         "--storage: mysql://h/db: expected the default"),
    Case("--storage sqlite :memory:", search(WL, HW, "--storage", "sqlite:///:memory:"),
         "--storage: sqlite:///:memory:: expected sqlite:///FILE naming a file (an in-memory SQLite study could not resume)"),
    Case("--storage sqlite in memory", search(WL, HW, "--storage", "sqlite:///"),
         "--storage: sqlite:///: expected sqlite:///FILE naming a file (an in-memory SQLite study could not resume)"),
    # a password with an @: the driver quotes its tail as a host name; neither part may be shown
    Case("--storage password with @", search(WL, HW, "--storage", "postgresql://dse:pa55@wd@127.0.0.1:9/dse"),
         "--storage: postgresql://dse:***@127.0.0.1:9/dse: expected a reachable PostgreSQL database "
         "(USER:PASSWORD@HOST:PORT/DB), got \"failed to resolve host '***@127.0.0.1'"),
    Case("--storage in /proc", search(WL, HW, "--storage", "/proc/x.log"), "--storage: /proc/x.log: expected a writable journal file"),
    Case("--set unknown knob", lambda t: ["evaluate", str(WL), str(HW), "--set", "hw.nope=1"], "--set: hw.nope: expected NAME=VALUE"),
    Case("--set on specs without knobs", lambda t: ["evaluate", str(ROOT / "workloads/llama31_8b_fixed.yaml"),
                                                    str(ROOT / "hardware/a100x1_40gb_vllm.yaml"), "--set", "block_size=0"],
         "--set: block_size: expected NAME=VALUE with NAME a knob (these specs have none: give a field a search range"),
    # --set takes any value the field accepts (7x7 is a legal array, used with a warning); an
    # illegal one is checked like the spec field
    Case("--set illegal value", lambda t: ["evaluate", str(WL), str(HW), "--set", "ws0.pe_array=0x7"],
         "--set: hw.chiplets.ws0.pe_array: expected pe_array [rows, cols] of positive integers, got [0, 7]"),
    Case("--set not a boolean", lambda t: ["evaluate", str(WL), str(HW), "--set", "pipelining=maybe"],
         "--set: hw.system.pipelining: expected true or false, got 'maybe'"),
    Case("infeasible mapping", lambda t: ["evaluate", str(WL), str(HW), "--mapping",
                                          write(t, "map.yaml", "mapping: {gpt2: [nope]}\n")],
         "map.yaml: mapping.gpt2"),
    # --- results ----------------------------------------------------------------------------
    Case("pareto: no such folder", lambda t: ["pareto", str(t / "none")], "expected a results folder"),
    Case("pareto: only unreadable parts", lambda t: ["pareto", str(Path(write(t, "part-x.parquet", b"PAR1 junk")).parent)],
         "expected at least one readable part file, got '1 unreadable, the first part-x.parquet'"),
    Case("pareto: --objectives mapping:min", lambda t: ["pareto", str(results(t)), "--objectives", "mapping:min"],
         "--objectives: expected a numeric metric column"),
    Case("pareto: --objectives a:up", lambda t: ["pareto", str(results(t)), "--objectives", "a:up"],
         "--objectives: a:up: expected COLUMN:max or COLUMN:min"),
    Case("pareto: --csv in a missing folder", lambda t: ["pareto", str(results(t)), "--csv", str(t / "no/f.csv")],
         "--csv: "),
    Case("pareto: --csv is a folder", lambda t: ["pareto", str(results(t)), "--csv", str(t)],
         "expected a file path (this is a folder)"),
    Case("pareto: two studies, no --study", lambda t: ["pareto", str(results(t).parent)] if (
        subprocess.run([sys.executable, "-m", "dse.cli", "search", str(WL), str(HW), "--trials", "2", "--out",
                        str(t / "res"), "-q"], capture_output=True).returncode == 0) else [],
         "expected one study per front (pick one with --study NAME), got '2 studies: gpt2_resnet50__mcm4_hetero, "
         "gpt3_175b_decode__papi'"),
    Case("status: not a results folder", lambda t: ["status", str(t)], "expected a results folder holding studies"),
    Case("batch: newline in slurm.partition", lambda t: ["batch", write(t, "s.yaml", SWEEP_RUN + 'slurm: {partition: "cpu\\n#SBATCH --wrap=x"}\n'), "--local"],
         "s.yaml: slurm.partition: expected a Slurm partition name"),
    Case("batch: two-line slurm.setup", lambda t: ["batch", write(t, "s.yaml", SWEEP_RUN + 'slurm: {setup: "a\\nb"}\n'), "--local"],
         "s.yaml: slurm.setup: expected one line of shell"),
    Case("batch: unknown storage", lambda t: ["batch", write(t, "s.yaml", SWEEP_RUN + "storage: bogus://x\n"), "--local"],
         "s.yaml: storage: expected the default (a journal file in the study folder)"),
    Case("batch: neither --slurm nor --local", lambda t: ["batch", write(t, "s.yaml", "runs: []")],
         "expected exactly one of --slurm or --local"),
]


def run_case(case: Case, tmp: Path) -> subprocess.CompletedProcess:
    args = case.make(tmp)
    return subprocess.run([sys.executable, "-m", "dse.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"}, cwd=tmp)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_one_line_exit_2(case, tmp_path):
    r = run_case(case, tmp_path)
    assert r.returncode == case.code, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("dse: error: ") and case.expect in r.stderr, r.stderr
    out = tmp_path / "out"
    assert not out.exists() or not any(out.rglob("*")), "bad input left files behind"
    assert not list(tmp_path.rglob(".*.tmp"))


if __name__ == "__main__":        # the table for the closing note / README
    import tempfile

    print("| case | exit | message |\n|---|---|---|")
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_case(case, Path(tmp))
            message = r.stderr.strip().replace(tmp, "$TMP").replace("|", "\\|")
            print(f"| {case.name} | {r.returncode} | `{message}` |")
