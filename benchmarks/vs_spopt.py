"""regionopt vs spopt 0.7 on the same data, same solver (HiGHS through PuLP for both).

Usage (from the repository root, with the [bench] extra installed)::

    .venv/bin/python benchmarks/vs_spopt.py mclp   [--time-limit 1200] [--repeat 3]
    .venv/bin/python benchmarks/vs_spopt.py pmedian [--time-limit 200] [--repeat 3]
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
(spopt: ``pulp.HiGHS(msg=False, timeLimit=...)``, HiGHS' default relative gap
1e-4; regionopt: its own bulk transfer into highspy, gap 0). regionopt's
"build" includes all its reductions — for MCLP the LP relaxation, heuristics
and LP probing, which also run HiGHS (see ``optimizer.locate.MCLP``) — so
build + solve is the whole end-to-end cost.

Each repetition builds and solves both libraries afresh, regionopt first, in
this one process; the table shows every repetition and the medians, with the
1-minute load average (``os.getloadavg``) before and after. Results are
appended as one JSON line per model to ``benchmarks/results/vs_spopt.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
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


def _build(mclp, pmedian, kind: str, cost, weights, p: int, radius: float | None):
    """The same constructor call for both libraries (regionopt follows spopt's signatures)."""
    if kind == "mclp":
        return mclp.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=p)
    return pmedian.from_cost_matrix(cost, weights, p_facilities=p)


def run_spopt(kind: str, cost, weights, p: int, radius: float | None, time_limit: float) -> dict:
    import pulp
    from spopt.locate import MCLP, PMedian

    t0 = time.perf_counter()
    model = _build(MCLP, PMedian, kind, cost, weights, p, radius)
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
    return {
        "library": "spopt",
        "objective": objective,
        "status": status,
        "gap": gap,
        "build_s": t1 - t0,
        "solve_s": t2 - t1,
        "total_s": t2 - t0,
        "error": error,
    }


def run_regionopt(kind: str, cost, weights, p: int, radius: float | None, time_limit: float) -> dict:
    from optimizer.locate.coverage import MCLP
    from optimizer.locate.p_median import PMedian

    t0 = time.perf_counter()
    model = _build(MCLP, PMedian, kind, cost, weights, p, radius)
    t1 = time.perf_counter()
    model.solve("highs", time_limit=time_limit)
    t2 = time.perf_counter()
    return {
        "library": "regionopt",
        "objective": model.objective,
        "status": model.status,
        "gap": model.gap,
        "build_s": t1 - t0,
        "solve_s": t2 - t1,
        "total_s": t2 - t0,
        "stats": model.stats,
    }


def _median(values: list[float]) -> float:
    return float(np.median(np.asarray(values, dtype=float)))


def compare(kind: str, time_limit: float, repeat: int) -> None:
    if kind == "mclp":
        cost, weights = data(2000, 500)
        p, radius, label = 40, 8.0, "MCLP 2000x500 p=40 r=8"
    else:
        cost, weights = data(500, 100)
        p, radius, label = 10, None, "p-median 500x100 p=10"
    load_before = os.getloadavg()[0]
    runs = []
    for _ in range(repeat):
        ours = run_regionopt(kind, cost, weights, p, radius, time_limit)
        theirs = run_spopt(kind, cost, weights, p, radius, time_limit)
        runs.append((ours, theirs))
    load_after = os.getloadavg()[0]
    print(
        f"\n{label}  (time limit {time_limit:g} s each; {repeat} repetitions; "
        f"load average {load_before:.2f} before, {load_after:.2f} after)"
    )
    print(f"{'':4}{'':12}{'objective':>16}{'status':>20}{'gap':>10}{'build s':>10}{'solve s':>10}{'total s':>10}")
    for rep, pair in enumerate(runs, start=1):
        for r in pair:
            obj = "-" if r["objective"] is None else f"{r['objective']:.3f}"
            gap = "-" if r["gap"] is None else f"{r['gap']:.2e}"
            print(
                f"{rep:<4}{r['library']:12}{obj:>16}{r['status']:>20}{gap:>10}{r['build_s']:>10.2f}"
                f"{r['solve_s']:>10.2f}{r['total_s']:>10.2f}"
            )

    def same(ours: dict, theirs: dict) -> bool:
        return (
            ours["objective"] is not None
            and theirs["objective"] is not None
            and abs(ours["objective"] - theirs["objective"]) <= 1e-6 * max(1.0, abs(ours["objective"]))
        )

    all_same = all(same(o, t) for o, t in runs)
    medians = {
        lib: {key: _median([pair[i][key] for pair in runs]) for key in ("build_s", "solve_s", "total_s")}
        for i, lib in enumerate(("regionopt", "spopt"))
    }
    ratio = medians["spopt"]["total_s"] / medians["regionopt"]["total_s"]
    for lib in ("regionopt", "spopt"):
        m = medians[lib]
        print(
            f"{'med':4}{lib:12}{'':>16}{'':>20}{'':>10}{m['build_s']:>10.2f}{m['solve_s']:>10.2f}{m['total_s']:>10.2f}"
        )
    print(
        f"same objective in every repetition: {all_same};  median spopt total / median regionopt total = {ratio:.1f}x"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(
            json.dumps(
                {
                    "benchmark": label,
                    "time_limit": time_limit,
                    "machine": platform.machine(),
                    "cpus": os.cpu_count(),
                    "repeat": repeat,
                    "load_before": load_before,
                    "load_after": load_after,
                    "runs": [{"regionopt": o, "spopt": t} for o, t in runs],
                    "median": medians,
                    "same_objective": all_same,
                    "speedup": ratio,
                },
                default=float,
            )
            + "\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["mclp", "pmedian", "all"])
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="per library and model (default: 1200 s for MCLP, 200 s for p-median)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of both libraries (default 3)")
    args = parser.parse_args()
    for kind in ["mclp", "pmedian"] if args.which == "all" else [args.which]:
        compare(kind, args.time_limit or (1200.0 if kind == "mclp" else 200.0), max(1, args.repeat))


if __name__ == "__main__":
    main()
