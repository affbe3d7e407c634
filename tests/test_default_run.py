"""`regionopt run` on the shipped Zhejiang default, end to end (one full solve per session, shared)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from installed import DefaultRun

PROVINCE = 64_567_588


@pytest.fixture(scope="module")
def default_run(zhejiang_default_run: DefaultRun) -> tuple[Path, str]:
    """The session's one ``regionopt run`` of the shipped default (tests/conftest.py): by the installed
    wheel where it can be built, else by this checkout's CLI; either way configs/zhejiang.yaml's content
    and the code of this checkout."""
    return zhejiang_default_run.out, zhejiang_default_run.output


def test_default_scenario_is_solved_to_optimality_or_a_small_stated_gap(default_run):
    out, output = default_run
    solution = json.loads((out / "solution.json").read_text())
    assert solution["status"] in ("optimal", "feasible")
    if solution["status"] == "feasible":
        assert solution["gap"] <= 0.001
        assert "NOT proven optimal" in output
    else:
        assert solution["optimal"] is True
        assert solution["gap"] <= 0.0005
    assert "status     optimal" in output or "NOT proven optimal" in output


def test_default_coverage_table_shows_every_type_before_and_after(default_run):
    out, output = default_run
    totals = pd.read_csv(out / "coverage_by_type.csv").set_index("facility_type")
    assert len(totals) == 14
    assert (totals["covered_after"] >= totals["covered_before"] - 1e-6).all()
    everyone = totals[totals["group"] == "all"]
    assert (everyone["population"] == PROVINCE).all()
    # The terminal table lists every type with its before -> after figures.
    for type_id in totals.index:
        assert type_id in output
    by_unit = pd.read_csv(out / "coverage_by_unit.csv", dtype={"unit_id": str})
    counties = by_unit[by_unit["level"].isin(["district", "county", "county_city"])]
    assert counties["unit_id"].nunique() == 90
    assert by_unit[by_unit["level"] == "city"]["unit_id"].nunique() == 11


def test_default_plan_respects_budget_and_caps(default_run):
    out, _ = default_run
    solution = json.loads((out / "solution.json").read_text())
    budget = solution["budget"]
    assert budget["used"] <= budget["total"] == 6.0e9
    assert all(v <= 1.0e9 + 1e-6 for v in budget["by_city"].values())
    caps = {"culture": 2.5e9, "health": 1.5e9, "education": 1.5e9, "elder_care": 0.5e9}
    for family, used in budget["by_family"].items():
        assert used <= caps[family] + 1e-6
    sites = pd.read_csv(out / "chosen_sites.csv")
    assert sites["cost"].sum() == pytest.approx(budget["used"])
    assert len(sites) == solution["new_facilities"] > 0


def test_default_run_writes_every_output_with_provenance(default_run):
    out, _ = default_run
    for name in (
        "solution.json",
        "chosen_sites.gpkg",
        "chosen_sites.csv",
        "coverage_by_unit.csv",
        "manifest.json",
        "index.html",
        "result.gpkg",
    ):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    gpkg = manifest["inputs"]["region.admin_units"]
    assert gpkg["path"].endswith("geodata/zhejiang/zhejiang.gpkg") and len(gpkg["sha256"]) == 64
    assert manifest["versions"]["highspy"] != "not installed"


def test_default_run_uses_terrain_and_reports_reach_in_the_mountain_counties(default_run):
    out, _ = default_run
    solution = json.loads((out / "solution.json").read_text())
    assert {v["kind"] for v in solution["impedance"].values()} == {"terrain"}
    rows = {r["area"]: r for r in solution["terrain_reach"]["rows"]}
    assert set(rows) == {"mountain26", "rest", "all"}
    # the population of the two areas adds up to the whole region's (person-services over all 14 types)
    assert rows["mountain26"]["population"] + rows["rest"]["population"] == pytest.approx(rows["all"]["population"])
    totals = pd.read_csv(out / "coverage_by_type.csv").set_index("facility_type")
    assert rows["all"]["population"] == pytest.approx(totals["population"].sum())
    # the plan's own coverage is the terrain one: equal where no capacity limits service, at least it elsewhere
    catalogue = pd.read_csv(out / "catalogue.csv").set_index("facility_type")
    for type_id, counts in solution["terrain_reach"]["by_type"].items():
        for state in ("before", "after"):
            within = counts[f"{state}_terrain"]
            served = totals.loc[type_id, f"covered_{state}"]
            if pd.isna(catalogue.loc[type_id, "capacity"]):
                assert within == pytest.approx(served), (type_id, state)
            else:
                assert within >= served - 1e-6, (type_id, state)
    for r in rows.values():  # terrain only shrinks radii
        assert r["before_terrain"] <= r["before_constant"] and r["after_terrain"] <= r["after_constant"]
    assert rows["mountain26"]["mean_detour"] > rows["rest"]["mean_detour"]
    page = (out / "index.html").read_text()
    assert 'id="table-terrain-reach"' in page and "26 mountain counties" in page
    assert "terrain-adjusted straight line" in page
    assert "adjusted for terrain" in (out / "map_data.js").read_text()
