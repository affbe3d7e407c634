"""regionopt's LSCP-B, p-dispersion and k-nearest p-median vs spopt 0.7 on the same data, both with HiGHS.

Usage (from the repository root, with the [bench] extra installed)::

    .venv/bin/python benchmarks/vs_spopt_more.py all [--time-limit 60] [--repeat 3]
    .venv/bin/python benchmarks/vs_spopt_more.py lscpb | pdispersion | knearest
    .venv/bin/python benchmarks/vs_spopt_more.py lscpb --n 2000 --m 200 --radius 20 --repeat 3

Data (identical for both libraries; ``rng = np.random.default_rng(0)`` per model)::

    LSCP-B     N demand points x M sites (default 1,000 x 100), uniform in a 100 x 100 square
               (demand drawn first, then sites), radius R (default 20); the instance must be
               coverable: every demand point within R of some site (else regionopt raises InfeasibleError).
               Instances documented in benchmarks/README.md: 1000 x 100 r 20 (the reference),
               2000 x 200 r 20, 2000 x 200 r 15, 5000 x 500 r 20.
    p-dispersion  40 sites uniform in the square, p = 5
    k-nearest p-median  400 demand points x 60 sites, weights 1..1000, p = 6, k = 3
               (GeoDataFrames in EPSG:32650, the only input spopt's KNearestPMedian takes)

Objectives compared: LSCP-B — spopt's value (which also counts demand points
with fewer than two sites in reach, see ``optimizer.locate_more.LSCPB``) vs
``LSCPB.spopt_objective``; p-dispersion — the smallest distance between open
sites; k-nearest p-median — the weighted distance of the plan (spopt's, which
without opening rows (#419) may exceed the true optimum, vs regionopt's proven
optimum). spopt solves with ``pulp.HiGHS(msg=False, timeLimit=...)`` (HiGHS'
default gap 1e-4), regionopt with its bulk HiGHS transfer and gap 0. Times are
wall time of build + solve in this process. One JSON line per model is appended
to ``benchmarks/results/vs_spopt_more.jsonl``.
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

RESULTS = Path(__file__).parent / "results" / "vs_spopt_more.jsonl"


def _points(n: int, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(0, 100, size=(n, 2)), rng.uniform(0, 100, size=(m, 2))


def _gdfs(dxy: np.ndarray, fxy: np.ndarray, weights: np.ndarray):
    import geopandas as gpd

    dem = gpd.GeoDataFrame(
        {"w": weights.astype(float)}, geometry=gpd.points_from_xy(dxy[:, 0], dxy[:, 1]), crs="EPSG:32650"
    )
    fac = gpd.GeoDataFrame(geometry=gpd.points_from_xy(fxy[:, 0], fxy[:, 1]), crs="EPSG:32650")
    return dem, fac


def _spopt_result(model, t0: float, t1: float, error: str | None) -> dict:
    import pulp

    t2 = time.perf_counter()
    h = getattr(model.problem, "solverModel", None)
    status = h.modelStatusToString(h.getModelStatus()) if h is not None else "unknown"
    value = pulp.value(model.problem.objective) if model.problem.objective is not None else None
    return {
        "library": "spopt",
        "objective": value,
        "status": status,
        "build_s": t1 - t0,
        "solve_s": t2 - t1,
        "total_s": t2 - t0,
        "error": error,
    }


# LSCP-B instance (set by --n --m --radius).
LSCPB_SIZE = {"n": 1000, "m": 100, "radius": 20.0}


def bench_lscpb(time_limit: float) -> tuple[str, dict, dict]:
    import pulp
    from spopt.locate import LSCPB as SpLSCPB

    from optimizer.locate.backup_coverage import LSCPB

    n, m, radius = int(LSCPB_SIZE["n"]), int(LSCPB_SIZE["m"]), float(LSCPB_SIZE["radius"])
    rng = np.random.default_rng(0)
    dxy, fxy = _points(n, m, rng)
    cost = cdist(dxy, fxy)
    t0 = time.perf_counter()
    ours = LSCPB.from_cost_matrix(cost, radius)
    t1 = time.perf_counter()
    ours.solve(time_limit=time_limit)
    t2 = time.perf_counter()
    mine = {
        "library": "regionopt",
        "objective": ours.spopt_objective,
        "backup_covered": ours.objective,
        "status": ours.status,
        "build_s": t1 - t0,
        "solve_s": t2 - t1,
        "total_s": t2 - t0,
        "stats": {k: v for k, v in ours.stats.items() if isinstance(v, (int, float, str))},
    }
    t0 = time.perf_counter()
    error = None
    solver = pulp.HiGHS(msg=False, timeLimit=time_limit)
    ref = SpLSCPB.from_cost_matrix(cost, radius, solver)  # spopt solves its LSCP stage while building
    t1 = time.perf_counter()
    try:
        ref.solve()
    except Exception as exc:  # noqa: BLE001 - spopt raises on any non-optimal stop; report it
        error = f"{type(exc).__name__}: {exc}"
    return f"LSCP-B {n}x{m} r={radius:g}", mine, _spopt_result(ref, t0, t1, error)


def bench_pdispersion(time_limit: float) -> tuple[str, dict, dict]:
    import pulp
    from spopt.locate import PDispersion as SpPDispersion

    from optimizer.locate.p_dispersion import PDispersion

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, size=(40, 2))
    d = cdist(xy, xy)
    t0 = time.perf_counter()
    ours = PDispersion.from_cost_matrix(d, 5)
    t1 = time.perf_counter()
    ours.solve(time_limit=time_limit)
    t2 = time.perf_counter()
    mine = {
        "library": "regionopt",
        "objective": ours.objective,
        "status": ours.status,
        "build_s": t1 - t0,
        "solve_s": t2 - t1,
        "total_s": t2 - t0,
        "stats": ours.stats,
    }
    t0 = time.perf_counter()
    ref = SpPDispersion.from_cost_matrix(d, 5)
    t1 = time.perf_counter()
    error = None
    try:
        ref.solve(pulp.HiGHS(msg=False, timeLimit=time_limit))
    except Exception as exc:  # noqa: BLE001
        error = f"{type(exc).__name__}: {exc}"
    return "p-dispersion 40 sites p=5", mine, _spopt_result(ref, t0, t1, error)


def bench_knearest(time_limit: float) -> tuple[str, dict, dict]:
    import pulp
    from spopt.locate import KNearestPMedian as SpKNearest

    from optimizer.locate.k_nearest_p_median import KNearestPMedian

    rng = np.random.default_rng(0)
    dxy, fxy = _points(400, 60, rng)
    w = rng.integers(1, 1001, size=400)
    dem, fac = _gdfs(dxy, fxy, w)
    t0 = time.perf_counter()
    ours = KNearestPMedian.from_geodataframe(dem, fac, "geometry", "geometry", "w", 6, k_array=3)
    t1 = time.perf_counter()
    ours.solve(time_limit=time_limit)
    t2 = time.perf_counter()
    mine = {
        "library": "regionopt",
        "objective": ours.objective,
        "status": ours.status,
        "build_s": t1 - t0,
        "solve_s": t2 - t1,
        "total_s": t2 - t0,
        "stats": ours.stats,
    }
    t0 = time.perf_counter()
    ref = SpKNearest.from_geodataframe(dem, fac, "geometry", "geometry", "w", 6, k_array=np.full(400, 3))
    t1 = time.perf_counter()
    error = None
    try:
        ref.solve(pulp.HiGHS(msg=False, timeLimit=time_limit))
    except Exception as exc:  # noqa: BLE001
        error = f"{type(exc).__name__}: {exc}"
    return "k-nearest p-median 400x60 p=6 k=3", mine, _spopt_result(ref, t0, t1, error)


BENCHES = {"lscpb": bench_lscpb, "pdispersion": bench_pdispersion, "knearest": bench_knearest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=[*BENCHES, "all"])
    parser.add_argument("--time-limit", type=float, default=60.0, help="per library and model (default 60 s)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per model; the median total of each is kept")
    parser.add_argument("--n", type=int, default=1000, help="LSCP-B: demand points (default 1000)")
    parser.add_argument("--m", type=int, default=100, help="LSCP-B: candidate sites (default 100)")
    parser.add_argument("--radius", type=float, default=20.0, help="LSCP-B: service radius (default 20)")
    args = parser.parse_args()
    LSCPB_SIZE.update(n=args.n, m=args.m, radius=args.radius)
    RESULTS.parent.mkdir(exist_ok=True)
    for name in list(BENCHES) if args.which == "all" else [args.which]:
        load_before = os.getloadavg()[0]
        runs = [BENCHES[name](args.time_limit) for _ in range(max(1, args.repeat))]
        label = runs[0][0]
        # The median run of each library by total time (its own build/solve split kept).
        ours = sorted((r[1] for r in runs), key=lambda r: r["total_s"])[len(runs) // 2]
        theirs = sorted((r[2] for r in runs), key=lambda r: r["total_s"])[len(runs) // 2]
        ours["runs_total_s"] = [r[1]["total_s"] for r in runs]
        theirs["runs_total_s"] = [r[2]["total_s"] for r in runs]
        load_after = os.getloadavg()[0]
        same = (
            ours["objective"] is not None
            and theirs["objective"] is not None
            and abs(ours["objective"] - theirs["objective"]) <= 1e-6 * max(1.0, abs(ours["objective"]))
        )
        ratio = theirs["total_s"] / ours["total_s"]
        print(
            f"\n{label} (time limit {args.time_limit:g} s; median of {len(runs)}; "
            f"load average {load_before:.2f} before, {load_after:.2f} after)"
        )
        for r in (ours, theirs):
            obj = "-" if r["objective"] is None else f"{r['objective']:.4f}"
            print(
                f"  {r['library']:10} objective {obj:>14}  status {r['status']:>10}  build {r['build_s']:7.2f} s"
                f"  solve {r['solve_s']:7.2f} s  total {r['total_s']:7.2f} s"
            )
        print(f"  same objective: {same};  spopt total / regionopt total = {ratio:.1f}x")
        with RESULTS.open("a") as fh:
            fh.write(
                json.dumps(
                    {
                        "benchmark": label,
                        "time_limit": args.time_limit,
                        "machine": platform.machine(),
                        "cpus": os.cpu_count(),
                        "load_before": load_before,
                        "load_after": load_after,
                        "repeat": len(runs),
                        "regionopt": ours,
                        "spopt": theirs,
                        "same_objective": same,
                        "speedup": ratio,
                    },
                    default=float,
                )
                + "\n"
            )


if __name__ == "__main__":
    main()
