"""Impedance benchmarks: road-network travel times and a 10-million-row OD matrix.

Usage (from the repository root)::

    .venv/bin/python benchmarks/impedance_bench.py network   # synthetic road graph
    .venv/bin/python benchmarks/impedance_bench.py matrix    # 10,000,000-row Parquet OD matrix

network
    A Zhejiang-sized square (324 km side, ~105,000 km²) covered by a grid road graph of
    520 × 520 nodes (623 m apart), every street two-way: 1,079,520 directed edges; speed per
    street uniform in 20–80 km/h (seed 0). 2,500 sites and 16,700 demand points uniform in
    the square. Travel times within 60 minutes (access legs at 5 km/h) with
    :class:`optimizer.impedance.NetworkImpedance`, next to the straight-line baseline
    (:func:`optimizer.distance.coverage_pairs` at the equivalent radius 60 min × 30 km/h =
    30 km). Targets (issue 13): ≤ 60 s, ≤ 4 GiB.
matrix
    16,700 origins × 600 destinations = 10,020,000 rows (origin, destination, minutes uniform
    0–120), written once to a temporary Parquet file; :func:`optimizer.impedance.read_od_matrix`
    keeps the pairs within 30 minutes (~25 %). Target: ≤ 30 s.

One JSON line per run is appended to ``benchmarks/results/impedance.jsonl``; peak memory
is the process's max RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pyproj import CRS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer.impedance import NetworkImpedance, Points, RoadNetwork, read_od_matrix  # noqa: E402
from optimizer.impedance.straight_line import coverage_pairs  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "impedance.jsonl"


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def grid_network(side_nodes: int, side_m: float, rng: np.random.Generator) -> RoadNetwork:
    """Two-way grid streets, one random speed per street."""
    spacing = side_m / (side_nodes - 1)
    ix, iy = np.meshgrid(np.arange(side_nodes), np.arange(side_nodes), indexing="ij")
    node_xy = np.column_stack([ix.ravel() * spacing, iy.ravel() * spacing])
    node = np.arange(side_nodes * side_nodes).reshape(side_nodes, side_nodes)
    u = np.concatenate([node[:-1, :].ravel(), node[:, :-1].ravel()])
    v = np.concatenate([node[1:, :].ravel(), node[:, 1:].ravel()])
    km = np.full(len(u), spacing / 1000.0)
    speed = rng.uniform(20, 80, len(u))
    minutes = km / speed * 60.0
    return RoadNetwork(
        node_xy,
        np.concatenate([u, v]),
        np.concatenate([v, u]),
        np.concatenate([km, km]),
        np.concatenate([minutes, minutes]),
        CRS.from_epsg(32651),
    )


def bench_network() -> dict:
    rng = np.random.default_rng(0)
    side_m = 324_000.0
    t0 = time.perf_counter()
    net = grid_network(520, side_m, rng)
    imp = NetworkImpedance(net, access_speed_kmh=5.0)
    t_graph = time.perf_counter() - t0
    demand = Points([f"d{i}" for i in range(16_700)], rng.uniform(0, side_m, (16_700, 2)))
    sites = Points([f"s{j}" for j in range(2_500)], rng.uniform(0, side_m, (2_500, 2)))
    t0 = time.perf_counter()
    rows, cols, minutes, _ = imp.pairs(demand, sites, minutes=np.full(len(demand), 60.0))
    t_pairs = time.perf_counter() - t0
    t0 = time.perf_counter()
    srows, _, _ = coverage_pairs(demand.xy, sites.xy, 30_000.0)
    t_line = time.perf_counter() - t0
    return {
        "bench": "network",
        "nodes": len(net.node_xy),
        "directed_edges": len(net.u),
        "sites": len(sites),
        "demand": len(demand),
        "cutoff_min": 60,
        "graph_s": round(t_graph, 2),
        "travel_times_s": round(t_pairs, 2),
        "pairs": int(len(rows)),
        "straight_line_s": round(t_line, 2),
        "straight_line_pairs": int(len(srows)),
        "peak_gib": round(peak_gib(), 2),
    }


def bench_matrix() -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    n, m = 16_700, 600
    demand_ids = np.array([f"d{i}" for i in range(n)])
    dest_ids = np.array([f"s{j}" for j in range(m)])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "od.parquet"
        t0 = time.perf_counter()
        writer = None
        for start in range(0, n, 1000):  # written in slices to keep the writer's memory small
            o = np.repeat(np.arange(start, min(start + 1000, n)), m)
            d = np.tile(np.arange(m), len(o) // m)
            table = pa.table(
                {
                    "origin": pa.array(demand_ids[o]),
                    "destination": pa.array(dest_ids[d]),
                    "minutes": pa.array(rng.uniform(0, 120, len(o))),
                }
            )
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
        writer.close()
        t_write = time.perf_counter() - t0
        rows = pq.ParquetFile(path).metadata.num_rows
        t0 = time.perf_counter()
        matrix = read_od_matrix(path, demand_ids=demand_ids, destination_ids=dest_ids, max_minutes=30.0, max_km=None)
        t_read = time.perf_counter() - t0
    return {
        "bench": "matrix",
        "rows": rows,
        "kept_pairs": int(len(matrix.origin)),
        "cutoff_min": 30,
        "write_s": round(t_write, 2),
        "read_s": round(t_read, 2),
        "peak_gib": round(peak_gib(), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["network", "matrix"])
    args = parser.parse_args()
    out = bench_network() if args.which == "network" else bench_matrix()
    out["date"] = time.strftime("%Y-%m-%d")
    print(json.dumps(out))
    with open(RESULTS, "a") as fh:
        fh.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
