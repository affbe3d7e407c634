"""Property-based fuzzing: broken scenarios and broken region files.

Hypothesis injects faults into the toy planning folder of test_errors.py —
wrong types, unknown or missing keys, negative numbers (negative or NaN
budget caps and overrides too), broken YAML in the scenario and catalogue;
NaN/negative/text populations, duplicate IDs, a column header given twice,
swapped or far-away coordinates, missing locations, unknown units, unknown and
case-mismatched types (``Library``, ``CLINIC``, site kind ``Seat``) in the
data files (CSV or GeoPackage) — and runs the whole pipeline
(``optimizer.pipeline.run``, without writing files). Every outcome must be

* a :class:`RegionoptError` whose message has the shape of an example in
  docs/errors.md (quoted names and numbers aside), or
* a plan that respects the total budget, every family and unit cap, every
  hard standard, the required and forbidden sites and the site kinds.

Anything else — another exception, an undocumented message, an invalid plan —
fails. The runs are derandomised (reproducible); set ``FUZZ_EXAMPLES`` to
search longer with fresh random examples, e.g. ``FUZZ_EXAMPLES=2000``.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_errors import CATALOGUE, SCENARIO, documented, make_planning_folder

from optimizer.errors import RegionoptError
from optimizer.pipeline import run as run_pipeline

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))


def fuzz_settings(default_examples: int) -> settings:
    """Derandomised and sized to keep this file under a minute; ``FUZZ_EXAMPLES=n`` for a longer random search."""
    return settings(
        max_examples=EXAMPLES or default_examples,
        deadline=None,
        derandomize=not EXAMPLES,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )


@pytest.fixture(scope="module")
def template() -> Path:
    root = Path(tempfile.mkdtemp(prefix="regionopt-fuzz-")).resolve()
    make_planning_folder(root)
    yield root
    shutil.rmtree(root, ignore_errors=True)


# ----------------------------------------------------------------------------- the outcome
def check_outcome(scenario_path: Path) -> str:
    """Run the pipeline; assert a documented error or a valid plan. Returns 'error' or 'plan'."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # loader warnings (e.g. an ignored column) are not errors
        try:
            outcome = run_pipeline(scenario_path, write=False)
        except RegionoptError as err:
            assert err.exit_code == 2
            assert documented(err.message), f"undocumented error message: {err}"
            return "error"
    check_plan(outcome.result)
    return "plan"


def check_plan(result) -> None:
    """The plan obeys the budget (total, families, units), hard standards, required/forbidden sites, site kinds."""
    sc = result.scenario
    region = sc.region
    assert result.status in ("optimal", "feasible")
    if result.status == "feasible":
        assert result.gap is None or result.gap >= 0
    chosen = result.chosen_sites
    tol = 1e-6 * max(1.0, sc.budget.total)
    cost = {t: sc.catalogue[t].cost for t in sc.catalogue}
    spent = sum(cost[t] for t in chosen["facility_type"])
    assert spent <= sc.budget.total + tol, (spent, sc.budget.total)
    for family, cap in sc.budget.per_family.items():
        used = sum(cost[t] for t in chosen["facility_type"] if sc.catalogue[t].family == family)
        assert used <= cap + tol, (family, used, cap)
    site_units = region.unit_membership(chosen["unit_id"].astype(str).reset_index(drop=True))
    for cap in sc.budget.per_unit:
        units = region.admin_units.index[region.admin_units["level"].isin(cap.levels)].astype(str)
        for unit_id in units:
            amount = cap.overrides.get(unit_id, cap.amount)
            if amount is None:
                continue
            rows = site_units.loc[site_units["unit_id"] == unit_id, "row"]
            used = sum(cost[t] for t in chosen["facility_type"].iloc[rows.to_numpy()])
            assert used <= amount + tol, (unit_id, used, amount)
    # Hard standards, counted independently of the model: facilities (existing + new) in the unit or below it.
    after = result.facilities_after
    membership = region.unit_membership(after["unit_id"].astype(str).reset_index(drop=True))
    membership["facility_type"] = after["facility_type"].astype(str).to_numpy()[membership["row"].to_numpy()]
    counts = membership.groupby(["unit_id", "facility_type"]).size()
    for std in sc.standard_list():
        if std.hard:
            have = int(counts.get((std.unit_id, std.facility_type), 0))
            assert have >= std.count, (std, have)
    picked = set(zip(chosen["site_id"].astype(str), chosen["facility_type"], strict=False))
    for rule in sc.sites.required:
        assert (rule.site_id, rule.facility_type) in picked, rule
    for rule in sc.sites.forbidden:
        assert not any(s == rule.site_id and (rule.facility_type in (None, t)) for s, t in picked), rule
    kinds = region.candidates["kind"].astype(str)
    for site_id, type_id in picked:
        allowed = sc.catalogue[type_id].sites
        assert allowed is None or kinds[site_id] in allowed, (site_id, type_id)
    assert len(picked) == len(chosen)  # at most one facility of a type per site


# ----------------------------------------------------------------------------- scenario and catalogue faults
BASE_SCENARIO = yaml.safe_load(SCENARIO)
BASE_CATALOGUE = yaml.safe_load(CATALOGUE)

# Keys worth poking, existing or not (set creates them).
PATHS = [
    "name",
    "title",
    "region",
    "region.name",
    "region.demand",
    "region.candidates",
    "region.facilities",
    "region.admin_units.layer",
    "region.projected_crs",
    "catalogue",
    "types",
    "standards",
    "standards.mode",
    "standards.penalty",
    "standards.levels",
    "standards.levels.county",
    "standards.levels.county.required",
    "standards.levels.county.mode",
    "standards.levels.province",
    "standards.levels.province.required",
    "budget",
    "budget.total",
    "budget.per_family",
    "budget.per_family.culture",
    "budget.per_family.health",
    "budget.per_unit",
    "objective",
    "objective.kind",
    "objective.weights",
    "objective.weights.clinic",
    "objective.coverage_targets",
    "objective.coverage_targets.clinic",
    "objective.access_cap_km",
    "objective.equity",
    "objective.equity.levels",
    "objective.equity.compare",
    "sites",
    "sites.required",
    "sites.forbidden",
    "solver",
    "solver.name",
    "solver.time_limit",
    "solver.mip_gap",
    "solver.threads",
    "outputs",
    "outputs.maps",
    "limits",
    "limits.max_memory_gb",
    "facility_types",
    "facility_types.clinic",
    "facility_types.clinic.cost",
    "facility_types.library.capacity",
    "facility_types.museum",
]
CATALOGUE_PATHS = [
    "facility_types",
    "facility_types.clinic",
    "facility_types.clinic.cost",
    "facility_types.clinic.family",
    "facility_types.clinic.service",
    "facility_types.clinic.service.distance_km",
    "facility_types.clinic.service.minutes",
    "facility_types.clinic.capacity",
    "facility_types.clinic.sites",
    "facility_types.clinic.serves",
    "facility_types.library.cost",
    "facility_types.library.service.urban",
    "facility_types.library.sites",
    "name",
]

words = st.sampled_from(
    [
        "library",
        "clinic",
        "museum",
        "county",
        "province",
        "city",
        "c1",
        "c2",
        "zj",
        "s1",
        "s2",
        "s9",
        "seat",
        "hard",
        "soft",
        "highs",
        "cbc",
        "HiGHS",
        "coverage",
        "equity",
        "min_cost",
        "access",
        "culture",
        "health",
        "all",
        "elderly",
        "units",
        "group_vs_rest",
        "data/demand.csv",
        "catalogue.yaml",
        "EPSG:32651",
        "",
    ]
)
numbers = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([1e7, 5e7, 1e8, 3e8, 1e-9, 0.5, 0.05, 2.5, -1e8, 1e300]),
    st.floats(allow_nan=True, allow_infinity=True),
)
leaves = st.one_of(st.none(), st.booleans(), numbers, words, st.text(max_size=6))
values = st.one_of(
    leaves,
    st.lists(st.one_of(words, numbers), max_size=3),
    st.dictionaries(words, st.one_of(numbers, words, st.lists(words, max_size=2)), max_size=3),
    # well-formed pieces, so the fuzz also reaches the later checks and the solver
    st.fixed_dictionaries(
        {"levels": st.sampled_from(["county", ["province"], "city"]), "amount": st.sampled_from([2e7, 5e7, 1e8, None])}
    ).map(lambda d: [d]),
    st.lists(
        st.fixed_dictionaries(
            {
                "site_id": st.sampled_from(["s1", "s2", "s3", "s9"]),
                "facility_type": st.sampled_from(["clinic", "library", "museum"]),
            }
        ),
        max_size=2,
    ),
    st.fixed_dictionaries({"required": st.lists(st.sampled_from(["clinic", "library"]), min_size=1, max_size=2)}),
)


def set_path(data: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    target = data
    for key in keys[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[keys[-1]] = value


def delete_path(data: dict, dotted: str) -> None:
    keys = dotted.split(".")
    target = data
    for key in keys[:-1]:
        target = target.get(key)
        if not isinstance(target, dict):
            return
    target.pop(keys[-1], None)


def typo(key: str, data) -> st.SearchStrategy[str]:
    return st.sampled_from([key + "s", key[:-1] or "x", key.upper(), key.replace("_", ""), "colour", "totl"])


# Valid alternatives for scenario settings: most fuzzed scenarios should reach the solver too.
SENSIBLE = {
    "budget.total": st.sampled_from([1e7, 3e7, 6e7, 1e8, 1.6e8, 5e8]),
    "budget.per_family": st.sampled_from(
        [{"culture": 5e7}, {"culture": 1e8, "health": 1e7}, {"health": 0}, {"health": -1e8}, {"culture": float("nan")}]
    ),  # negative / NaN caps
    "budget.per_unit": st.sampled_from(
        [
            [{"levels": "county", "amount": 6e7}],
            [{"levels": ["county"], "amount": None, "overrides": {"c1": 1e7}}],
            [{"levels": "province", "amount": 5e7}],
            [{"levels": "county", "amount": -6e7}],
            [{"levels": "county", "amount": 6e7, "overrides": {"c2": -1.0}}],
        ]
    ),
    "standards.mode": st.sampled_from(["hard", "soft"]),
    "standards.levels.county.required": st.sampled_from([["library"], ["clinic", "library"], {"clinic": 2}]),
    "standards.levels.province": st.sampled_from(
        [{"required": ["library"], "mode": "hard"}, {"required": {"clinic": 3}, "mode": "soft", "penalty": 10}]
    ),
    "objective.kind": st.sampled_from(["coverage", "equity", "min_cost", "access"]),
    "objective.weights": st.sampled_from([{"clinic": 2}, {"library": 0}, {}]),
    "objective.coverage_targets": st.sampled_from([{"clinic": 0.5}, {"library": 0.9}, {}]),
    "sites.required": st.sampled_from(
        [[{"site_id": "s1", "facility_type": "library"}], [{"site_id": "s2", "facility_type": "clinic"}]]
    ),
    "sites.forbidden": st.sampled_from([[{"site_id": "s1"}], [{"site_id": "s3", "facility_type": "library"}]]),
    "solver.mip_gap": st.sampled_from([0.0, 0.01, 0.5]),
    "facility_types.clinic": st.sampled_from([{"capacity": 150}, {"cost": 0}, {"service": {"distance_km": 5}}]),
    "facility_types.museum": st.just({"family": "culture", "cost": 3e7, "service": {"minutes": 30, "speed_kmh": 40}}),
    "types": st.sampled_from([["library"], ["clinic", "library"], ["Library"]]),
    "ignore_facility_types": st.sampled_from([["gym"], ["library"], ["Library"]]),
    "limits.max_memory_gb": st.sampled_from([0.01, 0.1, 4]),
}


@st.composite
def mutations(draw, paths: list[str]):
    if paths is PATHS and draw(st.booleans()):
        path = draw(st.sampled_from(sorted(SENSIBLE)))
        return ("set", path, draw(SENSIBLE[path]))
    kind = draw(st.sampled_from(["set", "set", "set", "delete", "unknown"]))
    path = draw(st.sampled_from(paths))
    if kind == "set":
        return ("set", path, draw(values))
    if kind == "delete":
        return ("delete", path, None)
    return ("unknown", path, draw(typo(path.rsplit(".", 1)[-1], None)))


def apply(data: dict, mutation) -> None:
    kind, path, value = mutation
    if kind == "set":
        set_path(data, path, value)
    elif kind == "delete":
        delete_path(data, path)
    else:
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        target = data
        for key in parent.split(".") if parent else []:
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target[value] = 1


@st.composite
def broken_text(draw, text: str) -> str:
    """Inject a syntax fault into YAML text (or none)."""
    fault = draw(st.sampled_from(["none", "none", "insert", "truncate", "tab", "dedent"]))
    if fault == "none":
        return text
    pos = draw(st.integers(0, len(text)))
    if fault == "insert":
        return (
            text[:pos]
            + draw(
                st.sampled_from(
                    [":", "[", "{", "'", '"', "- ", ": :", "!!python/name:os.system ", "&a ", "*b ", "\n  x", "%", "@"]
                )
            )
            + text[pos:]
        )
    if fault == "truncate":
        return text[:pos]
    if fault == "tab":
        return text.replace("\n  ", "\n\t", 1)
    lines = text.splitlines(keepends=True)
    i = draw(st.integers(0, len(lines) - 1))
    lines[i] = lines[i].lstrip()
    return "".join(lines)


def folder_with(template: Path, scenario_text: str, catalogue_text: str = CATALOGUE, data: Path | None = None) -> Path:
    root = Path(tempfile.mkdtemp(prefix="fuzz-", dir=template.parent))
    (root / "data").symlink_to(data or (template / "data"))
    (root / "scenario.yaml").write_text(scenario_text, encoding="utf-8")
    (root / "catalogue.yaml").write_text(catalogue_text, encoding="utf-8")
    return root


@fuzz_settings(300)  # ~0.03 s each: most faults stop at the schema
@given(
    scenario_mutations=st.lists(mutations(PATHS), max_size=3),
    catalogue_mutations=st.lists(mutations(CATALOGUE_PATHS), max_size=2),
    data=st.data(),
)
def test_fuzz_scenario_and_catalogue(template: Path, scenario_mutations, catalogue_mutations, data):
    scenario = copy.deepcopy(BASE_SCENARIO)
    catalogue = copy.deepcopy(BASE_CATALOGUE)
    for m in scenario_mutations:
        apply(scenario, m)
    for m in catalogue_mutations:
        apply(catalogue, m)
    try:
        scenario_text = yaml.safe_dump(scenario, allow_unicode=True, sort_keys=False)
        catalogue_text = yaml.safe_dump(catalogue, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        assume(False)
    scenario_text = data.draw(broken_text(scenario_text), label="scenario.yaml")
    catalogue_text = data.draw(broken_text(catalogue_text), label="catalogue.yaml")
    root = folder_with(template, scenario_text, catalogue_text)
    try:
        check_outcome(root / "scenario.yaml")
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ----------------------------------------------------------------------------- region file faults
DEMAND_ROWS = [
    ("d1", "100", 119.5, 29.5),
    ("d2", "200", 121.5, 29.5),
    ("d3", "300", 120.8, 30.5),
    ("d4", "50", 119.2, 28.4),
    ("d5", "80", 121.9, 30.9),
]
SITE_ROWS = [
    ("s1", "seat", 119.6, 29.6),
    ("s2", "seat", 121.4, 29.6),
    ("s3", "grid", 120.8, 30.4),
    ("s4", "seat", 119.9, 28.9),
]
FACILITY_ROWS = [("f1", "clinic", 119.5, 29.5), ("f2", "library", 121.6, 30.2)]

POPULATIONS = st.sampled_from(
    ["", "NaN", "nan", "-5", "abc", "1,234", "inf", "1e3", "0", "12.5", "-0", "7 people", "TRUE", "100"]
)
COORD_FAULTS = ["swap", "far", "just_outside", "blank", "nan", "shift_inside", "antimeridian", "text"]


@st.composite
def region_faults(draw):
    faults = []
    for _ in range(draw(st.integers(0, 3))):
        layer = draw(st.sampled_from(["demand", "sites", "facilities"]))
        kind = draw(
            st.sampled_from(
                ["population", "duplicate", "coordinate", "unit", "type", "capacity", "kind", "drop", "dupcol"]
            )
        )
        if kind == "population" and layer != "demand":
            kind = "coordinate"
        faults.append(
            (
                layer,
                kind,
                draw(st.integers(0, 4)),
                draw(st.integers(0, 4)),
                draw(POPULATIONS),
                draw(st.sampled_from(COORD_FAULTS)),
            )
        )
    return faults


def region_frames(faults) -> dict[str, pd.DataFrame]:
    frames = {
        "demand": pd.DataFrame(DEMAND_ROWS, columns=["demand_id", "population", "lon", "lat"]).astype(object),
        "sites": pd.DataFrame(SITE_ROWS, columns=["site_id", "kind", "lon", "lat"]).astype(object),
        "facilities": pd.DataFrame(FACILITY_ROWS, columns=["facility_id", "facility_type", "lon", "lat"]).astype(
            object
        ),
    }
    for layer, kind, i, j, population, coord in faults:
        df = frames[layer]
        if len(df) == 0:
            continue
        i, j = i % len(df), j % len(df)
        id_col = df.columns[0]
        if kind == "population":
            df.loc[i, "population"] = population
        elif kind == "duplicate":
            df.loc[i, id_col] = df.loc[j, id_col]
        elif kind == "unit":
            df["unit_id"] = df.get("unit_id", pd.Series([""] * len(df), dtype=object))
            df.loc[i, "unit_id"] = ["c3", "c1", "zj", "", "c2"][j]
        elif kind == "type" and layer == "facilities":
            df.loc[i, "facility_type"] = ["hospital", "CLINIC", "", "library", "Library"][j]  # case-mismatched too
        elif kind == "capacity" and layer == "facilities":
            df["capacity"] = df.get("capacity", pd.Series([""] * len(df), dtype=object))
            df.loc[i, "capacity"] = ["-40", "abc", "", "0", "100"][j]
        elif kind == "kind" and layer == "sites":
            df.loc[i, "kind"] = ["", "<b>x</b>", "Seat", "grid", "none"][j]
        elif kind == "drop":
            frames[layer] = df.drop(index=df.index[i]).reset_index(drop=True)
        elif kind == "dupcol":  # a header given twice (a CSV can say so; a GeoPackage cannot, see write_layer)
            column = df.columns[[1, 0, 2, 3, 1][j] % len(df.columns)]
            frames[layer] = pd.concat([df, df[[column]].iloc[:, :1]], axis=1)
        else:
            _coord_fault(df, i, j, coord)
    return frames


def _coord_fault(df: pd.DataFrame, i: int, j: int, coord: str) -> None:
    """Put the coordinate fault ``coord`` into row ``i`` of ``df`` (``j`` picks among variants)."""
    lon, lat = df.loc[i, "lon"], df.loc[i, "lat"]
    if coord == "swap":
        df.loc[i, "lon"], df.loc[i, "lat"] = lat, lon
    elif coord == "far":
        df.loc[i, "lon"], df.loc[i, "lat"] = 116.4, 39.9
    elif coord == "just_outside":
        df.loc[i, "lon"] = 122.05
    elif coord == "blank":
        df.loc[i, "lon"] = ""
    elif coord == "nan":
        df.loc[i, "lat"] = "nan"
    elif coord == "shift_inside":
        df.loc[i, "lon"], df.loc[i, "lat"] = 119.0 + 0.3 * j, 28.1 + 0.6 * j
    elif coord == "antimeridian":
        df.loc[i, "lon"] = -179.9
    else:
        df.loc[i, "lat"] = "30°N"


def write_layer(frame: pd.DataFrame, path: Path) -> Path:
    """CSV as is; GeoPackage with points built from numeric lon/lat (faulty cells: no geometry, text columns kept)."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
        return path
    import geopandas as gpd
    import shapely

    frame = frame.loc[:, ~frame.columns.duplicated()]  # a GeoPackage table cannot hold one column name twice
    lon = pd.to_numeric(frame["lon"], errors="coerce")
    lat = pd.to_numeric(frame["lat"], errors="coerce")
    geometry = [
        shapely.Point(x, y) if math.isfinite(x) and math.isfinite(y) else None for x, y in zip(lon, lat, strict=False)
    ]
    gdf = gpd.GeoDataFrame(frame.drop(columns=["lon", "lat"]), geometry=geometry, crs="EPSG:4326")
    if "population" in gdf:  # a numeric column when every cell is a number, else text, as a GIS would store it
        numeric = pd.to_numeric(gdf["population"], errors="coerce")
        if numeric.notna().all():
            gdf["population"] = numeric
    gdf.to_file(path, layer=path.stem, driver="GPKG")
    return path


SCENARIO_VARIANTS = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["hard", "soft"]),
        "required": st.sampled_from(
            ["[library]", "[library, clinic]", "{clinic: 2}", "[libary]", "[museum]", "[Library]"]
        ),
        "budget": st.sampled_from(["1.0e+7", "6.0e+7", "1.0e+8", "1.6e+8", "3.0e+8"]),
        "caps": st.sampled_from(
            [
                "",
                "\n  per_family: {culture: 1.0e+8}",
                "\n  per_unit: [{levels: county, amount: 6.0e+7}]",
                "\n  per_family: {culture: -1.0e+8}",
                "\n  per_unit: [{levels: county, overrides: {c1: -1}}]",
            ]
        ),
        "kind": st.sampled_from(["coverage", "equity", "access", "min_cost"]),
        "library_sites": st.sampled_from(["", "    sites: [seat]\n"]),
        # both types restricted: a site kind neither lists ('Seat', 'none', …) is an error, not a silent drop
        "clinic_sites": st.sampled_from(["", "    sites: [seat, grid]\n"]),
    }
)


@fuzz_settings(140)  # ~0.1 s each: files written, loaded, often solved
@given(faults=region_faults(), fmt=st.sampled_from([".csv", ".gpkg"]), variant=SCENARIO_VARIANTS)
def test_fuzz_region_files(template: Path, faults, fmt, variant):
    root = Path(tempfile.mkdtemp(prefix="fuzz-region-", dir=template.parent))
    try:
        data = root / "data"
        data.mkdir()
        shutil.copy(template / "data" / "region.gpkg", data / "region.gpkg")
        frames = region_frames(faults)
        paths = {name: write_layer(frame, data / f"{name}{fmt}") for name, frame in frames.items()}
        scenario = (
            SCENARIO.replace("data/demand.csv", f"data/{paths['demand'].name}")
            .replace("data/sites.csv", f"data/{paths['sites'].name}")
            .replace("data/facilities.csv", f"data/{paths['facilities'].name}")
            .replace("mode: hard", f"mode: {variant['mode']}")
            .replace("required: [library]", f"required: {variant['required']}")
            .replace("total: 1.0e+8", f"total: {variant['budget']}{variant['caps']}")
            + f"objective:\n  kind: {variant['kind']}\n"
            + ("  coverage_targets: {clinic: 0.5}\n" if variant["kind"] == "min_cost" else "")
        )
        catalogue = CATALOGUE.replace("    cost: 5.0e+7\n", "    cost: 5.0e+7\n" + variant["library_sites"]).replace(
            "    cost: 1.0e+7\n", "    cost: 1.0e+7\n" + variant["clinic_sites"]
        )
        (root / "scenario.yaml").write_text(scenario)
        (root / "catalogue.yaml").write_text(catalogue)
        check_outcome(root / "scenario.yaml")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_fuzz_checks_reach_both_outcomes(template: Path):
    """The two property tests are not vacuous: the base folder gives a plan, a typo a documented error."""
    root = folder_with(template, SCENARIO)
    assert check_outcome(root / "scenario.yaml") == "plan"
    root = folder_with(template, SCENARIO.replace("total:", "totl:"))
    assert check_outcome(root / "scenario.yaml") == "error"


# ----------------------------------------------------------------------------- the memory estimate is an upper bound
@settings(
    max_examples=EXAMPLES or 25,
    deadline=None,
    derandomize=not EXAMPLES,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    kind=st.sampled_from(["coverage", "equity", "min_cost", "access"]),
    capacity=st.sampled_from([None, 300.0]),
    km=st.sampled_from([3.0, 8.0, 25.0]),
    hard=st.booleans(),
    caps=st.booleans(),
)
def test_memory_estimate_bounds_the_built_model(seed, kind, capacity, km, hard, caps):
    """estimate_size() (before building) is never below the built model's rows, columns or nonzeros."""
    from toy import catalogue, facility_type, random_region

    from optimizer.config.schema import (
        BudgetConfig,
        ObjectiveConfig,
        StandardLevel,
        StandardsConfig,
        UnitCap,
    )
    from optimizer.planning.model import PlanningModel
    from optimizer.scenario import Scenario

    region = random_region(seed, n_demand=60, n_sites=12, n_existing=2, types=("clinic", "school"))
    cat = catalogue(
        facility_type("clinic", cost=10, km=km, capacity=capacity),
        facility_type("school", cost=7, km=km / 2, serves="school_age", family="education"),
    )
    budget = BudgetConfig(
        total=40,
        per_unit=[UnitCap(levels=["county"], amount=25)] if caps else [],
        per_family={"health": 30} if caps else {},
    )
    standards = StandardsConfig(mode="hard" if hard else "soft", levels={"county": StandardLevel(required=["clinic"])})
    objective = ObjectiveConfig(kind=kind, coverage_targets={"clinic": 0.1} if kind == "min_cost" else {})
    model = PlanningModel(
        Scenario(name="t", region=region, catalogue=cat, budget=budget, standards=standards, objective=objective)
    )
    estimate = model.estimate_size()
    model.build()
    assert model.size.rows <= estimate.rows
    assert model.size.columns <= estimate.columns
    assert model.size.nonzeros <= estimate.nonzeros
