"""The city-block level test (planning/equity_blocks.py) against brute force, in every ``compare`` mode.

A level the test calls out of reach must be above the best plan's minimum
rate (over every plan of small random regions, with and without per-county
budget caps, which the blocks keep inside), and levels above the LP maximum
are always out of reach.
"""

from __future__ import annotations

import numpy as np
import pulp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_equity_bound import CASES, _instance

from optimizer.planning.equity_blocks import CityBlocks, city_blocks, city_partition
from optimizer.planning.equity_search import equity_row_names
from optimizer.planning.model import PlanningModel
from optimizer.solvers import solve_problem


def _lp_max(prob: pulp.LpProblem) -> float:
    """The LP relaxation's maximum of the stage-1 objective (t)."""
    relaxed = [v for v in prob.variables() if v.cat == pulp.LpInteger]
    for v in relaxed:
        v.cat = pulp.LpContinuous
    try:
        return float(solve_problem(prob).objective)
    finally:
        for v in relaxed:
            v.cat = pulp.LpInteger


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES, st.sampled_from([None, 1, 2]), st.integers(0, 3), st.floats(0.0, 1.0))
def test_city_blocks_never_declare_a_reachable_level_out_of_reach(
    seed, n, m, budget, split, levels, compare, county_cap, steps, above
):
    """No level up to the brute-force optimum is out of reach; above the LP maximum every level is."""
    sc, best, _ = _instance(seed, n, m, budget, split, levels, compare, county_cap=county_cap)
    model = PlanningModel(sc)
    blocks = city_blocks(model, steps=steps)
    for level in (0.0, best * 0.5, best):
        result = blocks.test(level)
        assert not result.out_of_reach, (level, best, result)
    lp_max = _lp_max(model.problem)
    for level in np.linspace(best, min(1.0, lp_max), 6)[1:]:
        result = blocks.test(float(level))
        assert not result.out_of_reach or level > best + 1e-9, (level, best, result)
    if lp_max < 1.0 - 1e-3:
        assert blocks.test(lp_max + 1e-3 + above * (1.0 - lp_max - 1e-3)).out_of_reach


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*CASES, st.sampled_from([1, 2]))
def test_city_partition_keeps_each_cap_inside_the_block_of_its_units(
    seed, n, m, budget, split, levels, compare, county_cap
):
    """Every cap row is in one block, with every compared unit inside (or around) its capped unit; none is scaled."""
    sc, _, _ = _instance(seed, n, m, budget, split, levels, compare, county_cap=county_cap)
    model = PlanningModel(sc)
    block_of, caps = city_partition(model)
    names = equity_row_names(model)
    assert sorted(block_of) == sorted(names)
    key_of = {f"equity_{key}": key for key in model.unit_expr}
    chains = sc.region.ancestors_of(str(model.compare_labels[key_of[name]]) for name in names)
    for row, capped in model.unit_caps.items():
        inside = [
            name
            for name in names
            if capped in chains[str(model.compare_labels[key_of[name]])]
            or str(model.compare_labels[key_of[name]]) in sc.region.ancestors(capped)
        ]
        assert (row in caps) == bool(inside)
        assert {block_of[name] for name in inside} <= {caps.get(row)}
    blocks = CityBlocks(model.problem, model.t, names, block_of, caps)
    position = {name: i for i, name in enumerate(model.problem.constraints)}
    for row, b in caps.items():
        assert blocks.row_block[position[row]] == b
        assert position[row] not in set(blocks.budget_rows.tolist())
