"""regionopt vs spopt 0.7 on the same data, same solver (HiGHS through PuLP for both).

Usage (from the repository root, with the [bench] extra installed)::

    .venv/bin/python benchmarks/vs_spopt.py mclp   [--time-limit 1200]
    .venv/bin/python benchmarks/vs_spopt.py pmedian [--time-limit 200]
    .venv/bin/python benchmarks/vs_spopt.py all

Data (identical for both libraries, drawn in this order)::

    rng = np.random.default_rng(0)
    demand_xy = rng.uniform(0, 100, size=(n_demand, 2))   # n_demand points in a 100 x 100 square
    site_xy   = rng.uniform(0, 100, size=(n_sites, 2))
    weights   = rng.integers(1, 1001, size=n_demand)      # integers 1..1000
    cost      = scipy.spatial.distance.cdist(demand_xy, site_xy)   # Euclidean

MCLP: 2,000 demand points x 500 sites, p = 40, radius 8. p-median: 500 x 100,
p = 10, the same recipe with its own ``default_rng(0)``. Times are wall time
of build + solve in this process; each library solves with HiGHS 1.16
(spopt: ``pulp.HiGHS(msg=False, timeLimit=...)``; regionopt: its own bulk
transfer into highspy). Results are printed side by side and appended as one
JSON line per run to ``benchmarks/results/vs_spopt.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist

RESULTS = Path(__file__).parent / "results" / "vs_spopt.jsonl"


def data(n_demand: int, n_sites: int):
    rng = np.random.default_rng(0)
    demand_xy = rng.uniform(0, 100, size=(n_demand, 2))
    site_xy = rng.uniform(0, 100, size=(n_sites, 2))
    weights = rng.integers(1, 1001, size=n_demand)
    return cdist(demand_xy, site_xy), weights


def run_spopt(kind: str, cost, weights, p: int, radius: float | None, time_limit: float) -> dict:
    import pulp
    from spopt.locate import MCLP, PMedian

    t0 = time.perf_counter()
    if kind == "mclp":
        model = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=p)
    else:
        model = PMedian.from_cost_matrix(cost, weights, p_facilities=p)
    t1 = time.perf_counter()
    solver = pulp.HiGHS(msg=False, timeLimit=time_limit)
    try:
        model.solve(solver)
        error = None
    except Exception as exc:  # noqa: BLE001 - spopt raises on any non-optimal stop; report it
        error = f"{type(exc).__name__}: {exc}"
    t2 = time.perf_counter()
    h = model.problem.solverModel
    status = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    objective = pulp.value(model.problem.objective) if info.primal_solution_status == 2 else None
    gap = info.mip_gap if objective is not None else None
    return {"library": "spopt", "objective": objective, "status": status, "gap": gap, "build_s": t1 - t0,
            "solve_s": t2 - t1, "total_s": t2 - t0, "error": error}


def run_regionopt(kind: str, cost, weights, p: int, radius: float | None, time_limit: float) -> dict:
    from optimizer.locate import MCLP, PMedian

    t0 = time.perf_counter()
    if kind == "mclp":
        model = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=p)
    else:
        model = PMedian.from_cost_matrix(cost, weights, p_facilities=p)
    t1 = time.perf_counter()
    model.solve("highs", time_limit=time_limit)
    t2 = time.perf_counter()
    return {"library": "regionopt", "objective": model.objective, "status": model.status, "gap": model.gap,
            "build_s": t1 - t0, "solve_s": t2 - t1, "total_s": t2 - t0, "stats": model.stats}


def compare(kind: str, time_limit: float) -> None:
    if kind == "mclp":
        cost, weights = data(2000, 500)
        p, radius, label = 40, 8.0, "MCLP 2000x500 p=40 r=8"
    else:
        cost, weights = data(500, 100)
        p, radius, label = 10, None, "p-median 500x100 p=10"
    ours = run_regionopt(kind, cost, weights, p, radius, time_limit)
    theirs = run_spopt(kind, cost, weights, p, radius, time_limit)
    print(f"\n{label}  (time limit {time_limit:g} s each)")
    print(f"{'':12}{'objective':>16}{'status':>20}{'gap':>10}{'build s':>10}{'solve s':>10}{'total s':>10}")
    for r in (ours, theirs):
        obj = "-" if r["objective"] is None else f"{r['objective']:.3f}"
        gap = "-" if r["gap"] is None else f"{r['gap']:.2e}"
        print(f"{r['library']:12}{obj:>16}{r['status']:>20}{gap:>10}{r['build_s']:>10.2f}{r['solve_s']:>10.2f}"
              f"{r['total_s']:>10.2f}")
    same = ours["objective"] is not None and theirs["objective"] is not None and \
        abs(ours["objective"] - theirs["objective"]) <= 1e-6 * max(1.0, abs(ours["objective"]))
    ratio = theirs["total_s"] / ours["total_s"]
    print(f"same objective: {same};  spopt total / regionopt total = {ratio:.1f}x")
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps({"benchmark": label, "time_limit": time_limit, "machine": platform.machine(),
                             "cpus": __import__("os").cpu_count(), "regionopt": ours, "spopt": theirs,
                             "same_objective": same, "speedup": ratio}, default=float) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["mclp", "pmedian", "all"])
    parser.add_argument("--time-limit", type=float, default=None,
                        help="per library and model (default: 1200 s for MCLP, 200 s for p-median)")
    args = parser.parse_args()
    for kind in (["mclp", "pmedian"] if args.which == "all" else [args.which]):
        compare(kind, args.time_limit or (1200.0 if kind == "mclp" else 200.0))


if __name__ == "__main__":
    main()
