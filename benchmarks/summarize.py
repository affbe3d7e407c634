"""Print a markdown table (and totals) from ``regionopt bench --json`` output files.

.venv/bin/python benchmarks/summarize.py benchmarks/results/orlib-pmed.jsonl ...
"""

from __future__ import annotations

import json
import sys


def main(paths: list[str]) -> None:
    for path in paths:
        with open(path) as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        if not rows:
            continue
        print(f"\n### {path}\n")
        print("| instance | objective | optimum | equal | status | gap | seconds (read+build / solve) | peak RSS MiB |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            obj = "-" if r["objective"] is None else f"{r['objective']:.3f}".rstrip("0").rstrip(".")
            opt = "-" if r["optimum"] is None else f"{r['optimum']:.3f}".rstrip("0").rstrip(".")
            gap = "-" if r["gap"] is None else f"{r['gap']:.1e}" if r["gap"] else "0"
            solve = r.get("solve_seconds")
            print(
                f"| {r['instance']} | {obj} | {opt} | {'yes' if r.get('match') else 'NO' if r.get('match') is False else '-'}"
                f" | {r['status']} | {gap} | {r['seconds']:.2f} ({r['build_seconds']:.2f} / "
                f"{solve if solve is None else round(solve, 2)}) | {r['peak_mb']:.0f} |"
            )
        total = sum(r["seconds"] for r in rows)
        ok = sum(1 for r in rows if r.get("match"))
        optimal = sum(1 for r in rows if r["status"] == "optimal")
        print(
            f"\n{len(rows)} instances, {ok} equal to the published optimum, {optimal} proven optimal, "
            f"total {total:.1f} s, slowest {max(r['seconds'] for r in rows):.1f} s "
            f"({max(rows, key=lambda r: r['seconds'])['instance']})"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
