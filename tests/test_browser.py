"""The maps and the report in a real headless Chromium with networking disabled.

Uses Debian's ``/usr/bin/chromium`` through Playwright (no downloaded
browser). Every test records console errors, page errors, failed requests,
blocked (non-``file:``) requests and dialogs, and fails on any of them.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from installed import DefaultRun
from test_impedance import MATRIX, line_region, minutes_type
from test_maps import EVIL_FACILITY, EVIL_SITE, EVIL_UNIT, build_toy_result
from toy import catalogue

from optimizer.config.schema import BudgetConfig, ImpedanceConfig
from optimizer.planning.model import PlanningModel
from optimizer.scenario import Scenario

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Belt and braces: even a request that escaped the router could not resolve a host.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
ZHEJIANG_GPKG = Path(__file__).resolve().parent.parent / "geodata" / "zhejiang" / "zhejiang.gpkg"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)"),
]

# Records what would otherwise go unnoticed; an attacker's payload would call these.
HOOKS = """
window.__dialogs = [];
['alert', 'confirm', 'prompt'].forEach(function (name) {
  window[name] = function (msg) { window.__dialogs.push(name + ':' + msg); };
});
"""


class Probe:
    """Everything a page did that a self-contained offline page must never do."""

    def __init__(self):
        self.console_errors: list[str] = []
        self.failed: list[str] = []
        self.blocked: list[str] = []
        self.dialogs: list[str] = []

    def attach(self, page) -> None:
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url} {r.failure}"))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def assert_clean(self, page) -> None:
        dialogs = []
        for frame in page.frames:
            dialogs += frame.evaluate("() => window.__dialogs || []")
        assert self.console_errors == []
        assert self.failed == []
        assert self.blocked == []
        assert self.dialogs == [] and dialogs == []


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=ARGS,
            headless=True,
            viewport={"width": 1400, "height": 900},
        )
        ctx.add_init_script(HOOKS)
        # Every implicit wait (goto, click, locators, wait_for_function) gets the generous limit too.
        ctx.set_default_timeout(WAIT_MS)
        yield ctx
        ctx.close()


@pytest.fixture
def open_page(browser):
    """``open_page(path) -> (page, probe)``: loads a file with the network blocked."""
    pages = []

    def _open(path: Path, fragment: str = ""):
        probe = Probe()

        def route(r):
            if r.request.url.startswith("file:"):
                r.continue_()
            else:
                probe.blocked.append(r.request.url)
                r.abort()

        page = browser.new_page()
        page.route("**/*", route)
        probe.attach(page)
        page.goto(path.resolve().as_uri() + fragment, wait_until="load")
        pages.append(page)
        return page, probe

    yield _open
    for page in pages:
        page.close()


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return build_toy_result(tmp_path_factory.mktemp("browser") / "out")


# Generous: with both cores busy a page can take many seconds to load and draw. Every wait
# below polls for a condition (never a fixed sleep) and fails only after this long.
WAIT_MS = 60_000


def wait_maps(frame, n: int) -> None:
    frame.wait_for_function(f"() => window.regionopt && regionopt.maps.length === {n}", timeout=WAIT_MS)


def wait_maps_synced(page, before: dict | None = None) -> list[dict]:
    """Poll until both maps show the same centre and zoom (and the second moved from ``before``); return the centres.

    Polled from here, reading the maps between short pauses, until the condition holds or WAIT_MS runs out.
    """
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        state = page.evaluate("() => regionopt.maps.map(v => [v.map.getCenter(), v.map.getZoom()])")
        (c0, z0), (c1, z1) = state
        moved = before is None or abs(c1["lat"] - before["lat"]) > 1e-12 or abs(c1["lng"] - before["lng"]) > 1e-12
        if moved and z0 == z1 and abs(c0["lat"] - c1["lat"]) <= 1e-9 and abs(c0["lng"] - c1["lng"]) <= 1e-9:
            return [c0, c1]
        if time.monotonic() > deadline:
            raise AssertionError(f"maps not synced within {WAIT_MS} ms: {state} (before: {before})")
        page.wait_for_timeout(50)  # a pause between polls, not a wait for the outcome


def unit_index(frame, unit_id: str) -> int:
    return frame.evaluate(f"() => regionopt.data().units.id.indexOf({json.dumps(unit_id)})")


# ----------------------------------------------------------------------------- maps
def test_side_by_side_maps_offline_synced(open_page, toy, tmp_path):
    page, probe = open_page(toy / "map_compare.html")
    wait_maps(page, 2)
    # Each map is built at its fitted view, set without animation: the zoom the view drew its level of detail
    # for (recorded when built) is the zoom it shows, not folium's start zoom (7) with a zoom animation pending.
    built, shown = page.evaluate("() => [regionopt.timings.map(t => t.zoom), regionopt.maps.map(v => v.map.getZoom())]")
    assert built == shown and shown[0] != 7, (built, shown)
    info = page.evaluate(
        """() => regionopt.maps.map(v => ({
            role: v.role,
            main: v.map.hasLayer(v.layers.main) ? v.layers.main.getLayers().length : 0,
            upper: v.layers.upper.getLayers().length,
            demand: v.layers.demand.getLayers().length,
            facilities: v.layers.facilities.getLayers().length,
            canvases: v.map.getContainer().querySelectorAll('.leaflet-overlay-pane canvas').length
        }))"""
    )
    assert [m["role"] for m in info] == ["before", "after"]
    assert [m["main"] for m in info] == [2, 2]  # two county polygons drawn on each map
    assert [m["upper"] for m in info] == [1, 1]
    assert [m["demand"] for m in info] == [60, 60]
    n_new = len(json.loads((toy / "solution.json").read_text())["chosen_sites"])
    assert [m["facilities"] for m in info] == [3, 3 + n_new]  # the plan's facilities only "after"
    assert [m["canvases"] for m in info] == [1, 1]  # everything on one canvas per map
    # Zoom the right map in one step, straight after loading: both maps must take the step and keep it.
    # (An animated initial fit, zoom 7 -> 11 on this toy, used to end after such a step and snap both maps
    # back to zoom 11.) Held = both at the target with no zoom animation left to end.
    zoom, high = page.evaluate("() => [regionopt.maps[1].map.getZoom(), regionopt.maps[1].map.getMaxZoom()]")
    target = zoom + 1
    assert target <= high, f"no zoom step possible: zoom {zoom}, max {high}"
    page.evaluate(f"() => {{ regionopt.maps[1].map.setZoom({target}, {{animate: false}}); }}")
    held = f"v => v.map.getZoom() === {target} && !v.map._animatingZoom"
    page.wait_for_function(f"() => regionopt.maps.every({held})", timeout=WAIT_MS)
    # Pan the left map: the right one follows, and the zoom step still holds on both.
    before = page.evaluate("() => regionopt.maps[1].map.getCenter()")
    page.evaluate("() => { regionopt.maps[0].map.panBy([180, 60], {animate: false}); }")
    centers = wait_maps_synced(page, before)
    assert centers[1] != before
    assert centers[0]["lat"] == pytest.approx(centers[1]["lat"], abs=1e-9)
    assert centers[0]["lng"] == pytest.approx(centers[1]["lng"], abs=1e-9)
    assert page.evaluate("() => regionopt.maps.map(v => v.map.getZoom())") == [target, target]
    # Zoom the left map out two steps: the right one follows and both keep it.
    target -= 2
    page.evaluate(f"() => {{ regionopt.maps[0].map.setZoom({target}, {{animate: false}}); }}")
    held = f"v => v.map.getZoom() === {target} && !v.map._animatingZoom"
    page.wait_for_function(f"() => regionopt.maps.every({held})", timeout=WAIT_MS)
    shot = tmp_path / "compare.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    probe.assert_clean(page)


@pytest.fixture(scope="module")
def od_toy(tmp_path_factory) -> Path:
    """The hand-made OD matrix of tests/test_impedance.py with a 30-minute clinic standard, solved and drawn.

    Within 30 min: d0-f0 0, d0-s0 5, d1-s0 14, d1-s1 16, d1-f0 20, d2-s1 9 (d2-s0 is 70). One site in the
    budget: s1 newly reaches d2 (400 people), s0 nobody new, so the plan builds s1.
    """
    tmp = tmp_path_factory.mktemp("od-browser")
    (tmp / "od.csv").write_text(MATRIX)
    sc = Scenario(
        name="od",
        region=line_region(),
        catalogue=catalogue(minutes_type(30)),
        budget=BudgetConfig(total=10),
        impedance=ImpedanceConfig(kind="od_matrix", path=tmp / "od.csv"),
    )
    result = PlanningModel(sc).solve()
    assert list(result.chosen_sites["site_id"]) == ["s1"]
    return result.write(tmp / "out", maps=True, report=False)


def test_clicking_a_demand_point_shows_minutes_to_the_nearest_facility(open_page, od_toy):
    """Click each demand dot; its popup gives the matrix minutes to the quickest clinic, before → after."""
    # By hand from the matrix: before only f0 is open, after f0 and s1 (pairs beyond 30 min are out of reach).
    minutes = {
        "d0,f0": 0.0,
        "d0,s0": 5.0,
        "d1,s0": 14.0,
        "d1,s1": 16.0,
        "d1,f0": 20.0,
        "d2,s1": 9.0,
    }

    def quickest(demand_id: str, open_: tuple[str, ...]) -> float | None:
        times = [minutes[f"{demand_id},{t}"] for t in open_ if f"{demand_id},{t}" in minutes]
        return min(times) if times else None

    page, probe = open_page(od_toy / "map_toggle.html")
    wait_maps(page, 1)
    # d0 lies under the existing clinic: hide the facility symbols so the click lands on the dot itself.
    page.evaluate(
        """() => { const s = regionopt.state();
                   const fams = {}; Object.keys(s.layers.families).forEach(k => fams[k] = false);
                   regionopt.setState({layers: Object.assign({}, s.layers, {families: fams})}); }"""
    )
    popup = page.locator(".leaflet-popup-content")
    for i, demand_id in enumerate(["d0", "d1", "d2"]):
        x, y = page.evaluate(
            f"""() => {{ const v = regionopt.maps[0], m = v.demandMarkers[{i}];
                        const p = v.map.latLngToContainerPoint(m.getLatLng());
                        const r = v.map.getContainer().getBoundingClientRect();
                        return [r.left + p.x, r.top + p.y]; }}"""
        )
        page.mouse.click(x, y)
        page.wait_for_function(
            f"() => (document.querySelector('.leaflet-popup-content') || {{}}).textContent"
            f" && regionopt.maps[0].map._popup && regionopt.maps[0].map._popup._source"
            f" && regionopt.maps[0].map._popup._source === regionopt.maps[0].demandMarkers[{i}]"
        )
        text = popup.inner_text()
        match = re.search(r"nearest facility: (\S+)(?: min)? → (\S+)(?: min)?", text.replace("none in reach", "none"))
        assert match, text
        got = [None if v == "none" else float(v) for v in match.groups()]
        assert got == [quickest(demand_id, ("f0",)), quickest(demand_id, ("f0", "s1"))], text
        page.keyboard.press("Escape")
        page.wait_for_function("() => !document.querySelector('.leaflet-popup-content')")
    probe.assert_clean(page)


def test_hostile_names_show_as_text(open_page, toy):
    page, probe = open_page(toy / "map_toggle.html")
    wait_maps(page, 1)
    # Hide points and symbols so the mouse lands on county B itself.
    page.evaluate(
        """() => { const s = regionopt.state();
                   const fams = {}; Object.keys(s.layers.families).forEach(k => fams[k] = false);
                   regionopt.setState({layers: Object.assign({}, s.layers, {demand: false, families: fams})}); }"""
    )
    b = unit_index(page, "B")
    x, y = page.evaluate(
        f"""() => {{ const v = regionopt.maps[0];
                    const poly = v.layers.main.getLayers().find(l => l._ro === {b});
                    const p = v.map.latLngToContainerPoint(poly.getBounds().getCenter());
                    const r = v.map.getContainer().getBoundingClientRect();
                    return [r.left + p.x, r.top + p.y]; }}"""
    )
    page.mouse.move(x, y)
    tip = page.locator(".leaflet-tooltip")
    tip.wait_for(timeout=WAIT_MS)
    assert EVIL_UNIT in tip.inner_text()
    assert tip.locator("img").count() == 0
    # The new facility at the hostile site: click it, read its popup.
    page.evaluate(
        "() => regionopt.setState({layers: Object.assign({}, regionopt.state().layers, "
        "{families: {health: true, culture: true, education: true}})})"
    )
    page.mouse.move(5, 5)
    x, y = page.evaluate(
        f"""() => {{ const v = regionopt.maps[0], F = regionopt.data().facilities;
                    const i = F.name.indexOf({json.dumps(EVIL_SITE)});
                    const m = v.facMarkers[i];
                    const p = v.map.layerPointToContainerPoint(m._point);
                    const r = v.map.getContainer().getBoundingClientRect();
                    return [r.left + p.x, r.top + p.y]; }}"""
    )
    page.mouse.click(x, y)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=WAIT_MS)
    text = popup.inner_text()
    assert EVIL_SITE in text and "people newly covered" in text
    assert popup.locator("img").count() == 0
    # The existing clinic with a hostile name, and its "assumed" label.
    page.keyboard.press("Escape")
    x, y = page.evaluate(
        f"""() => {{ const v = regionopt.maps[0], F = regionopt.data().facilities;
                    const m = v.facMarkers[F.name.indexOf({json.dumps(EVIL_FACILITY)})];
                    const p = v.map.layerPointToContainerPoint(m._point);
                    const r = v.map.getContainer().getBoundingClientRect();
                    return [r.left + p.x, r.top + p.y]; }}"""
    )
    page.mouse.click(x, y)
    page.wait_for_function(
        f"() => document.querySelector('.leaflet-popup-content').textContent.includes({json.dumps(EVIL_FACILITY)})"
    )
    assert "illustrative baseline" in page.locator(".leaflet-popup-content").inner_text()
    assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
    probe.assert_clean(page)


def test_toggle_and_language_and_type(open_page, toy):
    page, probe = open_page(toy / "map_toggle.html")
    wait_maps(page, 1)
    label = page.locator(".ro-label")
    assert label.get_attribute("data-show") == "after"
    after_fills = page.evaluate("() => regionopt.maps[0].layers.main.getLayers().map(l => l.options.fillColor)")
    page.locator(".ro-seg button[data-show=before]").click()
    assert label.get_attribute("data-show") == "before"
    assert page.evaluate("() => regionopt.maps[0].layers.facilities.getLayers().length") == 3
    before_fills = page.evaluate("() => regionopt.maps[0].layers.main.getLayers().map(l => l.options.fillColor)")
    assert before_fills != after_fills  # the plan raised coverage in at least one county
    page.locator("select.ro-key").select_option("clinic")
    assert page.evaluate("() => regionopt.state().key") == "clinic"
    assert page.evaluate("() => regionopt.maps[0].layers.facilities.getLayers().length") == 1  # the one existing clinic
    page.locator("select.ro-indicator").select_option("standards")
    fills = page.evaluate("() => regionopt.maps[0].layers.main.getLayers().map(l => l.options.fillColor)")
    assert set(fills) <= {"#4575b4", "#d73027"}  # met / not met before (no "newly met" before)
    page.locator(".ro-lang button[data-lang=zh]").click()
    assert "规划前" in label.inner_text() and "配置标准" in label.inner_text()
    page.locator(".ro-panel input[data-areas=upper]").check()
    assert page.evaluate("() => regionopt.maps[0].map.hasLayer(regionopt.maps[0].layers.upper)")
    probe.assert_clean(page)


# ----------------------------------------------------------------------------- report
def test_report_page(open_page, toy, tmp_path):
    page, probe = open_page(toy / "index.html")
    page.wait_for_function("() => document.documentElement.dataset.reportReady === '1'")
    frames = {f.url.split("/")[-1].split("#")[0]: f for f in page.frames if f != page.main_frame}
    assert set(frames) == {"map_compare.html", "map_toggle.html"}
    page.locator("#map-toggle").scroll_into_view_if_needed()
    wait_maps(frames["map_compare.html"], 2)
    wait_maps(frames["map_toggle.html"], 1)
    # Hostile names are table text, not markup.
    cell = page.locator("#table-units tbody tr:not([hidden]) td").filter(has_text="B县").first
    assert EVIL_UNIT in cell.inner_text()
    # Sort by "rate after", twice.
    header = page.locator("#table-units th").nth(5)
    header.click()
    values = page.evaluate(
        "() => [...document.querySelectorAll('#table-units tbody tr:not([hidden]) td:nth-child(6)')]"
        ".map(td => parseFloat(td.dataset.v))"
    )
    assert values == sorted(values) and len(values) == 3
    header.click()
    values = page.evaluate(
        "() => [...document.querySelectorAll('#table-units tbody tr:not([hidden]) td:nth-child(6)')]"
        ".map(td => parseFloat(td.dataset.v))"
    )
    assert values == sorted(values, reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    # Filter the unit table by type.
    page.locator("#unit-table-key").select_option("school")
    keys = page.evaluate(
        "() => [...document.querySelectorAll('#table-units tbody tr:not([hidden])')].map(r => r.dataset.key)"
    )
    assert keys == ["school"] * 3
    # Switch the language: page and maps follow.
    assert page.locator("h1 .l-en").is_visible() and not page.locator("h1 .l-zh").is_visible()
    page.locator(".lang-switch button[data-lang=zh]").click()
    assert page.evaluate("() => document.documentElement.lang") == "zh"
    assert page.locator("h1 .l-zh").is_visible() and not page.locator("h1 .l-en").is_visible()
    frames["map_compare.html"].wait_for_function("() => regionopt.state().lang === 'zh'")
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    probe.assert_clean(page)


# ----------------------------------------------------------------------------- the real default
@pytest.fixture(scope="module")
def zhejiang_report(zhejiang_default_run: DefaultRun) -> Path:
    """The result folder of the session's one full run of the shipped default (tests/conftest.py)."""
    if not ZHEJIANG_GPKG.is_file():
        pytest.skip(f"{ZHEJIANG_GPKG} not built (python geodata/build_zhejiang.py)")
    return zhejiang_default_run.out


@pytest.mark.slow
def test_zhejiang_default_report(open_page, zhejiang_report, tmp_path):
    import geopandas as gpd

    out = zhejiang_report
    units = gpd.read_file(ZHEJIANG_GPKG, layer="admin_units")
    mapped = units[~(units.geometry.isna() | units.geometry.is_empty)]
    n_counties = int((mapped["level"] != "city").sum())
    n_cities = int((mapped["level"] == "city").sum())
    sizes = sum(p.stat().st_size for p in out.rglob("*") if p.suffix in (".html", ".js", ".css", ".png"))
    assert sizes < 15e6

    t0 = time.perf_counter()
    page, probe = open_page(out / "map_compare.html")
    load = time.perf_counter() - t0
    wait_maps(page, 2)
    counts = page.evaluate(
        "() => regionopt.maps.map(v => [v.layers.main.getLayers().length, v.layers.upper.getLayers().length,"
        " v.layers.demand.getLayers().length])"
    )
    n_demand = len(gpd.read_file(out / "result.gpkg", layer="demand", columns=["unit_id"]))
    assert counts == [[n_counties, n_cities, n_demand]] * 2
    assert n_counties == 90 and n_cities == 11
    before = page.evaluate("() => regionopt.maps[0].map.getCenter()")
    page.evaluate("() => { regionopt.maps[1].map.panBy([-200, 100], {animate: false}); }")
    # The left map must follow the right one: poll until it has moved and both agree.
    page.wait_for_function(
        f"""() => {{ const c = regionopt.maps.map(v => v.map.getCenter());
                    return (c[0].lat !== {before["lat"]!r} || c[0].lng !== {before["lng"]!r})
                        && Math.abs(c[0].lat - c[1].lat) <= 1e-9 && Math.abs(c[0].lng - c[1].lng) <= 1e-9; }}""",
        timeout=WAIT_MS,
    )
    c = page.evaluate("() => regionopt.maps.map(v => v.map.getCenter())")
    assert c[0]["lat"] == pytest.approx(c[1]["lat"], abs=1e-9) and c[0]["lng"] == pytest.approx(c[1]["lng"], abs=1e-9)
    page.screenshot(path=str(tmp_path / "zhejiang-compare.png"))
    probe.assert_clean(page)

    page, probe = open_page(out / "index.html")
    status = json.loads((out / "solution.json").read_text())["status"]
    banner = page.locator("#solver-status").inner_text()
    assert ("NOT proven optimal" in banner) == (status != "optimal")
    frames = [f for f in page.frames if f != page.main_frame]
    wait_maps(frames[0], 2)
    page.screenshot(path=str(tmp_path / "zhejiang-report.png"))
    probe.assert_clean(page)
    print(f"\nZhejiang default ({status}): report files {sizes / 1e6:.1f} MB, side-by-side map load {load:.2f} s")


# ----------------------------------------------------------------------------- the gap: out of reach, change, legend, names
#: Screenshots of the gap indicators, kept for a reader to look at (git-ignored).
ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "browser"

REACH_COLOURS = ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"]
CHANGE_COLOURS = ["#b2182b", "#ef8a62", "#fddbc7", "#f7f7f7", "#d1e5f0", "#67a9cf", "#2166ac"]


def _nice_ceil(v: float) -> float:
    import math

    p = 10 ** math.floor(math.log10(v))
    m = v / p
    return (1 if m <= 1 else 2 if m <= 2 else 5 if m <= 5 else 10) * p


def _expected_reach_colour(value: float, top: float) -> str:
    if value <= 0:
        return "#f7f7f7"
    breaks = [top / 16, top / 8, top / 4, top / 2, top]
    return next((REACH_COLOURS[k] for k, b in enumerate(breaks) if value <= b), REACH_COLOURS[-1])


def _expected_change_colour(d: float) -> str:
    a = abs(d)
    k = 0 if a < 0.0005 else 1 if a < 0.02 else 2 if a < 0.10 else 3
    return CHANGE_COLOURS[3 + (-k if d < 0 else k)]


def _rects_overlap(a: dict, b: dict) -> bool:
    return a["left"] < b["right"] and b["left"] < a["right"] and a["top"] < b["bottom"] and b["top"] < a["bottom"]


def _rect(page, selector: str) -> dict:
    return page.evaluate(
        f"() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
        " return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; }"
    )


def _unit_fills(page) -> dict[str, str]:
    return dict(
        page.evaluate(
            "() => regionopt.maps[0].layers.main.getLayers().map(l => "
            "[regionopt.data().units.id[l._ro], l.options.fillColor])"
        )
    )


def test_out_of_reach_and_change_indicators(open_page, toy):
    import pandas as pd

    cov = pd.read_csv(toy / "coverage_by_unit.csv", dtype={"unit_id": str})
    counties = cov[cov["unit_id"].isin(["A", "B"])]
    page, probe = open_page(toy / "map_toggle.html")
    wait_maps(page, 1)

    # People out of reach per county, counted by hand from coverage_by_unit.csv (all types pooled).
    page.locator("select.ro-indicator").select_option("reach")
    assert "out of reach" in page.locator(".ro-label").inner_text()
    by_hand = {u: (g["population"] - g["covered_after"]).sum() for u, g in counties.groupby("unit_id")}
    before = {u: (g["population"] - g["covered_before"]).sum() for u, g in counties.groupby("unit_id")}
    data = page.evaluate(
        "() => { const d = regionopt.data(); return ['A', 'B'].map(u => d.reach.all[d.units.id.indexOf(u)]); }"
    )
    assert data == [[round(before["A"]), round(by_hand["A"])], [round(before["B"]), round(by_hand["B"])]]
    # Classes over the counties on show (the city's own count would swamp them).
    top = _nice_ceil(max(max(r) for r in data))
    fills = _unit_fills(page)
    assert fills == {u: _expected_reach_colour(round(by_hand[u]), top) for u in ("A", "B")}
    # As demand dots: only the points the clinics leave (partly) unserved after the plan.
    page.locator("select.ro-key").select_option("clinic")
    codes_before, codes_after = page.evaluate("() => regionopt.data().demand.status.clinic")
    shown = page.evaluate("() => regionopt.maps[0].layers.demand.getLayers().length")
    assert shown == sum(c in "12" for c in codes_after) < len(codes_after)
    page.locator(".ro-seg button[data-show=before]").click()
    assert page.evaluate("() => regionopt.maps[0].layers.demand.getLayers().length") == sum(
        c in "12" for c in codes_before
    )

    # Change after - before: diverging colour from the rates of coverage_by_unit.csv, dots where the plan helped.
    page.locator("select.ro-indicator").select_option("change")
    clinic = counties[counties["facility_type"] == "clinic"].set_index("unit_id")
    expected = {
        u: _expected_change_colour(
            round(clinic.at[u, "covered_after"] / clinic.at[u, "population"], 4)
            - round(clinic.at[u, "covered_before"] / clinic.at[u, "population"], 4)
        )
        for u in ("A", "B")
    }
    assert _unit_fills(page) == expected
    assert any(c != "#f7f7f7" for c in expected.values())  # the plan built clinics: some county gained
    helped = sum(int(a) > int(b) for a, b in zip(codes_after, codes_before, strict=False))
    assert page.evaluate("() => regionopt.maps[0].layers.demand.getLayers().length") == helped > 0
    fills = set(page.evaluate("() => regionopt.maps[0].layers.demand.getLayers().map(l => l.options.fillColor)"))
    assert fills == {"#1a9850"}
    legend = page.locator(".ro-legend").inner_text()
    assert "Change (after - before)" in legend and "newly within reach" in legend
    # The hash opens a map on an indicator.
    page2, probe2 = open_page(toy / "map_toggle.html", "#indicator=reach&key=clinic")
    wait_maps(page2, 1)
    assert page2.evaluate("() => regionopt.state().indicator") == "reach"
    probe.assert_clean(page)
    probe2.assert_clean(page2)


@pytest.mark.parametrize("size", [(1400, 900), (620, 640)])
def test_legend_never_hides_the_controls(open_page, toy, size):
    page, probe = open_page(toy / "map_toggle.html")
    page.set_viewport_size({"width": size[0], "height": size[1]})
    wait_maps(page, 1)
    page.evaluate("() => regionopt.maps[0].map.invalidateSize()")
    legend = page.locator(".ro-legend details")
    if not legend.evaluate("d => d.open"):
        page.locator(".ro-legend summary").click()
    page.wait_for_function("() => document.querySelector('.ro-legend details').open")
    page.locator("select.ro-indicator").select_option("reach")  # a long legend
    for folded in (False, True):  # legend open, then folded
        if folded:
            page.locator(".ro-legend summary").click()
            page.wait_for_function("() => !document.querySelector('.ro-legend details').open")
        legend_rect = _rect(page, ".ro-legend")
        for control in (".ro-panel", ".leaflet-control-zoom", ".ro-label"):
            assert not _rects_overlap(legend_rect, _rect(page, control)), (control, legend_rect)
        # Every layer switch in the panel can be clicked: nothing lies on top of it.
        hidden = page.evaluate("""() => [...document.querySelectorAll('.ro-panel input, .ro-panel select')].filter(e => {
            const r = e.getBoundingClientRect(); if (!r.width) return false;
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return !(hit === e || e.contains(hit) || (hit && hit.closest('label') === e.closest('label')));
        }).map(e => e.outerHTML)""")
        assert hidden == []
    assert _rect(page, ".ro-legend")["left"] < _rect(page, ".ro-panel")["left"]  # placed apart: bottom left
    probe.assert_clean(page)


def test_city_and_county_names_on_the_offline_map(open_page, toy):
    page, probe = open_page(toy / "map_toggle.html")
    wait_maps(page, 1)

    def names() -> list[str]:
        return sorted(page.evaluate("() => [...document.querySelectorAll('.ro-name-text')].map(e => e.textContent)"))

    assert page.evaluate("() => regionopt.map_zoom = regionopt.maps[0].map.getZoom()") >= 8
    units = page.evaluate("() => regionopt.data().units.name_en")
    assert names() == sorted(units)  # the city and both counties, in English
    page.locator(".ro-lang button[data-lang=zh]").click()
    zh = page.evaluate("() => regionopt.data().units.name")
    assert names() == sorted(zh)  # shown as text: the hostile county name runs nothing
    page.locator(".ro-panel input[data-layer=names]").uncheck()
    assert names() == []
    page.locator(".ro-panel input[data-layer=names]").check()
    assert len(names()) == 3
    # Zoomed out to province scale only the city names stay.
    page.evaluate("() => regionopt.maps[0].map.setZoom(7, {animate: false})")
    page.wait_for_function("() => document.querySelectorAll('.ro-name-text').length === 1")
    probe.assert_clean(page)


def test_gap_screenshots_written_as_artefacts(open_page, toy):
    """Screenshots of each indicator into tests/artifacts/browser/ (git-ignored), for a reader to check."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for indicator in ("coverage", "standards", "reach", "change"):
        page, probe = open_page(toy / "map_toggle.html", f"#indicator={indicator}")
        wait_maps(page, 1)
        assert page.evaluate("() => regionopt.state().indicator") == indicator
        shot = ARTIFACTS / f"toy-toggle-{indicator}.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        probe.assert_clean(page)
    page, probe = open_page(toy / "map_compare.html", "#indicator=change")
    wait_maps(page, 2)
    page.screenshot(path=str(ARTIFACTS / "toy-compare-change.png"))
    probe.assert_clean(page)


@pytest.mark.slow
def test_zhejiang_gap_screenshots(open_page, zhejiang_report):
    out = zhejiang_report
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for indicator in ("reach", "change"):
        page, probe = open_page(out / "map_toggle.html", f"#indicator={indicator}")
        wait_maps(page, 1)
        # City names at province scale, none of the 90 county names yet.
        assert page.evaluate("() => document.querySelectorAll('.ro-name-upper').length") == 11
        page.screenshot(path=str(ARTIFACTS / f"zhejiang-toggle-{indicator}.png"))
        probe.assert_clean(page)


ACCESS_COLOURS = ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"]


def _expected_access_colour(per_person: float, top: float) -> str:
    x = 1000 * per_person
    if x <= 0:
        return "#f7f7f7"
    breaks = [top * k / 5 for k in range(1, 6)]
    return next((ACCESS_COLOURS[k] for k, b in enumerate(breaks) if x <= b), ACCESS_COLOURS[-1])


def test_accessibility_indicator_matches_the_csvs(open_page, toy):
    """Choosing "Accessibility" colours the counties and dots by the E2SFCA ratios of the CSVs, as the tooltip says."""
    import numpy as np
    import pandas as pd

    units = pd.read_csv(toy / "accessibility_by_unit.csv", dtype={"unit_id": str})
    demand = pd.read_csv(toy / "accessibility_by_demand.csv", dtype={"demand_id": str})
    clinic = units[(units["facility_type"] == "clinic") & units["unit_id"].isin(["A", "B"])].set_index("unit_id")
    page, probe = open_page(toy / "map_toggle.html", "#key=clinic")
    wait_maps(page, 1)
    page.locator("select.ro-indicator").select_option("access")
    page.wait_for_function("() => regionopt.state().indicator === 'access'")
    assert "Accessibility (E2SFCA)" in page.locator(".ro-legend").inner_text()
    # The page carries the CSV ratios (6 significant digits).
    data = page.evaluate(
        "() => { const d = regionopt.data(); return ['A', 'B'].map(u => d.access.units.clinic[d.units.id.indexOf(u)]); }"
    )
    for u, (b, a) in zip(("A", "B"), data, strict=True):
        assert b == pytest.approx(clinic.at[u, "access_before"], rel=1e-5)
        assert a == pytest.approx(clinic.at[u, "access_after"], rel=1e-5)
    assert clinic["access_after"].sum() > clinic["access_before"].sum()  # the plan adds clinics
    # Colours: five equal classes up to a round maximum (per 1,000 people) over the counties, after the plan.
    top = _nice_ceil(1000 * clinic[["access_before", "access_after"]].to_numpy().max())
    expected = {u: _expected_access_colour(clinic.at[u, "access_after"], top) for u in ("A", "B")}
    page.wait_for_function(
        "(want) => regionopt.maps[0].layers.main.getLayers().every(l => "
        "want[regionopt.data().units.id[l._ro]] === undefined || "
        "l.options.fillColor === want[regionopt.data().units.id[l._ro]])",
        arg=expected,
    )
    assert _unit_fills(page) == expected
    # The legend's top class ends at that maximum.
    assert f"–{float(f'{top:.4g}'):g} per 1,000 people" in page.locator(".ro-legend").inner_text()
    # Tooltip of county A: before → after per 1,000 people, equal to the CSV (4 significant digits).
    a = unit_index(page, "A")
    tip = page.evaluate(f"() => regionopt.maps[0].unitTooltip({a}).querySelector('.ro-access').textContent")
    assert tip.endswith(" per 1,000 people")
    numbers = [float(x) for x in re.findall(r"\d*\.?\d+(?:e[-+]?\d+)?", tip.split(" per ")[0])]
    assert numbers == pytest.approx(
        [1000 * clinic.at["A", "access_before"], 1000 * clinic.at["A", "access_after"]], rel=6e-4
    )
    # Dots: each demand point coloured by its own ratio (accessibility_by_demand.csv), same classes.
    dem = demand[demand["facility_type"] == "clinic"].set_index("demand_id")
    ids = page.evaluate("() => regionopt.maps[0].demandMarkers.map((m, i) => i)")
    fills = page.evaluate(
        "() => regionopt.maps[0].demandMarkers.map(m => regionopt.maps[0].layers.demand.hasLayer(m) ? "
        "m.options.fillColor : null)"
    )
    scale = 10.0 ** page.evaluate("() => regionopt.data().access.demand.clinic.e")
    order = [v * scale for v in page.evaluate("() => regionopt.data().access.demand.clinic.v[1]")]
    assert len(order) == len(ids) == len(dem)
    codes_after = page.evaluate("() => regionopt.data().demand.status.clinic[1]")
    for i, (value, fill) in enumerate(zip(order, fills, strict=True)):
        if codes_after[i] == "0":
            assert fill is None
        else:
            assert fill == _expected_access_colour(value, top)
    # stored as integers times 10^e, 4 digits at the largest ratio
    assert scale == 10.0 ** (np.floor(np.log10(dem["access_after"].max())) - 3)
    assert sorted(order) == pytest.approx(sorted(dem["access_after"].tolist()), abs=scale / 2 + 1e-15)
    # A family has no single ratio: the legend says to pick a type.
    page.locator("select.ro-key").select_option("all")
    page.wait_for_function("() => regionopt.state().key === 'all'")
    assert "choose one facility type" in page.locator(".ro-legend").inner_text()
    probe.assert_clean(page)
