"""Pipeline schedules: named families and building blocks -> per-device pass orders.

Placements of S virtual stages on p devices:

    sequential     S = p, stage s on device s                              (GPipe, 1F1B, ZB-H1/H2)
    interleaved    S = v p, stage s on device s mod p (v chunks per device)   (interleaved 1F1B)
    v_shape        S = 2 p, stage s on device s for s < p, else 2p - 1 - s  (ZB-V, V-Half, V-Min)

Families built directly (p devices, n microbatches; rank d = 0 .. p-1):

    gpipe        all F, then all BW
    1f1b         warm-up min(p-1-d, n) F, then (F, BW) pairs, then the remaining BW
    interleaved  Megatron's order: warm-up (p-1-d) 2 + (v-1) p F over chunks, groups of p
                 microbatches per chunk (forward chunks ascending, backward descending); n % p == 0
    zb-h1, zb-h2 the Zero Bubble paper's handcrafted schedules: warm-up c (p-1-d) F (c = 1, 2), then
                 per microbatch (F, B, W) with the first c (p-1) - warm-up W's moved to the end

A *building block* (Controllable Memory, Qi et al. 2024) is the timing of one microbatch's passes in
unit slots (F = B = W = 1 slot per stage chunk): ``offsets`` give the gaps, in slots, between
consecutive passes of the microbatch, and the block repeats every T = 3 v slots (v = chunks per
device). For a placement the offsets are

    sequential   f (F_s -> F_s+1), turn (F_S-1 -> B_S-1), b (B_s+1 -> B_s); W at the block's first
                 free slot of its device after its B
    interleaved  the same three over the v p virtual stages (stage s on device s mod p)
    v_shape      f_up (F on the way out, device d -> d+1), f_turn (F_p-1 -> F_p on device p-1),
                 f_down (F on the way back), fb_turn (F_2p-1 -> B_2p-1 on device 0), b_up (B of the
                 second chunk, device d -> d+1), b_turn (B_p -> B_p-1 on device p-1), b_down; W as above

A block is valid when no two passes of one device share a slot modulo T ("offsets collide"). Its
lifespan on a stage is l = W end - F start, and repeating it gives at most ceil(l / T) live
microbatches per stage: peak <= ceil(l/T) m. A schedule is built from a block by (1) repeating it
n times every T, (2) squeezing: the simulator starts every pass as early as the order allows, and
(3) reordering warm-up and cool-down with :func:`~dse.system.training.kernels.greedy_reorder`
capped at the repeated block's per-stage and per-device peaks; the reordered schedule is kept only
when its unit-time makespan is shorter.

Named V families (blocks with uniform offsets; the turns are the smallest collision-free ones):
``v-min`` f_up = b_up = 1, ``v-half`` f_up = b_up = 2 (f_down = b_down = 1 both), giving
(p + 4) // 3 and (p + 2) // 2 of 1F1B's activation memory; ``zb-v`` the greedy order capped at 1F1B's
memory (p microbatches per device, 2 p chunk activations), the Zero Bubble paper's ZB-V.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from dse.system.training.spec import BLOCK_OFFSETS, FAMILIES, PLACEMENTS, V_TURNS  # noqa: F401  (the vocabulary)


def block_chunks(placement: str, chunks: int) -> int:
    """Chunks per device of a block placement (interleaved: the schedule's ``chunks``)."""
    return 2 if placement == "v_shape" else chunks if placement == "interleaved" else 1


class ScheduleError(ValueError):
    """A schedule that cannot be built (the caller names the spec field)."""


@dataclass(frozen=True, eq=False)
class Schedule:
    """Per-device pass orders (kernels.Passes after :meth:`passes`) and how they were made."""

    family: str
    placement: str            # sequential | interleaved | v_shape
    p: int                    # devices
    v: int                    # chunks (virtual stages) per device
    n: int                    # microbatches
    kind: np.ndarray
    mb: np.ndarray
    stage: np.ndarray
    dev_start: np.ndarray
    stage_device: np.ndarray
    block_period: int = 0     # T of the building block (0: not built from a block)
    block_life: tuple = ()    # per stage, the block's lifespan in slots

    @property
    def stages(self) -> int:
        return int(self.stage_device.shape[0])


def placement_devices(placement: str, p: int, v: int) -> np.ndarray:
    s = np.arange(p * v, dtype=np.int64)
    if placement == "v_shape":
        return np.where(s < p, s, 2 * p - 1 - s)
    return s % p


def _from_lists(family: str, placement: str, p: int, v: int, n: int, orders: list[list[tuple]],
                **extra) -> Schedule:
    """(kind, mb, stage) lists per device -> a Schedule."""
    flat = [x for order in orders for x in order]
    arr = np.array(flat, dtype=np.int64).reshape(-1, 3)
    dev_start = np.zeros(p + 1, np.int64)
    dev_start[1:] = np.cumsum([len(o) for o in orders])
    return Schedule(family, placement, p, v, n, arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy(),
                    dev_start, placement_devices(placement, p, v), **extra)


def gpipe(p: int, n: int) -> Schedule:
    from dse.system.training.kernels import BW, F

    return _from_lists("gpipe", "sequential", p, 1, n,
                       [[(F, j, d) for j in range(n)] + [(BW, j, d) for j in range(n)] for d in range(p)])


def handcrafted(family: str, p: int, n: int, warmup_c: int, fused: bool) -> Schedule:
    """1F1B (c = 1, B and W fused), ZB-H1 (c = 1) and ZB-H2 (c = 2): see the module docstring."""
    from dse.system.training.kernels import BW, B, F, W

    orders = []
    for d in range(p):
        warm = min(warmup_c * (p - 1 - d), n)
        deferred = min(warmup_c * (p - 1) - warm, n)   # W's moved to the end (ZB only)
        order = [(F, j, d) for j in range(warm)]
        w_next = 0
        for j in range(n):
            if warm + j < n:
                order.append((F, warm + j, d))
            if fused:
                order.append((BW, j, d))
                continue
            order.append((B, j, d))
            if j >= deferred:
                order.append((W, w_next, d))
                w_next += 1
        if not fused:
            order += [(W, j, d) for j in range(w_next, n)]
        orders.append(order)
    return _from_lists(family, "sequential", p, 1, n, orders)


def interleaved(p: int, n: int, v: int) -> Schedule:
    """Megatron's interleaved 1F1B with v chunks per device (n a multiple of p)."""
    from dse.system.training.kernels import BW, F

    if n % p:
        raise ScheduleError(f"microbatches ({n}) a multiple of the pipeline stages ({p}) for interleaved 1F1B")

    def which(i: int, backward: bool) -> tuple[int, int]:
        group, rest = divmod(i, p * v)
        chunk = rest // p
        return group * p + rest % p, (v - 1 - chunk) if backward else chunk

    orders = []
    total = n * v
    for d in range(p):
        warm = min((p - 1 - d) * 2 + (v - 1) * p, total)
        seq: list[tuple] = []
        fi = bi = 0
        for _ in range(warm):
            j, c = which(fi, False)
            seq.append((F, j, c * p + d))
            fi += 1
        for i in range(total):
            if warm + i < total:
                j, c = which(fi, False)
                seq.append((F, j, c * p + d))
                fi += 1
            j, c = which(bi, True)
            seq.append((BW, j, c * p + d))
            bi += 1
        orders.append(seq)
    return _from_lists("interleaved", "interleaved", p, v, n, orders)


def block_times(placement: str, p: int, offsets: dict[str, int],
                chunks: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Slot times (F, B, W per virtual stage) of one microbatch's block and its period T.

    Raises ScheduleError naming the offset when a gap is below 1 or two passes of a device collide
    modulo T."""
    v = block_chunks(placement, chunks)
    S, T = p * v, 3 * v
    dev = placement_devices(placement, p, v)
    for name in BLOCK_OFFSETS[placement]:
        if int(offsets[name]) < 1:
            raise ScheduleError(f"offset {name} >= 1 slot (a pass starts after the one before it ends)")
    f = np.zeros(S, np.int64)
    b = np.zeros(S, np.int64)
    o = {k: int(x) for k, x in offsets.items()}
    for s in range(1, S):
        if placement != "v_shape":
            f[s] = f[s - 1] + o["f"]
        else:
            f[s] = f[s - 1] + (o["f_up"] if s < p else o["f_turn"] if s == p else o["f_down"])
    b[S - 1] = f[S - 1] + (o["fb_turn"] if placement == "v_shape" else o["turn"])
    for s in range(S - 2, -1, -1):
        if placement != "v_shape":
            b[s] = b[s + 1] + o["b"]
        else:
            b[s] = b[s + 1] + (o["b_up"] if s >= p else o["b_turn"] if s == p - 1 else o["b_down"])
    used: list[dict[int, str]] = [dict() for _ in range(p)]
    for s in range(S):
        for name, t in (("F", f[s]), ("B", b[s])):
            slot = int(t % T)
            if slot in used[dev[s]]:
                raise ScheduleError(f"offsets whose passes do not collide: {name} of stage {s} takes slot "
                                    f"{slot} (mod {T}) of device {dev[s]}, already used by "
                                    f"{used[dev[s]][slot]}")
            used[dev[s]][slot] = f"{name} of stage {s}"
    w = np.zeros(S, np.int64)
    for s in range(S):                      # W: the first free slot of the device after its B
        gap = 1
        while int((b[s] + gap) % T) in used[dev[s]]:
            gap += 1
        w[s] = b[s] + gap
        used[dev[s]][int(w[s] % T)] = f"W of stage {s}"
    return f, b, w, T


def repeat_block(family: str, placement: str, p: int, n: int, offsets: dict[str, int], chunks: int = 2) -> Schedule:
    """Steps (1) and (2): the block repeated n times every T, each device's passes in time order."""
    from dse.system.training.kernels import B, F, W

    f, b, w, T = block_times(placement, p, offsets, chunks)
    v = block_chunks(placement, chunks)
    S = p * v
    dev = placement_devices(placement, p, v)
    j = np.arange(n, dtype=np.int64)
    times, kinds, mbs, stages, devs = [], [], [], [], []
    for kind, base in ((F, f), (B, b), (W, w)):
        for s in range(S):
            times.append(base[s] + T * j)
            kinds.append(np.full(n, kind))
            mbs.append(j)
            stages.append(np.full(n, s))
            devs.append(np.full(n, dev[s]))
    t, k, m, st, dv = (np.concatenate(x) for x in (times, kinds, mbs, stages, devs))
    order = np.lexsort((t, dv))
    dev_start = np.zeros(p + 1, np.int64)
    dev_start[1:] = np.cumsum(np.bincount(dv, minlength=p))
    return Schedule(family, placement, p, v, n, k[order].astype(np.int64), m[order].astype(np.int64),
                    st[order].astype(np.int64), dev_start, dev,
                    block_period=T, block_life=tuple(int(x) for x in (w + 1 - f)))


def makespan(s: Schedule, costs) -> float:
    """The schedule's makespan under ``costs`` (kernels.PassCosts)."""
    from dse.system.training.kernels import simulate

    passes = prepared(s)
    n = passes.kind.shape[0]
    return float(simulate(passes, costs, np.empty(n), np.empty(n), np.empty((s.p, 4)), np.empty(s.stages)))


def unit_costs(S: int, memory_model: int = 0):
    from dse.system.training.kernels import PassCosts

    one = np.ones(S)
    return PassCosts(one, one, one, np.zeros(S), one, one, memory_model)


def from_block(family: str, placement: str, p: int, n: int, offsets: dict[str, int],
               device_cap: np.ndarray | None = None, stage_cap: np.ndarray | None = None,
               costs=None, chunks: int = 2) -> Schedule:
    """Steps (1)-(3): repeat, squeeze (by the simulator) and reorder warm-up / cool-down without
    raising the block's peak (per stage and per device) by list scheduling in unit slots and, when
    ``costs`` (kernels.PassCosts) are given, with those pass times too; of these orders the one with
    the shortest makespan under ``costs`` (unit slots if None) is kept."""
    from dse.system.training.kernels import greedy_reorder, unit_peaks

    rep = repeat_block(family, placement, p, n, offsets, chunks)
    stage_peaks, device_peaks = unit_peaks(rep.kind, rep.stage, rep.dev_start, rep.stages)
    if stage_cap is None:
        stage_cap = stage_peaks.max(axis=0)
    dev_cap = device_peaks if device_cap is None else device_cap
    unit = unit_costs(rep.stages)
    candidates = [rep]
    for timing in (unit,) if costs is None else (unit, costs):
        kind, mb, stage, dev_start, ok = greedy_reorder(rep.stage_device, n, p, stage_cap, dev_cap, timing)
        alt = Schedule(family, placement, p, rep.v, n, kind, mb, stage, dev_start, rep.stage_device,
                       rep.block_period, rep.block_life)
        if ok and not np.any(unit_peaks(kind, stage, dev_start, rep.stages)[1] > dev_cap):
            candidates.append(alt)
    judge = unit if costs is None else costs
    return min(candidates, key=lambda c: makespan(c, judge))


@lru_cache(maxsize=256)
def v_turns(p: int, f_up: int, f_down: int, b_up: int, b_down: int) -> tuple[tuple[str, int], ...]:
    """A V-shape block's offsets with its three turns (1 .. 6 slots each) chosen: collision-free,
    the lowest memory bound (max over devices of sum ceil(l / T)), then the shortest lifespan on
    device 0, then the smallest turns."""
    best = None
    dev = placement_devices("v_shape", p, 2)
    for f_turn in range(1, 7):
        for fb_turn in range(1, 7):
            for b_turn in range(1, 7):
                offs = dict(f_up=f_up, f_turn=f_turn, f_down=f_down, fb_turn=fb_turn, b_up=b_up, b_turn=b_turn,
                            b_down=b_down)
                try:
                    f, _, w, _ = block_times("v_shape", p, offs)
                except ScheduleError:
                    continue
                bound = np.zeros(p, np.int64)
                np.add.at(bound, dev, -(-(w + 1 - f) // 6))
                key = (int(bound.max()), int(w[0] - f[0]), f_turn + fb_turn + b_turn)
                if best is None or key < best[0]:
                    best = (key, offs)
    if best is None:
        raise ScheduleError(f"offsets with collision-free turns: none of 1 .. 6 slots fits f_up {f_up}, f_down "
                            f"{f_down}, b_up {b_up}, b_down {b_down} at {p} stages")
    return tuple(best[1].items())


def uniform_v_offsets(p: int, up: int) -> tuple[tuple[str, int], ...]:
    """V-Min (``up`` 1) and V-Half (``up`` 2): f_up = b_up = up, f_down = b_down = 1, turns chosen."""
    return v_turns(p, up, 1, up, 1)


def block_offsets(placement: str, p: int, offsets: dict[str, int]) -> dict[str, int]:
    """A block's offsets, with a V-shape's turns chosen (:func:`v_turns`) when none is given."""
    if placement == "v_shape" and not any(k in offsets for k in V_TURNS):
        return dict(v_turns(p, offsets["f_up"], offsets["f_down"], offsets["b_up"], offsets["b_down"]))
    return offsets


BLOCK_FAMILIES = ("zb-v", "v-half", "v-min", "block")
# Families whose schedule is a block given in the spec: its offsets may collide, so a point with
# searched offsets is built only when evaluated (a collision is then an infeasible row), and a
# schedule error names the offsets.
GIVEN_BLOCK = ("block",)


def family_chunks(family: str, chunks: int, placement: str | None) -> int:
    """Virtual stages per device of a family: interleaved 1F1B's ``chunks``, 2 for the V families,
    a block's placement's (:func:`block_chunks`), else 1."""
    if family == "interleaved":
        return int(chunks)
    if family in ("zb-v", "v-half", "v-min"):
        return 2
    if family in GIVEN_BLOCK:
        return block_chunks(placement, int(chunks))
    return 1


def family_problem(family: str, p: int, n: int) -> str | None:
    """Why a family cannot schedule ``n`` microbatches on ``p`` devices (None if it can):
    interleaved 1F1B groups microbatches by p."""
    if family == "interleaved" and n % p:
        return f"microbatches per pipeline ({n}) a multiple of pp ({p}) for interleaved 1F1B"
    return None


def build(family: str, p: int, n: int, chunks: int = 2, offsets: tuple = (), placement: str = "v_shape",
          costs=None) -> Schedule:
    """The schedule of a family. ``chunks``: interleaved 1F1B's v; ``offsets`` / ``placement``: the
    ``block`` family's block; ``costs`` (kernels.PassCosts): the pass times the block families'
    reordering schedules with (None: unit slots). Cached where costs do not enter."""
    if costs is None or family not in BLOCK_FAMILIES:
        return _build_unit(family, p, n, chunks, offsets, placement)
    return _make(family, p, n, chunks, offsets, placement, costs)


@lru_cache(maxsize=256)
def _build_unit(family: str, p: int, n: int, chunks: int, offsets: tuple, placement: str) -> Schedule:
    return _make(family, p, n, chunks, offsets, placement, None)


def _make(family: str, p: int, n: int, chunks: int, offsets: tuple, placement: str, costs) -> Schedule:
    if p < 1 or n < 1:
        raise ScheduleError("at least one stage and one microbatch")
    if family == "gpipe":
        return gpipe(p, n)
    if family == "1f1b":
        return handcrafted("1f1b", p, n, 1, fused=True)
    if family == "zb-h1":
        return handcrafted("zb-h1", p, n, 1, fused=False)
    if family == "zb-h2":
        return handcrafted("zb-h2", p, n, 2, fused=False)
    if family == "interleaved":
        return interleaved(p, n, chunks)
    if family in ("v-min", "v-half"):
        return from_block(family, "v_shape", p, n, dict(uniform_v_offsets(p, 1 if family == "v-min" else 2)),
                          costs=costs)
    if family == "zb-v":
        return from_block(family, "v_shape", p, n, dict(uniform_v_offsets(p, 1)),
                          device_cap=np.full(p, 2 * p, np.int64), stage_cap=np.full(2 * p, p, np.int64), costs=costs)
    if family == "block":
        return from_block("block", placement, p, n, block_offsets(placement, p, dict(offsets)), costs=costs,
                          chunks=chunks)
    raise ScheduleError(f"a schedule family, one of {list(FAMILIES)}")


@lru_cache(maxsize=256)
def prepared(s: Schedule):
    """The kernels.Passes bundle of a schedule (dependencies and topological order), cached per
    schedule object; a schedule that deadlocks or misses a pass is a ScheduleError."""
    from dse.system.training.kernels import Passes, prepare

    pred, comm, prev, device, topo, status = prepare(s.kind, s.mb, s.stage, s.dev_start, s.stage_device,
                                                     s.n, s.stages)
    if status == 1:
        raise ScheduleError("every pass exactly once, after the passes it needs (a W after its B, ...)")
    if status == 2:
        raise ScheduleError("device orders that do not deadlock")
    return Passes(s.kind, s.mb, s.stage, device, s.dev_start, s.stage_device, pred, comm, prev, topo)


def bound_units(s: Schedule) -> np.ndarray:
    """The building-block bound per device, in chunk activations: sum over the device's stages of
    ceil(l_s / T) (Controllable Memory, Sec. 3)."""
    if not s.block_period:
        raise ScheduleError("a schedule built from a block")
    out = np.zeros(s.p, np.int64)
    for st, life in enumerate(s.block_life):
        out[s.stage_device[st]] += math.ceil(life / s.block_period)
    return out
