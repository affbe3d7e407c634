"""MCLP scaling: 50,000 demand points x 5,000 sites at ~1 % coverage density.

Usage (from the repository root)::

    .venv/bin/python benchmarks/scaling_mclp.py [--p 100] [--time-limit 300]
        [--demand uniform|clustered] [--budgeted]

Data::

    rng = np.random.default_rng(0)
    demand_xy = rng.uniform(0, 100, size=(50_000, 2))
    site_xy   = rng.uniform(0, 100, size=(5_000, 2))
    weights   = rng.integers(1, 1001, size=50_000)
    radius    = sqrt(0.01 * 100**2 / pi) = 5.642  -> a disc covers ~1 % of the square

``--demand clustered`` draws the demand points instead (after the same
``default_rng(0)``, then in this order)::

    centres = rng.uniform(0, 100, size=(100, 2))            # 100 towns
    town    = rng.choice(100, size=50_000, p=rng.dirichlet(np.ones(100)))
    demand_xy = np.clip(centres[town] + rng.normal(0, 2.0, size=(50_000, 2)), 0, 100)
    site_xy, weights as above (drawn after these), the same radius

``--budgeted`` replaces the count p by site costs and a budget (drawn after
the weights): ``costs = rng.integers(50, 151, size=5_000)`` (mean 100) and
``budget = 100 * p`` — about p sites' worth.

Coverage comes from :func:`optimizer.distance.coverage_matrix` (k-d tree,
sparse), so no 50,000 x 5,000 dense matrix is ever made. "Build" = coverage
+ ``MCLP.from_cost_matrix`` (reductions and the PuLP model); memory is the
process's peak RSS during the build (psutil sampling, see
:class:`optimizer.bench.PeakMemory`). The solve runs with a time limit and
reports its status and proven gap. One JSON line per run is appended to
``benchmarks/results/scaling_mclp.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from optimizer.bench.runner import PeakMemory
from optimizer.impedance.straight_line import coverage_matrix
from optimizer.locate.coverage import MCLP

RESULTS = Path(__file__).parent / "results" / "scaling_mclp.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=300.0)
    parser.add_argument("--demand", choices=["uniform", "clustered"], default="uniform")
    parser.add_argument("--budgeted", action="store_true", help="site costs and a budget instead of p")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    if args.demand == "clustered":
        centres = rng.uniform(0, 100, size=(100, 2))
        town = rng.choice(100, size=50_000, p=rng.dirichlet(np.ones(100)))
        demand_xy = np.clip(centres[town] + rng.normal(0, 2.0, size=(50_000, 2)), 0, 100)
    else:
        demand_xy = rng.uniform(0, 100, size=(50_000, 2))
    site_xy = rng.uniform(0, 100, size=(5_000, 2))
    weights = rng.integers(1, 1001, size=50_000)
    costs = rng.integers(50, 151, size=5_000) if args.budgeted else None
    radius = math.sqrt(0.01 * 100**2 / math.pi)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        cov = coverage_matrix(demand_xy, site_xy, radius)
        t1 = time.perf_counter()
        if costs is None:
            model = MCLP.from_cost_matrix(cov, weights, radius, args.p)
        else:
            model = MCLP.from_cost_matrix(cov, weights, radius, None, facility_costs=costs, budget=100.0 * args.p)
        t2 = time.perf_counter()
    density = cov.nnz / (cov.shape[0] * cov.shape[1])
    print(
        f"coverage pairs {cov.nnz:,} (density {density:.3%}); coverage {t1 - t0:.2f} s, model {t2 - t1:.2f} s, "
        f"build total {t2 - t0:.2f} s, peak RSS {mem.peak_mb:.0f} MiB"
    )
    print("model stats:", model.stats)
    t3 = time.perf_counter()
    model.solve("highs", time_limit=args.time_limit)
    t4 = time.perf_counter()
    print(
        f"solve: status {model.status}, objective {model.objective}, bound {model.bound}, gap {model.gap}, "
        f"{t4 - t3:.1f} s (limit {args.time_limit:g} s); covered "
        + (f"{model.objective / weights.sum():.2%} of weight" if model.objective is not None else "nothing (no plan)")
    )
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(
            json.dumps(
                {
                    "p": args.p,
                    "demand": args.demand,
                    "budgeted": args.budgeted,
                    "radius": radius,
                    "pairs": int(cov.nnz),
                    "density": density,
                    "coverage_s": t1 - t0,
                    "model_s": t2 - t1,
                    "build_s": t2 - t0,
                    "build_peak_rss_mb": mem.peak_mb,
                    "solve_s": t4 - t3,
                    "time_limit": args.time_limit,
                    "status": model.status,
                    "objective": model.objective,
                    "bound": model.bound,
                    "gap": model.gap,
                    "stats": model.stats,
                },
                default=float,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
