"""End-to-end benchmark of the shipped Zhejiang default scenario.

Runs ``regionopt run configs/zhejiang.yaml`` in a fresh process (so import
time, data loading, model build, solve, evaluation and writing maps and the
report all count), repeats it, and prints wall time, peak memory (max RSS of
the child process) and the model's size, against the targets of the issue:
≤ 60 s end to end and ≤ 2 GiB peak memory on a 2-core machine.

Usage::

    .venv/bin/python benchmarks/zhejiang_default.py [--repeat 3] [--config configs/zhejiang.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 60.0
TARGET_GIB = 2.0


def one_run(config: Path, out: Path) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "optimizer.cli", "run", str(config), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"run failed ({proc.returncode}):\n{proc.stderr}")
    # ru_maxrss of children is the maximum over all children so far (KiB on Linux).
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    manifest = json.loads((out / "manifest.json").read_text())
    solution = json.loads((out / "solution.json").read_text())
    return {
        "wall_s": wall,
        "peak_gib": peak_kib / 2**20,
        "peak_is_new": peak_kib > before,
        "status": solution["status"],
        "gap": solution["gap"],
        "timings": manifest["timings_seconds"],
        "size": solution["model_size"],
        "report_mb": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "zhejiang.yaml")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            runs.append(one_run(args.config, Path(tmp) / f"run{i}"))
    size = runs[0]["size"]
    print(
        f"model: {size['rows']:,} rows, {size['columns']:,} columns, {size['nonzeros']:,} nonzeros, "
        f"{size['binaries']:,} binaries; {size['coverage_pairs']:,} coverage pairs from "
        f"{size['demand_points']:,} demand points merged into {size['merged_rows']:,} rows"
    )
    stages = ["load", "coverage", "build", "solve", "evaluate", "write"]
    header = (
        f"{'run':>3} {'wall s':>8} {'peak GiB':>9} {'status':>9} {'gap':>9} "
        + " ".join(f"{s:>8}" for s in stages)
        + f" {'out MB':>7}"
    )
    print(header)
    for i, r in enumerate(runs):
        t = r["timings"]
        print(
            f"{i:>3} {r['wall_s']:>8.1f} {r['peak_gib']:>9.2f} {r['status']:>9} {r['gap'] if r['gap'] is not None else float('nan'):>9.2e} "
            + " ".join(f"{t.get(s, float('nan')):>8.1f}" for s in stages)
            + f" {r['report_mb']:>7.1f}"
        )
    worst = max(r["wall_s"] for r in runs)
    peak = max(r["peak_gib"] for r in runs)
    print(
        f"target: wall ≤ {TARGET_SECONDS:.0f} s → worst {worst:.1f} s {'OK' if worst <= TARGET_SECONDS else 'MISSED'}; "
        f"peak ≤ {TARGET_GIB:.0f} GiB → {peak:.2f} GiB {'OK' if peak <= TARGET_GIB else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
