"""Where regionopt's MCLP build spends its time on the vs_spopt instance (2000 x 500, p = 40, r = 8).

Usage (from the repository root)::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/profile_mclp.py [--top 30]

Prints (1) a cProfile of ``MCLP.from_cost_matrix`` + ``solve("highs")`` on the
instance of ``vs_spopt.py`` (same data recipe), with wall and CPU time (CPU
counts both probing threads); (2) the cost of one LP probe taken apart, on the
LP relaxation as it stands when probing starts, probes run one after another
on one thread: a HiGHS ``run()`` after ``setBasis`` that makes no iteration
(refactorisation and HiGHS' fixed work per run), one that makes a single
iteration after a bound change (adds the dual steepest-edge weights, which
``setBasis`` discards), and full probes (their simplex iterations). CPU
times, so the figures are less sensitive to machine load than wall times.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from vs_spopt import INSTANCES, data  # noqa: E402 - the script's own folder, put on the path above

from optimizer.locate import _mclp_reduce  # noqa: E402
from optimizer.locate.coverage import MCLP  # noqa: E402


def profile_build(top: int) -> None:
    """cProfile of build + solve on the documented MCLP instance."""
    inst = INSTANCES["mclp"]
    cost, weights = data(inst.n_demand, inst.n_sites)
    prof = cProfile.Profile()
    t0, c0 = time.perf_counter(), time.process_time()
    prof.enable()
    model = MCLP.from_cost_matrix(cost, weights, service_radius=inst.radius, p_facilities=inst.p)
    t1, c1 = time.perf_counter(), time.process_time()
    model.solve("highs")
    prof.disable()
    t2 = time.perf_counter()
    stats = {key: value for key, value in model.stats.items() if key != "incumbent_sources"}
    print(f"build {t1 - t0:.2f} s wall, {c1 - c0:.2f} s CPU; solve {t2 - t1:.2f} s; objective {model.objective:g}")
    print(f"status {model.status}; {stats}")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(top)


def _state_at_probing() -> dict[str, Any]:
    """The reducer as it stands when probing starts (probing itself skipped)."""
    inst = INSTANCES["mclp"]
    cost, weights = data(inst.n_demand, inst.n_sites)
    seen: dict[str, Any] = {}
    original = _mclp_reduce._MclpReducer.probe_all

    def capture(self: _mclp_reduce._MclpReducer, _budget: int) -> None:
        seen["reducer"] = self

    _mclp_reduce._MclpReducer.probe_all = capture  # type: ignore[method-assign]
    try:
        MCLP.from_cost_matrix(cost, weights, service_radius=inst.radius, p_facilities=inst.p)
    finally:
        _mclp_reduce._MclpReducer.probe_all = original  # type: ignore[method-assign]
    return seen


def probe_costs(n_probes: int = 150) -> None:
    """CPU milliseconds of the parts of one probe (see the module docstring)."""
    red = _state_at_probing()["reducer"]
    relax = red.relax
    h = relax.h
    free = np.flatnonzero((relax.lo < 0.5) & (relax.up > 0.5))[:n_probes]
    print(f"\nLP at probing start: {relax.ng} cover rows, {relax.ns} site columns, {len(free)} probes timed")
    for limit in (0, 1):
        h.setOptionValue("simplex_iteration_limit", limit)
        c0 = time.process_time()
        for j in free:
            value = 0.0 if red.plan[j] else 1.0
            h.setBasis(relax.basis)
            h.changeColBounds(int(j), value, value)
            h.run()
            h.changeColBounds(int(j), float(relax.lo[j]), float(relax.up[j]))
        per = (time.process_time() - c0) / len(free) * 1000
        print(f"setBasis + run() with at most {limit} iteration(s): {per:.2f} ms CPU per probe")
    iterations = relax.iterations
    c0 = time.process_time()
    fixed = sum(relax.probe(int(j), 0.0 if red.plan[j] else 1.0, red.threshold) < red.threshold for j in free)
    per = (time.process_time() - c0) / len(free) * 1000
    its = (relax.iterations - iterations) / len(free)
    print(f"full probes: {per:.2f} ms CPU and {its:.0f} simplex iterations per probe; {fixed} of {len(free)} fix")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=30, help="cProfile rows to print (default 30)")
    args = parser.parse_args()
    profile_build(args.top)
    probe_costs()


if __name__ == "__main__":
    main()
