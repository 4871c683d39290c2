"""Package network of the chiplet kind: XY routes on 2x2 and 3x3 meshes by hand, and shared links,
vertical hops and model counts in the frame cost."""

from __future__ import annotations

import numpy as np
import pytest

from dse.system.chiplet import kernels
from dse.system.chiplet.ir import EAST, NORTH, SOUTH, WEST, xy_links
from tests.helpers import mesh_frame


def link(x, y, direction, columns):
    """Index of the directed link leaving node (x, y) in ``direction``."""
    return (y * columns + x) * 4 + direction


def used(pos, s, d, columns):
    return sorted(xy_links(pos[s], pos[d], columns))


def kernel_links(f, s, d):
    """The links kernels.route_links walks for s -> d (the kernels' own route)."""
    path = np.zeros(f.mesh_cols + f.mesh_rows, dtype=np.int64)
    return sorted(path[:kernels.route_links(f, s, d, path)].tolist())


def test_xy_routes_2x2():
    pos = [(0, 0), (1, 0), (0, 1), (1, 1)]
    # (0,0) -> (1,1): x first (east from (0,0)), then north from (1,0).
    assert used(pos, 0, 3, 2) == sorted([link(0, 0, EAST, 2), link(1, 0, NORTH, 2)]) == [0, 6]
    # (1,1) -> (0,0): west from (1,1), then south from (0,1).
    assert used(pos, 3, 0, 2) == sorted([link(1, 1, WEST, 2), link(0, 1, SOUTH, 2)]) == [11, 13]
    assert used(pos, 1, 1, 2) == []
    f = frame(2, pos, (2, 2), out_bytes=[0.0, 0.0])
    hops = [[kernels.hop_count(f.pos, s, d) for d in range(4)] for s in range(4)]
    assert hops == [[0, 1, 1, 2], [1, 0, 2, 1], [1, 2, 0, 1], [2, 1, 1, 0]]


def test_xy_routes_3x3():
    pos = [(x, y) for y in range(3) for x in range(3)]
    # (0,0) -> (2,2): east, east, north, north: links 0, 4, 10, 22; 4 hops.
    assert used(pos, 0, 8, 3) == [link(0, 0, EAST, 3), link(1, 0, EAST, 3), link(2, 0, NORTH, 3),
                                  link(2, 1, NORTH, 3)] == [0, 4, 10, 22]
    # (2,1) -> (0,1): two hops west along row 1.
    assert used(pos, 5, 3, 3) == [link(1, 1, WEST, 3), link(2, 1, WEST, 3)]
    # The kernels walk the same routes, and hops are the Manhattan distance everywhere.
    f = frame(2, pos, (3, 3), out_bytes=[0.0, 0.0])
    for s, (xs, ys) in enumerate(pos):
        for d, (xd, yd) in enumerate(pos):
            assert kernel_links(f, s, d) == used(pos, s, d, 3)
            assert kernels.hop_count(f.pos, s, d) == abs(xs - xd) + abs(ys - yd) == len(used(pos, s, d, 3))


def test_routes_on_a_sparse_rectangular_mesh():
    # 5 x 3 mesh with 4 chiplets scattered over it: the kernels' walk equals the reference.
    pos = [(0, 2), (4, 0), (2, 1), (3, 2)]
    f = frame(2, pos, (5, 3), out_bytes=[0.0, 0.0])
    for s in range(4):
        for d in range(4):
            assert kernel_links(f, s, d) == used(pos, s, d, 5)
    # (4,0) -> (0,2): four hops west along row 0, then two north along column 0.
    assert used(pos, 1, 0, 5) == sorted([link(x, 0, WEST, 5) for x in (1, 2, 3, 4)]
                                        + [link(0, 0, NORTH, 5), link(0, 1, NORTH, 5)])


def frame(n_ops, positions, mesh, *, out_bytes, mult=1.0, time=1e-9, link_bw=1e9, link_pj=1.0, hop_lat=0.0,
          pipelining=True):
    c = len(positions)
    return mesh_frame(np.full((n_ops, c), time), np.zeros((n_ops, c)), out_bytes, mult=np.full(n_ops, float(mult)),
                      mesh=mesh, positions=positions, link_bw=link_bw, link_pj=link_pj, hop_lat=hop_lat,
                      dram_bw=1e30, pipelining=pipelining)


def cost(assign, f):
    met = np.zeros(kernels.N_METRICS)
    kernels.frame_cost(np.asarray(assign, dtype=np.int64), f, kernels.scratch(f), met)
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
