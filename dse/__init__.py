"""dse: design-space exploration for AI computing systems.

The code's map (the README keeps a short version).

Data flows one way: spec → model decomposition → IR → cost kernels → system kind → search → results.

- `dse/cli.py` — thin typer commands (heavy imports inside them).
  `point.py` (evaluate), `knobs.py`, `batch.py` and `validate.py` are their library sides.
- `dse/spec/` — YAML → frozen specs with units, knobs and one-line errors (`common.py`, `workload.py`,
  `serving_workload.py`; `hardware.py` asks the registry; `bundled.py` finds the shipped specs).
- `dse/models/` — one operator decomposition (`operators.py`), presets, the kinds' views (`views.py`),
  Hugging Face and ONNX imports.
- `dse/cost/` — numba kernels on arrays: `dataflow.py`, `roofline.py`, `collectives.py`.
- `dse/system/base.py` — the kind interface and the registry, the only list of kinds.
  `dse/system/gpu/` — the shared GPU layer: `spec.py` (GPU, link, cluster), `devices.py` (the device
  table), `kernels.py` (per-op step, mixed-batch iteration and pass costs), `memory.py`, `parallel.py`.
- `dse/system/<kind>/` — one package per kind, each of the same shape: `spec.py` (its hardware file and
  `FIELDS`), `kind.py` (the face the registry returns), `evaluator.py`, `kernels.py`, `view.py` (rendering
  for people: `render`, `mapping_summary`, `breakdown`), `cases.py` + `validate_cases.yaml` (its
  `dse validate` cases), plus its own policy modules (`chiplet/ir.py`, `training/schedules.py`,
  `serving/arrivals.py`, `serving/costs.py`, `serving/engine.py` (the continuously batched engine),
  `serving/batched.py` (its replicas and placement)). No kind imports another (a test checks the import graph).
- `dse/search/` — `space.py`, `sampler.py`, `storage.py` (storages, mutex, liveness), `runner.py`
  (checks before any work), `worker.py` (the worker's steps), `status.py`.
- `dse/output/` — Parquet store, Pareto fronts, tables, figures, progress; imports nothing above it.

**Adding a kind** is one package and one registry line: write `dse/system/<name>/` with the files above
(a `SystemKind` subclass in `kind.py` naming `spec_module`, `view_module`, `cases_module` and the
`workload_sections` it reads), add `"<name>": "dse.system.<name>.kind:<Class>"` to `REGISTRY` in
`dse/system/base.py`, and its field table here (a test keeps the tables equal to `FIELDS`).
`tests/test_toy_kind.py` does exactly this with a toy kind from a temporary folder and runs every
command on it.
"""

__version__ = "0.1.0"
