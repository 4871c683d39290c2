"""Package network of the chiplet kind: XY routes on 2x2 and 3x3 meshes by hand, and shared links,
vertical hops and model counts in the frame cost."""

from __future__ import annotations

import numpy as np
import pytest

from dse.system.chiplet import kernels
from dse.system.chiplet.ir import EAST, NORTH, SOUTH, WEST, xy_routes
from dse.system.chiplet.kernels import Frame


def link(x, y, direction, columns):
    """Index of the directed link leaving node (x, y) in ``direction``."""
    return (y * columns + x) * 4 + direction


def used(route, s, d):
    return sorted(np.flatnonzero(route[s, d]).tolist())


def test_xy_routes_2x2():
    pos = [(0, 0), (1, 0), (0, 1), (1, 1)]
    hops, route = xy_routes(pos, (2, 2))
    assert route.shape == (4, 4, 16)
    # (0,0) -> (1,1): x first (east from (0,0)), then north from (1,0).
    assert used(route, 0, 3) == sorted([link(0, 0, EAST, 2), link(1, 0, NORTH, 2)]) == [0, 6]
    # (1,1) -> (0,0): west from (1,1), then south from (0,1).
    assert used(route, 3, 0) == sorted([link(1, 1, WEST, 2), link(0, 1, SOUTH, 2)]) == [11, 13]
    assert hops.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1], [1, 2, 0, 1], [2, 1, 1, 0]]
    assert used(route, 1, 1) == []


def test_xy_routes_3x3():
    pos = [(x, y) for y in range(3) for x in range(3)]
    hops, route = xy_routes(pos, (3, 3))
    # (0,0) -> (2,2): east, east, north, north: links 0, 4, 10, 22; 4 hops.
    assert used(route, 0, 8) == [link(0, 0, EAST, 3), link(1, 0, EAST, 3), link(2, 0, NORTH, 3),
                                 link(2, 1, NORTH, 3)] == [0, 4, 10, 22]
    assert hops[0, 8] == 4 and hops[8, 0] == 4
    # (2,1) -> (0,1): two hops west along row 1.
    assert used(route, 5, 3) == [link(1, 1, WEST, 3), link(2, 1, WEST, 3)]
    # Manhattan distance everywhere.
    for s, (xs, ys) in enumerate(pos):
        for d, (xd, yd) in enumerate(pos):
            assert hops[s, d] == abs(xs - xd) + abs(ys - yd) == route[s, d].sum()


def frame(n_ops, positions, mesh, *, out_bytes, mult=1.0, time=1e-9, link_bw=1e9, link_pj=1.0, hop_lat=0.0,
          pipelining=True):
    hops, route = xy_routes(positions, mesh)
    c = len(positions)
    return Frame(np.full((n_ops, c), time), np.zeros((n_ops, c)), np.zeros((n_ops, c)), np.asarray(out_bytes, float),
                 np.full(n_ops, float(mult)), np.zeros(n_ops, dtype=np.int64),
                 np.r_[1, np.zeros(n_ops - 1)].astype(np.int64), 1, hops, route, float(link_bw), float(link_pj),
                 float(hop_lat), 1e30, pipelining, 0.0)


def cost(assign, f):
    met = np.zeros(kernels.N_METRICS)
    kernels.frame_cost(np.asarray(assign, dtype=np.int64), f, np.zeros(f.time.shape[1]), met)
    return met


def test_vertical_transfer_costs_its_hop():
    # 2x2 mesh, (0,0) -> (0,1): one hop north. 1e9 B x 8 bit x 1 pJ = 8 mJ; 1 s on the link.
    f = frame(2, [(0, 0), (1, 0), (0, 1), (1, 1)], (2, 2), out_bytes=[1e9, 0.0])
    met = cost([0, 2], f)
    assert met[kernels.M_NOP_J] == pytest.approx(8e-3, rel=1e-12)
    assert met[kernels.M_PERIOD] == pytest.approx(1.0, rel=1e-12)
    # Diagonal (0,0) -> (1,1): two hops, twice the energy, the same link time (links run in parallel).
    met = cost([0, 3], f)
    assert met[kernels.M_NOP_J] == pytest.approx(16e-3, rel=1e-12)
    assert met[kernels.M_PERIOD] == pytest.approx(1.0, rel=1e-12)


def test_transfers_sharing_a_link_add_up():
    # 3x3 mesh, a chain of 4 ops on nodes 0, 2, 1, 2 (row 0). Op 0 on node 0 sends 1e9 B to op 1 on node 2 (links (0,0)E, (1,0)E); op 1 sends 0.5e9 B to
    # op 2 on node 1 ((2,0)W). Then op 2 -> op 3 on node 2: 0.25e9 B over (1,0)E again.
    # Link (1,0)E carries 1e9 + 0.25e9 B = 1.25 s at 1 GB/s: the period.
    pos = [(x, y) for y in range(3) for x in range(3)]
    f = frame(4, pos, (3, 3), out_bytes=[1e9, 0.5e9, 0.25e9, 0.0])
    met = cost([0, 2, 1, 2], f)
    assert met[kernels.M_PERIOD] == pytest.approx(1.25, rel=1e-12)
    assert met[kernels.M_NOP_BYTES] == pytest.approx(1.75e9, rel=1e-12)
    # Hops 2 + 1 + 1 -> energy (2e9 + 0.5e9 + 0.25e9) x 8 pJ.
    assert met[kernels.M_NOP_J] == pytest.approx(2.75e9 * 8e-12, rel=1e-12)


def test_model_count_multiplies_link_time():
    # The model runs 3 times per frame: the link carries 3 x 1e9 B = 3 s; energy x 3.
    f = frame(2, [(0, 0), (1, 0)], (2, 1), out_bytes=[1e9, 0.0], mult=3.0)
    met = cost([0, 1], f)
    assert met[kernels.M_PERIOD] == pytest.approx(3.0, rel=1e-12)
    assert met[kernels.M_NOP_J] == pytest.approx(3 * 8e-3, rel=1e-12)
    assert met[kernels.M_NOP_BYTES] == pytest.approx(3e9, rel=1e-12)


def test_hop_latency_enters_the_chain_not_the_link():
    # 1 us per hop over 4 hops on a 3x3 mesh; op times 1 ns: latency = 2 ns + 1 s + 4 us, while the
    # period is the link's 1 s (hop latency does not occupy the link).
    pos = [(x, y) for y in range(3) for x in range(3)]
    f = frame(2, pos, (3, 3), out_bytes=[1e9, 0.0], hop_lat=1e-6)
    met = cost([0, 8], f)
    assert met[kernels.M_PERIOD] == pytest.approx(1.0, rel=1e-12)
    assert met[kernels.M_LATENCY] == pytest.approx(2e-9 + 1.0 + 4e-6, rel=1e-12)
