"""Every planning objective on the shipped Zhejiang default: status, proven gap and wall time (issue 14).

Each run is a fresh Python process's work in this one process, timed end to
end: load ``configs/zhejiang.yaml`` with only the objective changed, build the
planning model, solve it (both stages for equity), through the Python API.
The goal (issue 14) is "proven optimal at the scenario's ``mip_gap`` within
60 s end to end on 2 cores".

``min_cost`` needs ``objective.coverage_targets``, which the default has not.
The recipe here: solve the default ``coverage`` objective first (not timed),
take each facility type's province-wide "after" coverage share of that plan,
round it down to 0.01, and ask ``min_cost`` for those shares. The coverage
plan meets them within the budget, so the targets are feasible by
construction; min_cost then looks for the cheapest plan that reaches them.

Usage::

    .venv/bin/python benchmarks/every_objective.py [--kinds coverage attendance access min_cost
        equity:units equity:group_vs_rest equity:units_in_group] [--repeat 1] [--mip-gap GAP] [--solver-log]
        [--lp-guided on|off] [--json FILE]

``equity:<compare>`` sets ``objective.equity.compare`` (``group_vs_rest`` and
``units_in_group`` compare the config's group, ``mountain26``, the 26 mountain
counties). ``--mip-gap`` overrides ``solver.mip_gap`` (e.g. ``0`` for proven
optimal); the time limit stays the scenario's. ``--solver-log`` sets
``solver.msg`` so the solver's log goes to standard output. ``--lp-guided
on|off`` sets ``PlanningModel.lp_guided`` (default: the model's own choice,
``lp_plan.lp_guided_pays``).

One JSON line per run goes to ``--json`` (default
``benchmarks/results/every_objective.jsonl``), with the 1-minute load average
before and after.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _scenarios import equity_changes  # noqa: E402

from optimizer.planning import PlanningModel  # noqa: E402
from optimizer.scenario import load_scenario  # noqa: E402

DEFAULT_KINDS = ["coverage", "attendance", "access", "min_cost", "equity:units"]
RESULTS = ROOT / "benchmarks" / "results" / "every_objective.jsonl"


def _changes(kind: str) -> dict[str, Any]:
    """Scenario overrides of one benchmark kind (``equity:<compare>`` names the compare mode)."""
    name, _, compare = kind.partition(":")
    if name == "equity":
        return equity_changes(compare or "units")
    return {"objective.kind": name}


def min_cost_targets() -> dict[str, float]:
    """Province-wide share per type reached by the default's coverage plan, rounded down to 0.01."""
    scenario = load_scenario(ROOT / "configs" / "zhejiang.yaml")
    result = PlanningModel(scenario).solve()
    table = result.coverage_table()
    after = table[table["state"] == "after"]
    top = after[after["level"] == _top_level(after)]  # its units partition the province
    by_type = top.groupby("facility_type")[["covered", "population"]].sum()
    return {t: math.floor(100 * row.covered / row.population) / 100 for t, row in by_type.iterrows() if row.population}


def _top_level(after: Any) -> str:
    """The admin level with the most population per unit: the province, or the cities that partition it."""
    per_unit = after.groupby("level")["population"].mean()
    return str(per_unit.idxmax())


def _plain(value: Any) -> float | str:
    """A number for what JSON cannot write (numpy scalars), else its text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def one_run(
    kind: str,
    targets: dict[str, float] | None,
    mip_gap: float | None = None,
    solver_log: bool = False,
    lp_guided: bool | None = None,
) -> dict[str, Any]:
    """Load, build and solve once; the figures of the run (``mip_gap`` overrides the scenario's)."""
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    changes = _changes(kind)
    if kind == "min_cost":
        changes["objective.coverage_targets"] = targets
    if mip_gap is not None:
        changes["solver.mip_gap"] = mip_gap
    if solver_log:
        changes["solver.msg"] = True
    scenario = load_scenario(ROOT / "configs" / "zhejiang.yaml").replace(**changes)
    model = PlanningModel(scenario)
    model.lp_guided = lp_guided
    t1 = time.perf_counter()
    result = model.solve()
    wall = time.perf_counter() - t0
    return {
        "kind": kind,
        "status": result.status,
        "gap": result.gap,
        "objective": result.objective,
        "load_build_s": t1 - t0,
        "solve_s": wall - (t1 - t0),
        "wall_s": wall,
        "stages": [
            {
                "status": s.status,
                "objective": s.objective,
                "bound": s.bound,
                "seconds": s.seconds,
                "message": s.message,
                "extra": s.extra,
            }
            for s in getattr(result, "stages", None) or []
        ],
        "targets": targets if kind == "min_cost" else None,
        "mip_gap": scenario.solver.mip_gap,
        "lp_guided": lp_guided,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }


def main() -> None:
    """Run every requested objective ``--repeat`` times; print one table row per objective (median wall)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", nargs="+", default=DEFAULT_KINDS)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--mip-gap", type=float, default=None, help="override solver.mip_gap (e.g. 0)")
    parser.add_argument("--solver-log", action="store_true", help="print the solver's log (solver.msg)")
    parser.add_argument("--lp-guided", choices=["on", "off"], help="set PlanningModel.lp_guided")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    targets = min_cost_targets() if "min_cost" in args.kinds else None
    if targets is not None:
        print("min_cost targets (coverage plan's province shares, rounded down):", targets)
    print("| objective | status | proven gap | solve s | wall s | load before → after |")
    print("|---|---|---|---|---|---|")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    for kind in args.kinds:
        runs = []
        for _ in range(args.repeat):
            guided = None if args.lp_guided is None else args.lp_guided == "on"
            run = one_run(kind, targets, args.mip_gap, args.solver_log, guided)
            runs.append(run)
            with args.json.open("a") as fh:
                fh.write(json.dumps(run, default=_plain) + "\n")
        med = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
        gap = "n/a" if med["gap"] is None else f"{100 * med['gap']:.3g} %"
        walls = ", ".join(f"{r['wall_s']:.1f}" for r in runs)
        print(
            f"| `{kind}` | {med['status']} | {gap} | {med['solve_s']:.1f} | "
            f"{statistics.median(r['wall_s'] for r in runs):.1f} ({walls}) | "
            f"{med['load_before']:.1f} → {med['load_after']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
