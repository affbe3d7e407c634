"""regionopt vs spopt 0.7 on MCLP, p-median, LSCP and p-center, same data, same MIP solver (HiGHS or CBC).

Usage (from the repository root, with the [bench] extra installed)::

    .venv/bin/python benchmarks/vs_spopt.py MODEL [--solver highs|cbc|both] [--time-limit S] [--repeat 3]
        MODEL: mclp | pmedian | lscp | pcenter | all
    # a different size of the same recipe (reported as such; the defaults are the documented instances):
    .venv/bin/python benchmarks/vs_spopt.py lscp --n-demand 1000 --n-sites 200 --radius 12

Data (identical for both libraries, drawn in this order, one fresh
``default_rng(0)`` per instance)::

    rng = np.random.default_rng(0)
    demand_xy = rng.uniform(0, 100, size=(n_demand, 2))   # n_demand points in a 100 x 100 square
    site_xy   = rng.uniform(0, 100, size=(n_sites, 2))
    weights   = rng.integers(1, 1001, size=n_demand)      # integers 1..1000 (MCLP, p-median only)
    cost      = scipy.spatial.distance.cdist(demand_xy, site_xy)   # Euclidean

Instances (``INSTANCES`` below; the same for both solvers):

=========  =================  =====  ======  ==================================================
model      demand x sites     p      radius  spopt call (regionopt: the same call)
=========  =================  =====  ======  ==================================================
mclp       2000 x 500         40     8       ``MCLP.from_cost_matrix(cost, weights, service_radius=8, p_facilities=40)``
pmedian    500 x 100          10     -       ``PMedian.from_cost_matrix(cost, weights, p_facilities=10)``
lscp       1000 x 100         -      20      ``LSCP.from_cost_matrix(cost, service_radius=20)``
pcenter    200 x 50           5      -       ``PCenter.from_cost_matrix(cost, p_facilities=5)``
=========  =================  =====  ======  ==================================================

The LSCP instance is the covering stage of the LSCP-B benchmark in
``vs_spopt_more.py`` (same recipe and size). A harder size, 2000 x 500 with
radius 10, was measured as well (``--n-demand 2000 --n-sites 500 --radius
10``); benchmarks/README.md reports both.

Objectives compared (spopt's own conventions, which regionopt follows):
MCLP the covered weight ``sum w_i z_i``; p-median ``sum w_i d_ij x_ij``;
LSCP the number of open facilities; p-center the largest client-to-facility
distance ``W``. spopt's value is ``pulp.value(model.problem.objective)``;
equal means within 1e-6 relative (LSCP: the same integer).

Solvers. spopt: ``pulp.HiGHS(msg=False, timeLimit=T)`` or
``pulp.PULP_CBC_CMD(msg=False, timeLimit=T)`` — each solver's defaults
otherwise (HiGHS' relative gap 1e-4, CBC's 0; one thread). regionopt:
``model.solve("highs" | "cbc", time_limit=T)`` with gap 0 (HiGHS through its
bulk ``passModel``, CBC through PuLP's CBC binary and an MPS file, one
thread, like spopt). regionopt's reductions that run while building (MCLP's
LP relaxation and probing, p-center's covering LPs) use HiGHS' LP solver
whatever MIP solver is chosen; that time is in regionopt's "build".

Timing. Wall time of build + solve in this process. Each repetition builds
and solves both libraries afresh, regionopt first; the medians of the
repetitions are compared. The 1-minute load average (``os.getloadavg``) is
recorded before and after. A library stopped by the time limit T is reported
as "did not finish in T s" (its plan, if any, and status are still shown);
the ratio is then a lower bound. One JSON line per (model, solver) is
appended to ``benchmarks/results/vs_spopt.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

RESULTS = Path(__file__).parent / "results" / "vs_spopt.jsonl"
MODELS = ("mclp", "pmedian", "lscp", "pcenter")


@dataclass(frozen=True)
class Instance:
    """One benchmark instance: the recipe's sizes and the model's parameters."""

    kind: str
    n_demand: int
    n_sites: int
    p: int | None = None
    radius: float | None = None

    @property
    def label(self) -> str:
        names = {"mclp": "MCLP", "pmedian": "p-median", "lscp": "LSCP", "pcenter": "p-center"}
        text = f"{names[self.kind]} {self.n_demand}x{self.n_sites}"
        if self.p is not None:
            text += f" p={self.p}"
        if self.radius is not None:
            text += f" r={self.radius:g}"
        return text


INSTANCES = {
    "mclp": Instance("mclp", 2000, 500, p=40, radius=8.0),
    "pmedian": Instance("pmedian", 500, 100, p=10),
    "lscp": Instance("lscp", 1000, 100, radius=20.0),
    "pcenter": Instance("pcenter", 200, 50, p=5),
}
DEFAULT_TIME_LIMIT = 600.0


def data(n_demand: int, n_sites: int) -> tuple[np.ndarray, np.ndarray]:
    """The documented recipe: Euclidean costs and integer weights from ``default_rng(0)``."""
    rng = np.random.default_rng(0)
    demand_xy = rng.uniform(0, 100, size=(n_demand, 2))
    site_xy = rng.uniform(0, 100, size=(n_sites, 2))
    weights = rng.integers(1, 1001, size=n_demand)
    return cdist(demand_xy, site_xy), weights


def _build(classes: dict[str, Any], inst: Instance, cost: np.ndarray, weights: np.ndarray) -> Any:
    """The same constructor call for both libraries (regionopt follows spopt's signatures)."""
    cls = classes[inst.kind]
    if inst.kind == "mclp":
        return cls.from_cost_matrix(cost, weights, service_radius=inst.radius, p_facilities=inst.p)
    if inst.kind == "pmedian":
        return cls.from_cost_matrix(cost, weights, p_facilities=inst.p)
    if inst.kind == "lscp":
        return cls.from_cost_matrix(cost, service_radius=inst.radius)
    return cls.from_cost_matrix(cost, p_facilities=inst.p)


_CBC_RESULT = re.compile(r"Result - (.+)")
_CBC_GAP = re.compile(r"Gap:\s+(\S+)")


def _spopt_solver(solver: str, time_limit: float, log_path: str) -> Any:
    import pulp

    if solver == "highs":
        return pulp.HiGHS(msg=False, timeLimit=time_limit)
    # logPath only captures CBC's log (to read its "Result -" line); it changes nothing in the solve.
    return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, logPath=log_path)


def _spopt_outcome(model: Any, solver: str, log_path: str) -> tuple[str, float | None, float | None]:
    """(status, objective, gap) of a solved spopt model, from the solver's own report."""
    import pulp

    problem = model.problem
    if solver == "highs":
        h = problem.solverModel
        status = h.modelStatusToString(h.getModelStatus())
        info = h.getInfo()
        has_plan = info.primal_solution_status == 2
        gap = info.mip_gap if has_plan else None
    else:
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            log = fh.read()
        status = ((_CBC_RESULT.findall(log) or [pulp.LpStatus[problem.status]])[-1]).strip()
        has_plan = problem.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
        gaps = _CBC_GAP.findall(log)
        gap = float(gaps[-1]) if gaps and has_plan else (0.0 if status.startswith("Optimal") else None)
    objective = pulp.value(problem.objective) if has_plan else None
    return status, objective, gap


def run_spopt(inst: Instance, solver: str, cost: np.ndarray, weights: np.ndarray, time_limit: float) -> dict:
    """Build and solve ``inst`` with spopt 0.7 and ``solver``; times and the solver's own outcome."""
    from spopt.locate import LSCP, MCLP, PCenter, PMedian

    classes = {"mclp": MCLP, "pmedian": PMedian, "lscp": LSCP, "pcenter": PCenter}
    fd, log_path = tempfile.mkstemp(prefix="vs-spopt-cbc-", suffix=".log")
    os.close(fd)
    try:
        t0 = time.perf_counter()
        model = _build(classes, inst, cost, weights)
        t1 = time.perf_counter()
        try:
            model.solve(_spopt_solver(solver, time_limit, log_path))
            error = None
        except Exception as exc:  # noqa: BLE001 - spopt raises on any non-optimal stop; report it
            error = f"{type(exc).__name__}: {exc}"
        t2 = time.perf_counter()
        status, objective, gap = _spopt_outcome(model, solver, log_path)
    finally:
        os.unlink(log_path)
    finished = status.lower().startswith("optimal") and error is None
    return {
        "library": "spopt",
        "objective": objective,
        "status": status,
        "finished": finished,
        "gap": gap,
        "build_s": t1 - t0,
        "solve_s": t2 - t1,
        "total_s": t2 - t0,
        "error": error,
    }


def run_regionopt(inst: Instance, solver: str, cost: np.ndarray, weights: np.ndarray, time_limit: float) -> dict:
    """Build and solve ``inst`` with regionopt and ``solver``; times, status, gap and the model's stats."""
    from optimizer.locate.coverage import LSCP, MCLP
    from optimizer.locate.p_center import PCenter
    from optimizer.locate.p_median import PMedian

    classes = {"mclp": MCLP, "pmedian": PMedian, "lscp": LSCP, "pcenter": PCenter}
    t0 = time.perf_counter()
    model = _build(classes, inst, cost, weights)
    t1 = time.perf_counter()
    model.solve(solver, time_limit=time_limit)
    t2 = time.perf_counter()
    return {
        "library": "regionopt",
        "objective": model.objective,
        "status": model.status,
        "finished": model.status == "optimal",
        "gap": model.gap,
        "build_s": t1 - t0,
        "solve_s": t2 - t1,
        "total_s": t2 - t0,
        "stats": model.stats,
    }


def _median(values: list[float]) -> float:
    return float(np.median(np.asarray(values, dtype=float)))


def _same(kind: str, ours: dict, theirs: dict) -> bool:
    a, b = ours["objective"], theirs["objective"]
    if a is None or b is None:
        return False
    if kind == "lscp":
        return round(a) == round(b)
    return abs(a - b) <= 1e-6 * max(1.0, abs(a))


def _print_runs(inst: Instance, solver: str, runs: list[tuple[dict, dict]], time_limit: float, load: tuple) -> None:
    print(
        f"\n{inst.label}, {solver.upper()}  (time limit {time_limit:g} s each; {len(runs)} repetitions; "
        f"load average {load[0]:.2f} before, {load[1]:.2f} after)"
    )
    print(f"{'':4}{'':12}{'objective':>16}{'status':>28}{'gap':>10}{'build s':>10}{'solve s':>10}{'total s':>10}")
    for rep, pair in enumerate(runs, start=1):
        for r in pair:
            obj = "-" if r["objective"] is None else f"{r['objective']:.4f}"
            gap = "-" if r["gap"] is None else f"{r['gap']:.2e}"
            print(
                f"{rep:<4}{r['library']:12}{obj:>16}{r['status'][:27]:>28}{gap:>10}{r['build_s']:>10.2f}"
                f"{r['solve_s']:>10.2f}{r['total_s']:>10.2f}"
            )
            if r.get("error"):
                print(f"{'':16}{r['error'][:110]}")


def compare(inst: Instance, solver: str, time_limit: float, repeat: int) -> dict:
    """Run ``repeat`` repetitions of both libraries on ``inst`` with ``solver``; print and append the result."""
    cost, weights = data(inst.n_demand, inst.n_sites)
    load_before = os.getloadavg()[0]
    runs = []
    for _ in range(repeat):
        ours = run_regionopt(inst, solver, cost, weights, time_limit)
        theirs = run_spopt(inst, solver, cost, weights, time_limit)
        runs.append((ours, theirs))
    load_after = os.getloadavg()[0]
    _print_runs(inst, solver, runs, time_limit, (load_before, load_after))
    all_same = all(_same(inst.kind, o, t) for o, t in runs)
    finished = {lib: all(pair[i]["finished"] for pair in runs) for i, lib in enumerate(("regionopt", "spopt"))}
    medians = {
        lib: {key: _median([pair[i][key] for pair in runs]) for key in ("build_s", "solve_s", "total_s")}
        for i, lib in enumerate(("regionopt", "spopt"))
    }
    ratio = medians["spopt"]["total_s"] / medians["regionopt"]["total_s"]
    for lib in ("regionopt", "spopt"):
        m = medians[lib]
        print(
            f"{'med':4}{lib:12}{'':>16}{'':>28}{'':>10}{m['build_s']:>10.2f}{m['solve_s']:>10.2f}{m['total_s']:>10.2f}"
        )
    note = "" if finished["spopt"] else f"  (spopt did not finish in {time_limit:g} s: the ratio is a lower bound)"
    if not finished["regionopt"]:
        note += f"  (regionopt did not finish in {time_limit:g} s)"
    print(f"same objective in every repetition: {all_same};  median spopt / median regionopt = {ratio:.1f}x{note}")
    record = {
        "benchmark": inst.label,
        "model": inst.kind,
        "instance": {"n_demand": inst.n_demand, "n_sites": inst.n_sites, "p": inst.p, "radius": inst.radius},
        "solver": solver,
        "time_limit": time_limit,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "repeat": repeat,
        "load_before": load_before,
        "load_after": load_after,
        "runs": [{"regionopt": o, "spopt": t} for o, t in runs],
        "median": medians,
        "same_objective": all_same,
        "finished": finished,
        "speedup": ratio,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps(record, default=float) + "\n")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=[*MODELS, "all"])
    parser.add_argument("--solver", choices=["highs", "cbc", "both"], default="both")
    parser.add_argument(
        "--time-limit", type=float, default=DEFAULT_TIME_LIMIT, help="seconds per library and solve (default 600)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of both libraries (default 3)")
    parser.add_argument("--n-demand", type=int, help="override the instance's number of demand points")
    parser.add_argument("--n-sites", type=int, help="override the instance's number of sites")
    parser.add_argument("--p", type=int, help="override p (MCLP, p-median, p-center)")
    parser.add_argument("--radius", type=float, help="override the service radius (MCLP, LSCP)")
    args = parser.parse_args()
    solvers = ["highs", "cbc"] if args.solver == "both" else [args.solver]
    for kind in MODELS if args.which == "all" else (args.which,):
        inst = INSTANCES[kind]
        overrides = {
            "n_demand": args.n_demand,
            "n_sites": args.n_sites,
            "p": args.p if inst.p is not None else None,
            "radius": args.radius if inst.radius is not None else None,
        }
        inst = replace(inst, **{k: v for k, v in overrides.items() if v is not None})
        for solver in solvers:
            compare(inst, solver, args.time_limit, max(1, args.repeat))


if __name__ == "__main__":
    main()
