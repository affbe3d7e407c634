"""Upper bounds on equity stage 1 of the Zhejiang default from a few cities' counties (issue 14, s14-eq).

Keeps only the equity rows ``rate_u − d_u t ≥ 0`` of the counties whose code
starts with one of the given city prefixes (every other row of the stage-1
model is kept) and maximises ``t``. Fewer rows make a relaxation, so a
proven optimum is an upper bound on the whole stage 1. Measured (load ~7):
``3311,3301`` (Lishui + Hangzhou) 0.32896 proven in 100 s; ``3311`` alone
0.33007 in 27 s (see benchmarks/README.md, equity section).

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/equity_city_bound.py 3311,3301 [--seconds 240]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pulp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer.planning import PlanningModel  # noqa: E402
from optimizer.scenario import load_scenario  # noqa: E402
from optimizer.solvers import solve_problem  # noqa: E402


def main() -> None:
    """Solve max t over the chosen cities' counties and print the status, plan, bound and seconds."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cities", help="comma-separated prefixes of the county codes kept, e.g. 3311,3301")
    parser.add_argument("--seconds", type=float, default=240.0)
    args = parser.parse_args()
    prefixes = args.cities.split(",")
    changes = {"objective.kind": "equity", "objective.equity.compare": "units"}
    scenario = load_scenario(ROOT / "configs" / "zhejiang.yaml").replace(**changes)
    model = PlanningModel(scenario)
    prob = model.problem
    labels = model.compare_labels
    kept = [key for key in model.unit_expr if str(labels[key]).startswith(tuple(prefixes))]
    for key in model.unit_expr:
        if key not in kept:
            prob.constraints.pop(f"equity_{key}", None)
    prob.setObjective(pulp.LpAffineExpression([(model.t, 1.0)]))
    t0 = time.perf_counter()
    report = solve_problem(prob, replace(scenario.solver_options, time_limit=args.seconds))
    print(
        f"cities {args.cities}: {len(kept)} counties kept; {report.status}, plan {report.objective}, "
        f"bound {report.bound}, {time.perf_counter() - t0:.1f} s, load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
