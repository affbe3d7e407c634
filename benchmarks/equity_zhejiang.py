"""Equity on the shipped Zhejiang default, every ``compare`` mode: status, gap and wall time.

Each run loads ``configs/zhejiang.yaml`` with only ``objective.kind: equity``
(and the compare mode) changed, builds the planning model and solves it
through the Python API, timing load + build + both stages; printed beside
the figure measured before (610 s, feasible, gap 4.76 %, ``compare: units``,
straight-line impedance). ``--old`` solves stage 1 by branch and bound on
max t for the whole time limit, as before (``model.equity_level_search =
False``); by default stage 1 is the first solve (LP-guided with HiGHS,
``equity_bound.LP_GUIDED_FIRST``), the LP, the few-cities
relaxations (or the Lagrangian level test) and level probes of
``optimizer/planning/equity_bound.py``, and stage 2
first improves stage 1's plan one facility family at a time
(``optimizer/planning/equity_lns.py``) before its full solve.

Usage::

    .venv/bin/python benchmarks/equity_zhejiang.py [--compare units group_vs_rest units_in_group]
        [--repeat 1] [--old] [--json results/equity_zhejiang.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _scenarios import equity_scenario  # noqa: E402

from optimizer.planning import PlanningModel  # noqa: E402

BEFORE = {"units": (610.0, "feasible", 0.0476)}


def one_run(compare: str, old: bool) -> dict:
    """Load, build and solve once; the figures of the run."""
    t0 = time.perf_counter()
    scenario = equity_scenario(compare)
    model = PlanningModel(scenario)
    model.equity_level_search = not old
    result = model.solve()
    wall = time.perf_counter() - t0
    stage1 = result.stages[0]
    return {
        "compare": compare,
        "path": "old" if old else "level search",
        "status": result.status,
        "gap": result.gap,
        "objective": result.objective,
        "min_rate": stage1.objective,
        "min_rate_bound": stage1.bound,
        "stage1_s": stage1.seconds,
        "stage2_s": result.stages[1].seconds if len(result.stages) > 1 else None,
        "stage2_status": result.stages[1].status if len(result.stages) > 1 else None,
        "stage2_message": result.stages[1].message if len(result.stages) > 1 else None,
        "stage2_gap": result.stages[1].gap if len(result.stages) > 1 else None,
        "stage2_bound": result.stages[1].bound if len(result.stages) > 1 else None,
        "stage2_rounds": (result.stages[1].extra or {}).get("fix_and_optimise") if len(result.stages) > 1 else None,
        "stage2_full_solve": {
            k: (result.stages[1].extra or {}).get("full_solve", {}).get(k) for k in ("status", "objective", "bound")
        }
        if len(result.stages) > 1
        else None,
        "stage1_status": stage1.status,
        "stage1_message": stage1.message,
        "finish": (stage1.extra or {}).get("finish"),
        "probes": (stage1.extra or {}).get("probes"),
        "lagrangian": (stage1.extra or {}).get("lagrangian"),
        "lp_bound": (stage1.extra or {}).get("lp_bound"),
        "relaxations": (stage1.extra or {}).get("relaxations"),
        "first_solve": {
            k: (stage1.extra or {}).get("first_solve", {}).get(k) for k in ("status", "objective", "bound", "seconds")
        },
        "wall_s": wall,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    """Run every requested compare mode ``--repeat`` times and print the median wall time."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", nargs="+", default=["units", "group_vs_rest", "units_in_group"])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--old", action="store_true", help="stage 1 by branch and bound on max t (as before)")
    parser.add_argument("--json", type=Path, help="append one JSON line per run")
    args = parser.parse_args()
    print(
        f"{'compare':<16}{'path':<13}{'status':<10}{'gap':>9}{'min rate':>11}{'objective':>16}"
        f"{'wall s':>9}{'load':>6}   before"
    )
    for compare in args.compare:
        runs = []
        for _ in range(args.repeat):
            run = one_run(compare, args.old)
            runs.append(run)
            if args.json:
                with args.json.open("a") as fh:
                    fh.write(json.dumps(run, default=str) + "\n")
        wall = statistics.median(r["wall_s"] for r in runs)
        r = runs[-1]
        before = BEFORE.get(compare)
        before_s = f"{before[0]:.0f} s, {before[1]}, gap {before[2]:.2%}" if before else "not measured"
        print(
            f"{compare:<16}{r['path']:<13}{r['status']:<10}{(r['gap'] or 0):>9.3%}{r['min_rate']:>11.5f}"
            f"{r['objective']:>16,.1f}{wall:>9.1f}{r['load']:>6.1f}   {before_s}",
            flush=True,
        )


if __name__ == "__main__":
    main()
