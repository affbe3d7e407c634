"""Benchmark: the shipped phased scenario (configs/zhejiang-2035.yaml) proven within its MIP gap.

Run from the repository root::

    .venv/bin/python benchmarks/phased_zhejiang.py [--config configs/zhejiang-2035.yaml] [--no-static]

Builds and solves :class:`optimizer.phased.PhasedPlanningModel` in this
process and prints one JSON record: wall seconds of each stage (load,
prepare, build, solve, static comparison), the solve status, the proven gap
against the scenario's ``solver.mip_gap``, the model size and the peak RSS.
The target (issue 17) is the ten-year horizon proven within the scenario's
gap in at most 10 minutes. The record is also written to
``benchmarks/results/phased_zhejiang.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optimizer.planning.phased import PhasedPlanningModel  # noqa: E402 (after sys.path: runs as a script)
from optimizer.scenario import load_scenario  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "zhejiang-2035.yaml")
    parser.add_argument("--no-static", action="store_true", help="skip the static comparison")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "phased_zhejiang.json")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    scenario = load_scenario(args.config)
    t_load = time.perf_counter() - t0
    model = PhasedPlanningModel(scenario)
    model.prepare()
    prob = model.build()
    result = model.solve(compare_static=not args.no_static)
    wall = time.perf_counter() - t0
    record = {
        "config": str(args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config),
        "periods": [p.label for p in model.phases],
        "status": result.status,
        "gap": result.gap,
        "mip_gap_asked": scenario.solver.mip_gap,
        "time_limit": scenario.solver.time_limit,
        "objective": result.report.objective,
        "bound": result.report.bound,
        "seconds": {
            "load": round(t_load, 2),
            **{k: round(v, 2) for k, v in model.timings.items()},
            "total": round(wall, 2),
        },
        "model": {
            "rows": len(prob.constraints),
            "columns": len(prob.variables()),
            "binaries": sum(1 for v in prob.variables() if v.cat == "Integer"),
        },
        "builds": int((result.schedule["action"] == "build").sum()),
        "static": None if result.static is None else {k: v for k, v in result.static.items() if k != "table"},
        "solve_extra": {k: v for k, v in result.report.extra.items() if k != "transfer"},
        "load_average_1_5_15": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "target_met": bool(result.is_optimal and model.timings.get("solve", 1e9) <= 600),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(json.dumps(record, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
