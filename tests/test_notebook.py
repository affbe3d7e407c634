"""docs/planning-study.ipynb runs end to end (on the toy scenario of test_errors.py, in a few seconds)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from test_errors import make_planning_folder  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "planning-study.ipynb"


def test_planning_study_notebook_runs_and_its_plans_are_consistent(tmp_path: Path):
    scenario = make_planning_folder(tmp_path / "toy")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and "SCENARIO = None" in params[0].source
    # The toy's hard standards (a library per county) need the whole 1e8 budget: plan A gets 1.5x.
    params[0].source = (
        params[0]
        .source.replace("SCENARIO = None", f"SCENARIO = {str(scenario)!r}")
        .replace("BUDGET_SHARE = 0.5", "BUDGET_SHARE = 1.5")
    )
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [
        o["data"]["text/html"]
        for o in outputs
        if o.get("output_type") == "execute_result" and "text/html" in o.get("data", {})
    ]
    plans = [h for h in html if 'class="regionopt-plan"' in h]
    assert len(plans) == 2 and all("status <b>optimal</b>" in h for h in plans)
    assert sum("folium" in h or "leaflet" in h.lower() for h in html) >= 3  # region, change and out-of-reach maps
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    summary = ast.literal_eval(printed[printed.index("{'plan_a'") :].strip())
    a, b = summary["plan_a"], summary["plan_b"]
    # 1.5e8 yuan: the two libraries of the hard standard (5e7 each) plus clinics (1e7 each).
    assert a["budget_used"] <= 1.5e8 + 1e-6
    # Plan B may run one project fewer (the added PuLP row) and can only do as well or worse.
    assert b["sites"] <= b["limit"] == max(1, a["sites"] - 1)
    assert b["objective"] <= a["objective"] + 1e-6


def test_notebook_views_of_a_plan(tmp_path: Path):
    """The tidy tables hold the figures of the plan's own tables; an unknown map indicator is a documented error."""
    import folium
    import pandas as pd
    from test_errors import documented

    from optimizer.errors import ConfigError
    from optimizer.planning.model import PlanningModel
    from optimizer.scenario import load_scenario

    scenario = load_scenario(make_planning_folder(tmp_path / "toy"))
    result = PlanningModel(scenario).solve()
    tidy = result.coverage_table()
    assert len(tidy) == 2 * len(result.coverage)
    after = tidy[tidy.state == "after"].set_index(["unit_id", "facility_type"])
    wide = result.coverage.set_index(["unit_id", "facility_type"])
    pd.testing.assert_series_equal(after["covered"], wide["covered_after"].astype(float), check_names=False)
    assert (after["out_of_reach"] == (wide["population"] - wide["covered_after"]).clip(lower=0)).all()
    sites = result.sites_table()
    assert list(sites["site_id"]) == list(result.chosen_sites["site_id"]) and {"lon", "lat"} <= set(sites.columns)
    html = result._repr_html_()
    assert "status <b>optimal</b>" in html and f"{result.budget_used:,.0f}" in html
    for indicator in ("rate_after", "change", "out_of_reach_after"):
        assert isinstance(result.explore(indicator, tiles=None), folium.Map)
    assert isinstance(scenario.explore(tiles=None), folium.Map)
    with pytest.raises(ConfigError) as err:
        result.explore("rate")
    assert str(err.value) == (
        "unknown indicator 'rate' Hint: use one of rate_after, rate_before, change, "
        "out_of_reach_after, out_of_reach_before"
    )
    assert documented(err.value.message)
