"""Equity stage 2 alone on the shipped Zhejiang default: the fix-and-optimise solve against the LP-guided one.

Loads ``configs/zhejiang.yaml`` with ``objective.kind: equity`` and the given
``compare`` mode, builds the model, runs a short stage 1 (branch and bound on
max t for ``--stage1`` seconds) for a plan and its level ``t*`` — or, with
``--stage1-plan FILE``, the product's own stage 1
(:func:`optimizer.planning.equity_bound.solve_stage1`, the scenario's time
limit), its level and sites written to FILE, or read from it if it exists, so
that two versions of the code start stage 2 from the same plan — adds the hold
row ``t >= t* - tolerance`` and the main objective exactly as
``PlanningModel.solve`` does, and then times each requested stage-2 solver on
that same problem (``lns``: :func:`optimizer.planning.equity_lns.solve_stage2`
as today; ``lp``: :func:`optimizer.planning.lp_plan.solve_lp_guided`).
Prints plan, bound, gap, wall and CPU seconds and the
1-minute load at start and end of each.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/equity_stage2.py [--compare units_in_group] [--stage1 60]
        [--stage1-plan FILE] [--limit 300] [--solvers lns lp] [--json FILE] [--label TEXT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pulp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _scenarios import equity_scenario  # noqa: E402

from optimizer.planning import PlanningModel, equity_lns  # noqa: E402
from optimizer.planning.equity_bound import solve_stage1  # noqa: E402
from optimizer.planning.lp_plan import solve_lp_guided  # noqa: E402
from optimizer.solvers import solve_problem  # noqa: E402


def main() -> None:
    """Build the model, a short stage 1, the hold row; then each stage-2 solver on the same problem."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", default="units_in_group")
    parser.add_argument("--stage1", type=float, default=60.0)
    parser.add_argument("--limit", type=float, default=300.0)
    parser.add_argument("--solvers", nargs="+", choices=["lns", "lp"], default=["lns", "lp"])
    parser.add_argument("--stage1-plan", type=Path, help="the product's stage 1, kept in (or read from) this file")
    parser.add_argument("--json", type=Path, help="append one JSON line per solver")
    parser.add_argument("--label", default="", help="written into each JSON line (e.g. the commit)")
    args = parser.parse_args()
    scenario = equity_scenario(args.compare)
    model = PlanningModel(scenario)
    prob = model.problem
    options = scenario.solver_options
    if args.stage1_plan is not None:
        stage1 = _product_stage1(model, args.stage1_plan)
        t_star, stage1_s = stage1["t_star"], stage1["seconds"]
        model.t.varValue = t_star
        sites = {v.name for ys in model.y.values() for v in ys}
        chosen = set(stage1["sites"])
        stage1_plan = {name: float(name in chosen) for name in sites}
        model._begin_equity_stage2(prob)  # the hold row and objective exactly as PlanningModel.solve
        print(f"stage 1 (product, {args.stage1_plan}): {stage1['status']} t*={t_star:.7f} in {stage1_s:.1f} s")
    else:
        first = solve_problem(prob, replace(options, time_limit=args.stage1))
        t_star, stage1_s = float(model.t.varValue or 0.0), first.seconds
        stage1_plan = model._begin_equity_stage2(prob)  # the hold row and objective exactly as PlanningModel.solve
        print(f"stage 1: {first.status} t*={t_star:.5f} bound={first.bound} in {first.seconds:.1f} s", flush=True)
    for name in args.solvers:
        for v in prob.variables():
            v.varValue = stage1_plan.get(v.name)
        stage2 = replace(options, time_limit=args.limit)
        load0, c0, t0 = os.getloadavg()[0], time.process_time(), time.perf_counter()
        if name == "lns":
            report = equity_lns.solve_stage2(model, stage1_plan, stage2)
        else:
            report = solve_lp_guided(model, stage2)
        out = {
            "compare": args.compare,
            "solver": name,
            "t_star": t_star,
            "stage1_s": stage1_s,
            "label": args.label,
            "status": report.status,
            "plan": report.objective,
            "plan_check": pulp.value(model.main_objective),
            "bound": report.bound,
            "gap": report.gap,
            "seconds": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            "load_start": load0,
            "load_end": os.getloadavg()[0],
            "message": report.message,
            "extra": {k: v for k, v in (report.extra or {}).items() if k in ("lp_plan", "fix_and_optimise", "floor")},
        }
        print(json.dumps(out, default=str), flush=True)
        if args.json:
            with args.json.open("a") as fh:
                fh.write(json.dumps(out, default=str) + "\n")


def _product_stage1(model: PlanningModel, path: Path) -> dict:
    """The product's stage 1 (level, status, seconds, the sites it opens), read from ``path`` or solved into it."""
    if path.exists():
        return json.loads(path.read_text())
    report = solve_stage1(model, model.scenario.solver_options)
    sites = [v.name for ys in model.y.values() for v in ys if (v.varValue or 0.0) > 0.5]
    out = {"t_star": float(model.t.varValue or 0.0), "status": report.status, "seconds": report.seconds, "sites": sites}
    path.write_text(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
