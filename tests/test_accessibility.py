"""Floating-catchment accessibility and inequality indices, computed by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from optimizer.accessibility import catchment_weights, floating_catchment, gini, theil
from optimizer.errors import InputError


def test_2sfca_by_hand():
    # Demand a (100 people) reaches f1 and f2; b (300) reaches f2 only. f1: 10 beds, f2: 20 beds.
    rows = np.array([0, 0, 1])
    cols = np.array([0, 1, 1])
    dist = np.array([1.0, 2.0, 3.0])
    access, ratio = floating_catchment(rows, cols, dist, [100, 300], [10, 20], 5.0, "2sfca")
    # R1 = 10 / 100, R2 = 20 / 400; A_a = R1 + R2, A_b = R2
    assert ratio.tolist() == pytest.approx([0.1, 0.05])
    assert access.tolist() == pytest.approx([0.15, 0.05])
    # supply is conserved: Σ P_i A_i = Σ S_j
    assert 100 * access[0] + 300 * access[1] == pytest.approx(30)


def test_e2sfca_stepped_by_hand():
    rows = np.array([0, 0, 1, 2])
    cols = np.array([0, 1, 1, 1])
    dist = np.array([1.0, 5.0, 2.0, 9.5])  # catchment 9: the last pair is out of reach
    steps = ((1 / 3, 1.0), (2 / 3, 0.5), (1.0, 0.25))
    access, ratio = floating_catchment(rows, cols, dist, [10, 20, 40], [5, 6], 9.0, "stepped", steps)
    # weights: d=1 -> 1 (zone 1), d=5 -> 0.5 (zone 2), d=2 -> 1, d=9.5 -> 0
    r1 = 5 / (10 * 1.0)
    r2 = 6 / (10 * 0.5 + 20 * 1.0)
    assert ratio.tolist() == pytest.approx([r1, r2])
    assert access.tolist() == pytest.approx([r1 * 1.0 + r2 * 0.5, r2 * 1.0, 0.0])


def test_gaussian_weight_by_hand():
    d0 = 10.0
    w = catchment_weights(np.array([0.0, 5.0, 10.0, 11.0]), d0, "gaussian")
    e = math.exp(-0.5)
    assert w.tolist() == pytest.approx([1.0, (math.exp(-0.125) - e) / (1 - e), 0.0, 0.0])
    with pytest.raises(InputError, match="method must be"):
        catchment_weights(np.array([1.0]), 1.0, "huff")


def test_facility_without_demand_has_zero_ratio():
    access, ratio = floating_catchment(np.array([0]), np.array([0]), np.array([1.0]), [0.0], [5.0], 2.0, "2sfca")
    assert ratio.tolist() == [0.0] and access.tolist() == [0.0]


def _gini_pairs(x, p):
    num = sum(p[i] * p[k] * abs(x[i] - x[k]) for i, k in itertools.product(range(len(x)), repeat=2))
    mu = float(np.dot(p, x)) / sum(p)
    return num / (2 * sum(p) ** 2 * mu)


def test_gini_and_theil_by_hand():
    # Two equal groups, one with everything: Gini 1/2, Theil ln 2.
    assert gini([0.0, 1.0], [1, 1]) == pytest.approx(0.5)
    assert theil([0.0, 1.0], [1, 1]) == pytest.approx(math.log(2))
    assert gini([3.0, 3.0, 3.0], [1, 5, 2]) == 0.0
    assert theil([3.0, 3.0], [1, 5]) == pytest.approx(0.0)
    # weights count like repeated entries
    assert gini([1.0, 2.0], [2, 1]) == pytest.approx(gini([1.0, 1.0, 2.0]))
    assert theil([1.0, 2.0], [2, 1]) == pytest.approx(theil([1.0, 1.0, 2.0]))
    # Theil by hand: x = (1, 3), equal weights, mu = 2: ½(½ ln ½) + ½(3/2 ln 3/2)
    assert theil([1.0, 3.0]) == pytest.approx(0.5 * 0.5 * math.log(0.5) + 0.5 * 1.5 * math.log(1.5))
    assert math.isnan(gini([0.0, 0.0])) and math.isnan(theil([], []))


@pytest.mark.parametrize("seed", range(20))
def test_gini_matches_pairwise_definition(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    x = rng.integers(0, 5, n).astype(float) + (rng.random(n) if seed % 2 else 0)
    p = rng.integers(1, 9, n).astype(float)
    if np.dot(p, x) == 0:
        x[0] = 1.0
    assert gini(x, p) == pytest.approx(_gini_pairs(x, p))


# --------------------------------------------------------------------------- in a planning run


def _run(tmp_path):
    import json

    import pandas as pd

    from optimizer.config.schema import BudgetConfig
    from optimizer.planning.model import PlanningModel
    from optimizer.scenario import Scenario
    from tests.toy import X0, Y0, catalogue, facility_type, make_region

    region = make_region(
        [(X0 + 5000, Y0 + 5000), (X0 + 8000, Y0 + 5000), (X0 + 30000, Y0 + 5000)],
        [100, 300, 200],
        [(X0 + 30000, Y0 + 5000)],
        existing=[("clinic", X0 + 5000, Y0 + 5000, 50.0)],
    )
    clinic = facility_type("clinic", cost=10, km=5, capacity=40)
    sc = Scenario(name="t", region=region, catalogue=catalogue(clinic), budget=BudgetConfig(total=10))
    result = PlanningModel(sc).solve()
    out = result.write(tmp_path / "out", maps=False, report=False)
    units = pd.read_csv(out / "accessibility_by_unit.csv", dtype={"unit_id": str})
    points = pd.read_csv(out / "accessibility_by_demand.csv", dtype={"demand_id": str})
    summary = json.loads((out / "solution.json").read_text())
    return result, units, points, summary


def test_run_outputs_accessibility_by_hand(tmp_path):
    result, units, points, summary = _run(tmp_path)
    assert len(result.chosen_sites) == 1
    e = math.exp(-0.5)
    w = (math.exp(-0.5 * (3000 / 5000) ** 2) - e) / (1 - e)  # d1 is 3 km from the clinic, catchment 5 km
    r = 50 / (100 + 300 * w)
    by_id = points.set_index("demand_id")
    assert by_id["access_before"].tolist() == pytest.approx([r, r * w, 0.0], rel=1e-6)
    assert by_id["access_after"].tolist() == pytest.approx([r, r * w, 40 / 200], rel=1e-6)
    u = units.set_index("unit_id")
    # supply is conserved, so a unit's population-weighted access is its reached supply per person
    assert u.loc["A", "access_before"] == pytest.approx(50 / 400)
    assert u.loc["B", "access_before"] == 0.0 and u.loc["B", "access_after"] == pytest.approx(0.2)
    assert u.loc["C", "access_after"] == pytest.approx(90 / 600)
    rec = summary["accessibility"]["by_type"][0]
    assert rec["facility_type"] == "clinic" and rec["units_compared"] == 2
    # coverage rates of the counties: A 50/400 (capacity 50), B 0 -> 40/200; Gini by the pairwise formula
    assert rec["gini_coverage_before"] == pytest.approx(1 / 3)
    assert rec["gini_coverage_after"] == pytest.approx(1 / 9)
    assert rec["theil_coverage_before"] == pytest.approx((400 / 600) * (0.125 / (1 / 12)) * math.log(0.125 / (1 / 12)))
    assert rec["access_before"] == pytest.approx(50 / 600) and rec["access_after"] == pytest.approx(90 / 600)
    assert rec["gini_access_after"] == pytest.approx(gini(np.array([r, r * w, 0.2]), np.array([100, 300, 200])))


def test_report_shows_accessibility_table(tmp_path):
    import json
    import re

    from optimizer.render.report import report_context
    from optimizer.render.result_files import read_result

    result, _, _, summary = _run(tmp_path)
    out = result.write(tmp_path / "rep", maps=False, report=True)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert 'id="accessibility"' in html and 'id="chart-accessibility"' in html
    row = re.search(r'<tr data-key="clinic">(.*?)</tr>', html.split('id="table-accessibility"')[1], re.S).group(1)
    cells = re.findall(r'<td class="n">([^<]*)</td>', row)
    rec = json.loads((out / "solution.json").read_text())["accessibility"]["by_type"][0]
    assert cells[:4] == [f"{rec['access_before'] * 1000:.3f}", f"{rec['access_after'] * 1000:.3f}", "0.333", "0.111"]
    assert cells[-1] == "2"
    ctx = report_context(read_result(out))
    assert [r["key"] for r in ctx["accessibility"]["rows"]] == ["clinic"]
    assert "accessibility_by_unit.csv" in [f["name"] for f in ctx["files"]]
