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
    params[0].source = (params[0].source.replace("SCENARIO = None", f"SCENARIO = {str(scenario)!r}")
                        .replace("BUDGET_SHARE = 0.5", "BUDGET_SHARE = 1.5"))
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o["data"]["text/html"] for o in outputs if o.get("output_type") == "execute_result" and "text/html" in o.get("data", {})]
    plans = [h for h in html if 'class="regionopt-plan"' in h]
    assert len(plans) == 2 and all("status <b>optimal</b>" in h for h in plans)
    assert sum("folium" in h or "leaflet" in h.lower() for h in html) >= 3  # region, change and out-of-reach maps
    printed = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    summary = ast.literal_eval(printed[printed.index("{'plan_a'"):].strip())
    a, b = summary["plan_a"], summary["plan_b"]
    # 1.5e8 yuan: the two libraries of the hard standard (5e7 each) plus clinics (1e7 each).
    assert a["budget_used"] <= 1.5e8 + 1e-6
    # Plan B may run one project fewer (the added PuLP row) and can only do as well or worse.
    assert b["sites"] <= b["limit"] == max(1, a["sites"] - 1)
    assert b["objective"] <= a["objective"] + 1e-6
