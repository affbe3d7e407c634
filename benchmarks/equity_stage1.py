"""Equity stage 1 alone on the shipped Zhejiang default: the proven interval on the minimum rate, and its steps.

Loads ``configs/zhejiang.yaml`` with ``objective.kind: equity`` and the given
``compare`` mode, builds the stage-1 model (max t) and runs
:func:`optimizer.planning.equity_bound.solve_stage1` with the scenario's
solver options (``time_limit: 300``, ``mip_gap: 5e-4``), timing the stage
alone; prints the interval ``[plan, bound]``, the seconds, ``uptime``'s
1-minute load at start and end, and the steps' records (plain solve, LP,
few-cities relaxations, Lagrangian tests, probes, last solve).

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/equity_stage1.py [--compare units] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _scenarios import equity_scenario  # noqa: E402

from optimizer.planning import PlanningModel  # noqa: E402
from optimizer.planning.equity_bound import solve_stage1  # noqa: E402


def main() -> None:
    """Build the stage-1 model, run stage 1 once and print (and optionally append as JSON) its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", default="units")
    parser.add_argument("--json", type=Path, help="append one JSON line")
    args = parser.parse_args()
    scenario = equity_scenario(args.compare)
    model = PlanningModel(scenario)
    model.problem  # noqa: B018 - builds the model before the clock starts
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    report = solve_stage1(model, scenario.solver_options)
    seconds = time.perf_counter() - t0
    load1 = os.getloadavg()[0]
    extra = report.extra or {}
    out = {
        "status": report.status,
        "plan": report.objective,
        "bound": report.bound,
        "gap": report.gap,
        "seconds": seconds,
        "load_start": load0,
        "load_end": load1,
        "message": report.message,
        **{
            k: extra.get(k)
            for k in ("first_solve", "plan_search", "lp_bound", "relaxations", "lagrangian", "probes", "finish")
        },
    }
    print(json.dumps(out, indent=1, default=str))
    if args.json:
        with args.json.open("a") as fh:
            fh.write(json.dumps(out, default=str) + "\n")


if __name__ == "__main__":
    main()
