"""The Zhejiang default scenario on a 1-km demand grid, beside the shipped 16,672-point default (issue 14, goal 3).

Goal: "demand on a 1-km grid (about 100,000 points after clipping, populations
still summing to the census), township seats plus grid points as candidates,
all 14 types: proven within 0.1 % in ≤ 10 min and ≤ 8 GiB."

Each region runs in a fresh child process (``--one``), so that its peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own:

- ``grid``: builds ``geodata/_cache/zhejiang_grid.gpkg`` with
  ``geodata/build_zhejiang_grid.py`` (timed as "region s"; the file is not
  shipped), then runs ``configs/zhejiang.yaml`` on it;
- ``default``: runs ``configs/zhejiang.yaml`` as shipped.

Both with the scenario unchanged (coverage objective, 14 types, terrain
impedance, budgets) except the solver: HiGHS with ``mip_gap`` 0.001 (the
goal's 0.1 %) and a time limit of what is left of the 10 minutes after
region, loading, coverage pairs and model build. Timed through the Python API
(load_scenario, PlanningModel.prepare / build / solve); maps and report are
not written.

Usage::

    .venv/bin/python benchmarks/zhejiang_grid.py [--regions grid default] [--json FILE] [--highs-log FILE]
        [--lp-guided auto|on|off]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "geodata"))

from build_zhejiang_grid import DEFAULT_OUT, build  # noqa: E402

from optimizer.planning import PlanningModel  # noqa: E402
from optimizer.scenario import load_scenario  # noqa: E402

CONFIG = ROOT / "configs" / "zhejiang.yaml"
BUDGET_S = 600.0
GAP = 0.001
RESULTS = ROOT / "benchmarks" / "results" / "zhejiang_grid.jsonl"


def grid_config(gpkg: Path, folder: Path) -> Path:
    """``configs/zhejiang.yaml`` with its four region layers read from ``gpkg`` (other paths made absolute)."""
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    for layer in ("admin_units", "demand", "facilities", "candidates"):
        config["region"][layer] = {"path": str(gpkg), "layer": layer}
    config["catalogue"] = str(CONFIG.parent / config["catalogue"])
    config["impedance"]["path"] = str((CONFIG.parent / config["impedance"]["path"]).resolve())
    config["name"] = "zhejiang-grid"
    path = folder / "zhejiang_grid.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _cpu_s() -> float:
    """User + system CPU seconds of this process so far (all threads: HiGHS runs in its own)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stage(name: str, t0: float) -> None:
    """A progress line on stderr (the parent passes it through)."""
    print(f"{name}: {time.perf_counter() - t0:.1f} s wall, {_cpu_s():.1f} s CPU", file=sys.stderr, flush=True)


def one(region: str, log: bool = False, lp_guided: bool | None = None) -> dict[str, Any]:
    """Build (for ``grid``), load, prepare, build and solve one region; the figures of the run."""
    t0 = time.perf_counter()
    info: dict[str, Any] = {"region": region, "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        if region == "grid":
            info["grid"] = build(DEFAULT_OUT)
            config = grid_config(DEFAULT_OUT, Path(tmp))
        else:
            config = CONFIG
        info["region_s"] = time.perf_counter() - t0
        _stage("region", t0)
        t1 = time.perf_counter()
        scenario = load_scenario(config)
        info["load_s"] = time.perf_counter() - t1
        _stage("load", t0)
        model = PlanningModel(scenario)
        model.lp_guided = lp_guided  # None: the product's choice (optimizer/planning/lp_plan.py, lp_guided_pays)
        info["lp_guided"] = lp_guided
        model.prepare()
        _stage("coverage", t0)
        model.build()
        _stage("build", t0)
        info["cpu_before_solve_s"] = _cpu_s()
        left = BUDGET_S - (time.perf_counter() - t0)
        options = dataclasses.replace(scenario.solver_options, mip_gap=GAP, time_limit=max(left, 1.0), msg=log)
        result = model.solve(options)
        _stage("solve", t0)
    size = model.size
    info.update(
        {
            "points": size.demand_points,
            "candidates": len(scenario.region.candidates),
            "pairs": size.coverage_pairs,
            "merged_rows": size.merged_rows,
            "rows": size.rows,
            "columns": size.columns,
            "nonzeros": size.nonzeros,
            "binaries": size.binaries,
            "coverage_s": model.timings["coverage"],
            "build_s": model.timings["build"],
            "solve_s": model.timings["solve"],
            "time_limit_s": options.time_limit,
            "wall_s": time.perf_counter() - t0,
            "status": result.status,
            "bound": result.bound,
            # the LP-guided solve's steps (optimizer/planning/lp_plan.py): LP bound and seconds, the LP plan, ...
            "lp_plan": result.report.extra.get("lp_plan"),
            "gap": result.gap,
            "objective": result.objective,
            "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "cpu_s": _cpu_s(),
            "load_after": os.getloadavg(),
        }
    )
    return info


def main() -> None:
    """Run each region in its own process and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regions", nargs="+", default=["grid", "default"], choices=["grid", "default"])
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--highs-log", type=Path, help="write HiGHS' log of each run to FILE.<region>")
    parser.add_argument(
        "--lp-guided", choices=["auto", "on", "off"], default="auto", help="PlanningModel.lp_guided: None/True/False"
    )
    parser.add_argument("--one", choices=["grid", "default"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        guided = {"auto": None, "on": True, "off": False}[args.lp_guided]
        print(json.dumps(one(args.one, log=args.highs_log is not None, lp_guided=guided), default=float))
        return
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
    runs = []
    args.json.parent.mkdir(parents=True, exist_ok=True)
    for region in args.regions:
        log = ["--highs-log", str(args.highs_log)] if args.highs_log else []
        proc = subprocess.run(
            [sys.executable, __file__, "--one", region, "--lp-guided", args.lp_guided, *log],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"{region} failed ({proc.returncode})")
        lines = proc.stdout.strip().splitlines()
        if args.highs_log:
            Path(f"{args.highs_log}.{region}").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
        run = json.loads(lines[-1])
        runs.append(run)
        with args.json.open("a") as fh:
            fh.write(json.dumps(run) + "\n")
    print(
        "| region | points | candidates | pairs in reach | merged rows | region s | load s | coverage s | build s "
        "| solve s | wall s | CPU s | peak RSS GiB | status | proven gap | load before → after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        gap = "n/a" if r["gap"] is None else f"{100 * r['gap']:.3f} %"
        print(
            f"| {r['region']} | {r['points']:,} | {r['candidates']:,} | {r['pairs']:,} | {r['merged_rows']:,} "
            f"| {r['region_s']:.1f} | {r['load_s']:.1f} | {r['coverage_s']:.1f} | {r['build_s']:.1f} "
            f"| {r['solve_s']:.1f} | {r['wall_s']:.1f} | {r['cpu_s']:.0f} | {r['peak_gib']:.2f} | {r['status']} | {gap} "
            f"| {r['load_before'][0]:.1f} → {r['load_after'][0]:.1f} |"
        )
    for r in runs:
        met = r["wall_s"] <= BUDGET_S and r["peak_gib"] <= 8 and r["gap"] is not None and r["gap"] <= GAP
        print(
            f"{r['region']}: {r['rows']:,} rows, {r['columns']:,} columns, {r['nonzeros']:,} nonzeros, "
            f"{r['binaries']:,} binaries; goal (≤ 0.1 %, ≤ 600 s, ≤ 8 GiB) {'MET' if met else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
