"""Sweep benchmark: a 20-point budget sweep of the Zhejiang default, 2 Dask workers vs serial.

Run from the repository root::

    .venv/bin/python benchmarks/sweep_bench.py                 # 20 budgets, coverage, 2 workers
    .venv/bin/python benchmarks/sweep_bench.py --points 6 --mip-gap 0.01   # quicker look

Both runs solve the same points with the same settings (one solver thread
per point) and write nothing; the serial run solves them one after another
in this process without Dask (``workers=0``), the parallel run starts a
``LocalCluster`` of ``--workers`` processes *inside the timed region*, so
cluster start-up and each worker's own load of the scenario are paid for.
The target is parallel ≤ 0.6 × serial. The script also checks that both
runs found the same plans (identical covered population per point), and
prints the machine's load average, because other processes competing for
the cores change the ratio.

Every point uses the scenario's own solver settings (the Zhejiang default:
MIP gap 0.05 %, time limit 300 s) unless ``--mip-gap`` / ``--time-limit``
override them. Points that stop at the time limit (status ``feasible``) are
counted in the table: they take the same wall time serial or parallel and
may differ between the runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer.sweeps.run import sweep  # noqa: E402 (after sys.path: runs as a script)


def _cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the LocalCluster's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _run(label: str, config: Path, workers: int, args) -> tuple[pd.DataFrame, float, float]:
    print(
        f"{label}: {args.points} points on {'this process' if workers == 0 else f'{workers} Dask workers'} ...",
        flush=True,
    )
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    df = sweep(
        config,
        budgets=f"{args.start:g}:{args.stop:g}:{args.points}",
        objectives=args.objective,
        workers=workers,
        write=False,
        time_limit=args.time_limit,
        mip_gap=args.mip_gap,
    )
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    print(f"{label}: {seconds:.1f} s, {cpu:.1f} CPU s", flush=True)
    return df, seconds, cpu


def _setting(value: float | None) -> str:
    return "(scenario's)" if value is None else f"{value:g}"


def _source_digest() -> str:
    """SHA-256 of the package source: other work on the tree during a run would change results."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted((ROOT / "optimizer").glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "zhejiang.yaml")
    parser.add_argument("--points", type=int, default=20, help="budgets in the sweep (default 20)")
    parser.add_argument("--start", type=float, default=5e8, help="smallest budget, yuan (default 5e8)")
    parser.add_argument("--stop", type=float, default=1e10, help="largest budget, yuan (default 1e10)")
    parser.add_argument("--objective", default="coverage")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=None, help="default: the scenario's solver.time_limit")
    parser.add_argument("--mip-gap", type=float, default=None, help="default: the scenario's solver.mip_gap")
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()
    source_before = _source_digest()
    serial, t_serial, cpu_serial = _run("serial", args.config, 0, args)
    parallel, t_parallel, cpu_parallel = _run("parallel", args.config, args.workers, args)
    load_after = os.getloadavg()
    source_changed = _source_digest() != source_before

    ratio = t_parallel / t_serial
    timed_out = int((serial["status"] == "feasible").sum() + (parallel["status"] == "feasible").sum())
    same = bool(np.allclose(serial["covered_total"], parallel["covered_total"], equal_nan=True))
    rows = [
        ("serial (this process, no Dask)", 0, t_serial, t_serial / args.points, cpu_serial),
        (
            f"Dask LocalCluster, {args.workers} workers",
            args.workers,
            t_parallel,
            t_parallel / args.points,
            cpu_parallel,
        ),
    ]
    print()
    print(
        f"Sweep of {args.config.name}: {args.points} budgets {args.start:,.0f}..{args.stop:,.0f} yuan, "
        f"objective {args.objective}, mip_gap {_setting(args.mip_gap)}, time limit {_setting(args.time_limit)} s, "
        f"1 solver thread per point"
    )
    # CPU seconds / wall seconds = cores the run actually got: other
    # processes on the machine take cores away from the parallel run.
    print(f"{'run':<36} {'workers':>7} {'seconds':>9} {'s/point':>8} {'CPU s':>8} {'cores used':>10}")
    for name, w, sec, per, cpu in rows:
        print(f"{name:<36} {w:>7} {sec:>9.1f} {per:>8.1f} {cpu:>8.1f} {cpu / sec:>10.2f}")
    print(
        f"{'ratio parallel / serial':<36} {'':>7} {ratio:>9.2f}   (target <= 0.60: {'met' if ratio <= 0.6 else 'NOT met'})"
    )
    print(
        f"points stopped at the time limit: {timed_out} of {2 * args.points} solves; "
        f"same covered population in both runs: {'yes' if same else 'NO'}"
    )
    print(
        f"load average (1/5/15 min) before {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, "
        f"after {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f}; cores: {os.cpu_count()}"
    )
    if source_changed:
        print("WARNING: the optimizer source changed during the run; the two runs may not be comparable")
    print("\nper point:")
    both = serial[["budget", "status", "gap", "covered_total", "budget_used", "seconds"]].copy()
    both["covered_parallel"] = parallel["covered_total"]
    both["seconds_parallel"] = parallel["seconds"]
    print(both.to_string(index=False))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "config": str(args.config),
                    "points": args.points,
                    "workers": args.workers,
                    "mip_gap": args.mip_gap,
                    "time_limit": args.time_limit,
                    "serial_seconds": t_serial,
                    "parallel_seconds": t_parallel,
                    "ratio": ratio,
                    "serial_cpu_seconds": cpu_serial,
                    "parallel_cpu_seconds": cpu_parallel,
                    "timed_out": timed_out,
                    "same_results": same,
                    "load_before": load_before,
                    "load_after": load_after,
                    "source_changed": source_changed,
                    "serial": serial.drop(columns=["monotone_ok"]).to_dict(orient="records"),
                    "parallel": parallel.drop(columns=["monotone_ok"]).to_dict(orient="records"),
                },
                indent=2,
                default=str,
            )
        )
    return 0 if ratio <= 0.6 else 1


if __name__ == "__main__":
    sys.exit(main())
