"""Gridded demand (optimizer.io.grid): exact census sums, points inside their units, small units, errors.

The units are squares in UTM 50N (EPSG:32650, metres) so that the cells and
their centres can be counted by hand; the documented error messages are read
from docs/errors.md ("Gridded demand") and compared word for word.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import box
from test_errors import DOC

from optimizer.errors import InputError
from optimizer.io.grid import WEIGHT_SCALE, grid_demand, largest_remainder

UTM = "EPSG:32650"
SHIPPED = Path(__file__).resolve().parent.parent / "geodata" / "zhejiang" / "zhejiang.gpkg"
GROUPS = {"pop_0_14": "population", "pop_school_age": "pop_0_14", "pop_elderly": "population"}


def units_frame() -> gpd.GeoDataFrame:
    """Three units: a 3 × 2 km rectangle, a 2 × 2 km square beside it, a 300 m island (no cell centre)."""
    x0, y0 = 500_000.0, 3_300_000.0
    return gpd.GeoDataFrame(
        {
            "unit_id": ["a", "b", "isle"],
            "population": [1_001, 10, 57],
            "pop_0_14": [150, 3, 9],
            "pop_school_age": [101, 1, 5],
            "pop_elderly": [200, 2, 20],
        },
        geometry=[
            box(x0, y0, x0 + 3000, y0 + 2000),
            box(x0 + 3000, y0, x0 + 5000, y0 + 2000),
            box(x0 + 6100, y0 + 100, x0 + 6400, y0 + 400),
        ],
        crs=UTM,
    )


def hamilton(total: int, weights: list[int]) -> list[int]:
    """Largest remainder by hand, in exact fractions: floors, then +1 for the largest remainders (earlier first)."""
    quotas = [Fraction(total * w, sum(weights)) for w in weights]
    parts = [math.floor(q) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - parts[i]), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def test_uniform_grid_by_hand() -> None:
    """1-km cells: 6 centres in a, 4 in b, the island one point; every unit's counts exact, split as by hand."""
    out = grid_demand(units_frame(), 1.0, groups=GROUPS)
    assert out.crs == UTM and out.attrs["cell_km"] == 1.0
    assert out.groupby("unit_id").size().to_dict() == {"a": 6, "b": 4, "isle": 1}
    assert out["kind"].tolist() == ["grid"] * 10 + ["unit_point"]
    # 1,001 over 6 equal points: 166 each and 5 left over, to the first five points
    assert out.loc[out["unit_id"] == "a", "population"].tolist() == [167, 167, 167, 167, 167, 166]
    assert out.loc[out["unit_id"] == "b", "population"].tolist() == [3, 3, 2, 2]
    assert out.loc[out["unit_id"] == "isle", "population"].tolist() == [57]
    a = out[out["unit_id"] == "a"]
    assert a["pop_school_age"].tolist() == hamilton(101, a["pop_0_14"].tolist())
    sums = out.groupby("unit_id")[["population", *GROUPS]].sum()
    expected = units_frame().set_index("unit_id")[["population", *GROUPS]]
    assert sums.sort_index().equals(expected.sort_index().astype(np.int64))
    # the cell centres: x0 + 500, 1500, 2500 and y0 + 500, 1500 in unit a
    xy = sorted(shapely.get_coordinates(a.geometry.to_numpy()).tolist())
    assert xy == [[500_000.0 + dx, 3_300_000.0 + dy] for dx in (500, 1500, 2500) for dy in (500, 1500)]
    assert out["demand_id"].is_unique
    assert out.loc[out["unit_id"] == "isle", "demand_id"].item() == "g-isle-u"


def test_points_inside_their_units_in_degrees() -> None:
    """Units in EPSG:4326, cells in the default UTM zone: every point lies inside its own unit."""
    units = units_frame().to_crs(4326)
    units.geometry = units.geometry.rotate(17, origin="centroid")  # cells no longer line up with the edges
    out = grid_demand(units, 0.5)
    assert out.crs == units.crs
    polygons = units.set_index("unit_id").geometry
    assert shapely.contains(polygons.loc[out["unit_id"]].to_numpy(), out.geometry.to_numpy()).all()
    assert (out.groupby("unit_id")["population"].sum() == units.set_index("unit_id")["population"]).all()
    assert (out.groupby("unit_id").size() >= 1).all()


def test_prior_weights_against_brute_force() -> None:
    """With a prior, each unit's points get its census count in proportion to the Gaussian kernel, by hand."""
    units = units_frame()
    prior = gpd.GeoDataFrame(
        {"population": [900.0, 100.0, 40.0]},
        geometry=shapely.points([[500_400, 3_300_600], [502_900, 3_301_800], [505_000, 3_301_000]]),
        crs=UTM,
    )
    out = grid_demand(units, 1.0, groups=GROUPS, prior=prior, bandwidth_km=0.8)
    grid_xy = shapely.get_coordinates(out.geometry.to_numpy())
    prior_xy = shapely.get_coordinates(prior.geometry.to_numpy())
    for unit_id, unit in units.set_index("unit_id").iterrows():
        pos = np.flatnonzero(out["unit_id"].to_numpy() == unit_id)
        kernel = []
        for i in pos:
            d = np.hypot(*(prior_xy - grid_xy[i]).T)
            kernel.append(
                sum(
                    p * math.exp(-0.5 * (di / 800) ** 2)
                    for p, di in zip(prior["population"], d, strict=True)
                    if di <= 2400
                )
            )
        # no prior point within three bandwidths: uniform
        top = max(kernel)
        weights = [math.floor(k / top * WEIGHT_SCALE) for k in kernel] if top > 0 else [1] * len(pos)
        assert out["population"].to_numpy()[pos].tolist() == hamilton(int(unit["population"]), weights), unit_id
    # the isle is beyond every prior point's reach (three bandwidths) and keeps its one point
    assert out.loc[out["unit_id"] == "isle", "population"].tolist() == [57]
    # most of a's residents sit at the cell next to its big prior point
    a = out[out["unit_id"] == "a"]
    assert a["population"].idxmax() == a.index[0] and a["population"].max() == 429


def test_largest_remainder_against_fractions() -> None:
    """Vectorised apportionment equals the exact hand computation on many small cases, group by group."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        n_groups = int(rng.integers(1, 4))
        sizes = rng.integers(1, 6, size=n_groups)
        groups = np.repeat(np.arange(n_groups), sizes)
        weights = rng.integers(0, 5, size=len(groups))
        weights[np.r_[0, np.cumsum(sizes)[:-1]]] += 1  # at least one positive weight per group
        totals = rng.integers(0, 50, size=n_groups)
        got = largest_remainder(totals, weights, groups)
        for g in range(n_groups):
            assert got[groups == g].tolist() == hamilton(int(totals[g]), weights[groups == g].tolist())


def test_zhejiang_counties_keep_their_census_totals() -> None:
    """Four Zhejiang counties of the shipped file on a 2-km grid: exact county totals, points inside."""
    units = gpd.read_file(SHIPPED, layer="admin_units")
    counties = units[units["unit_id"].isin(["330127", "330784", "330302", "331127"])]
    out = grid_demand(counties, 2.0, groups=GROUPS)
    sums = out.groupby("unit_id")[["population", *GROUPS]].sum().sort_index()
    assert sums.equals(counties.set_index("unit_id")[["population", *GROUPS]].astype(np.int64).sort_index())
    polygons = counties.set_index("unit_id").geometry
    assert shapely.contains(polygons.loc[out["unit_id"]].to_numpy(), out.geometry.to_numpy()).all()
    # 淳安 (330127, 4,452 km² computed) holds about one point per 4 km²
    assert 1_000 < (out["unit_id"] == "330127").sum() < 1_250


# ----------------------------------------------------------------------------- errors, word for word
def _bad(name: str) -> tuple[gpd.GeoDataFrame, dict]:
    """Units and keyword arguments of each documented fault."""
    units = units_frame()
    kwargs: dict = {"cell_km": 1.0}
    if name == "no_frame":
        return units.drop(columns="geometry"), kwargs  # type: ignore[return-value]
    if name == "no_crs":
        units = units.set_crs(None, allow_override=True)
    elif name == "no_population":
        units = units.rename(columns={"population": "pop2020"})
    elif name == "duplicate":
        units.loc[2, "unit_id"] = "a"
    elif name == "fraction":
        units["population"] = units["population"].astype(float)
        units.loc[1, "population"] = 12.5
    elif name == "missing":
        units["population"] = units["population"].astype(float)
        units.loc[1, "population"] = np.nan
    elif name == "no_polygon":
        units.loc[2, "geometry"] = shapely.Point(506_200, 3_300_200)
    elif name == "overlap":
        units.loc[1, "geometry"] = box(502_000, 3_300_000, 505_000, 3_302_000)
    elif name == "cell":
        kwargs["cell_km"] = 0
    elif name == "bandwidth":
        kwargs["prior"] = units.assign(geometry=units.representative_point())
        kwargs["bandwidth_km"] = -1
    elif name == "geographic":
        kwargs["projected_crs"] = "EPSG:4326"
    elif name == "group_order":
        kwargs["groups"] = {"pop_school_age": "pop_0_14", "pop_0_14": "population"}
    elif name == "group_over":
        units.loc[0, "pop_school_age"] = 151
        kwargs["groups"] = GROUPS
    elif name.startswith("prior"):
        prior = gpd.GeoDataFrame(
            {"population": [5.0, -1.0]}, geometry=shapely.points([[500_100, 3_300_100]] * 2), crs=UTM
        )
        kwargs["prior"] = {
            "prior_crs": prior.set_crs(None, allow_override=True),
            "prior_column": prior.rename(columns={"population": "pop"}),
            "prior_value": prior,
        }[name]
    return units, kwargs


CASES = {
    "Admin units that cannot be gridded": [
        "no_frame", "no_crs", "no_population", "duplicate", "fraction", "missing", "no_polygon", "overlap",
    ],
    "Bad grid parameters": ["cell", "bandwidth", "geographic", "group_order", "group_over"],
    "Bad prior points": ["prior_crs", "prior_column", "prior_value"],
}  # fmt: skip
CASE_IDS = [(title, i) for title, names in CASES.items() for i in range(len(names))]


def test_every_documented_grid_error_has_a_case() -> None:
    for title, names in CASES.items():
        assert len(DOC[title]) == len(names), (title, DOC[title])


@pytest.mark.parametrize("title,index", CASE_IDS, ids=[f"{t}-{i}" for t, i in CASE_IDS])
def test_documented_grid_error(title: str, index: int) -> None:
    units, kwargs = _bad(CASES[title][index])
    with pytest.raises(InputError) as err:
        grid_demand(units, **kwargs)
    assert f"error: {err.value}" == DOC[title][index]


def test_no_error_leaves_a_unit_without_its_census() -> None:
    """Every combination of cell size and prior still sums exactly (a net under the cases above)."""
    units = units_frame()
    prior = units.assign(geometry=units.representative_point())
    for cell, with_prior in itertools.product((0.3, 0.7, 1.0, 2.5, 9.0), (False, True)):
        out = grid_demand(units, cell, groups=GROUPS, prior=prior if with_prior else None)
        sums = out.groupby("unit_id")["population"].sum()
        assert sums.to_dict() == {"a": 1_001, "b": 10, "isle": 57}, (cell, with_prior)
        assert (out["pop_school_age"] <= out["pop_0_14"]).all()
