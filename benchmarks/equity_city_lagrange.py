"""The city-block Lagrangian level test on equity stage 1 of the Zhejiang default (s16-ub).

Builds the default stage-1 model (``objective.kind: equity``, compare
``units``) once, splits it by :func:`optimizer.planning.equity_blocks.city_partition`
(one block per city: its counties' rows and its budget cap) and asks
:meth:`~optimizer.planning.equity_blocks.CityBlocks.test` at each level: the
probe LP's budget scale, the Lagrangian's (best over the cutting-plane steps),
whether the level is proven out of reach, the seconds, the value after each
step, and ``uptime``'s 1-minute load.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/equity_city_lagrange.py [--levels 0.329,0.327] [--seconds 300]
        [--steps 4] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer.planning import PlanningModel  # noqa: E402
from optimizer.planning.equity_blocks import city_blocks  # noqa: E402
from optimizer.scenario import load_scenario  # noqa: E402


def main() -> None:
    """Build the model and the city blocks once, test each level and print (and optionally append) the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", default="0.329,0.327,0.3255,0.3245")
    parser.add_argument("--seconds", type=float, default=300.0, help="time limit of each level's test")
    parser.add_argument("--steps", type=int, default=4, help="cutting-plane steps after the LP duals")
    parser.add_argument("--json", type=Path, help="append one JSON line per level")
    args = parser.parse_args()
    changes = {"objective.kind": "equity", "objective.equity.compare": "units"}
    scenario = load_scenario(ROOT / "configs" / "zhejiang.yaml").replace(**changes)
    model = PlanningModel(scenario)
    model.problem  # noqa: B018 - builds the model before the clock starts
    t0 = time.perf_counter()
    blocks = city_blocks(model, steps=args.steps)
    split = time.perf_counter() - t0
    sizes = sorted((len(b.cols) for b in blocks.blocks), reverse=True)
    print(
        f"{len(blocks.blocks)} blocks (columns {sizes}), {len(blocks.budget_rows)} coupling budget rows, "
        f"{int((blocks.row_block < 0).sum())} coupling rows; split in {split:.1f} s",
        flush=True,
    )
    for level in (float(x) for x in args.levels.split(",")):
        load0 = os.getloadavg()[0]
        result = blocks.test(level, seconds=args.seconds)
        out = {
            **result.to_dict(),
            "steps": args.steps,
            "history": [(round(v, 6), round(s, 1)) for v, s in blocks.history],
            "load_start": load0,
            "load_end": os.getloadavg()[0],
        }
        print(json.dumps(out), flush=True)
        if args.json:
            with args.json.open("a") as fh:
                fh.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
