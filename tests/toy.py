"""Small synthetic regions for tests: two counties of one city, random demand and sites.

Coordinates are built in UTM 51N (metres) so distances are easy to reason
about, then stored in EPSG:4326 like every Region layer.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from pyproj import CRS
from shapely.geometry import Point, box

from optimizer.catalogue import Catalogue, FacilityType
from optimizer.config.schema import FacilityTypeConfig, ServiceConfig
from optimizer.region import Region

UTM51 = CRS.from_epsg(32651)
X0, Y0 = 300_000.0, 3_300_000.0


def two_county_units(group_b: bool = True) -> gpd.GeoDataFrame:
    """City C made of county A (west 20 x 20 km) and county B (east 20 x 20 km)."""
    a = box(X0, Y0, X0 + 20_000, Y0 + 20_000)
    b = box(X0 + 20_000, Y0, X0 + 40_000, Y0 + 20_000)
    return gpd.GeoDataFrame(
        {
            "unit_id": ["C", "A", "B"],
            "name": ["City", "A county", "B county"],
            "name_en": ["City", "A", "B"],
            "level": ["city", "county", "county"],
            "parent_id": [None, "C", "C"],
            "mountain": [False, False, group_b],
        },
        geometry=[a.union(b), a, b],
        crs=UTM51,
    ).set_index("unit_id")


def points(xy, crs=UTM51) -> gpd.GeoSeries:
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    return gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs)


def make_region(
    demand_xy,
    population,
    site_xy,
    *,
    existing=(),
    urban=None,
    school=None,
    site_kinds=None,
    units: gpd.GeoDataFrame | None = None,
    name: str = "toy",
) -> Region:
    """A Region from planar coordinates (metres, UTM 51N).

    ``existing`` is a list of ``(facility_type, x, y)`` or ``(facility_type, x, y, capacity)``.
    """
    units = two_county_units() if units is None else units
    demand_xy = np.asarray(demand_xy, dtype=float).reshape(-1, 2)
    site_xy = np.asarray(site_xy, dtype=float).reshape(-1, 2)
    n, m = len(demand_xy), len(site_xy)
    county = np.where(demand_xy[:, 0] < X0 + 20_000, "A", "B")
    demand = gpd.GeoDataFrame(
        {
            "demand_id": [f"d{i}" for i in range(n)],
            "unit_id": county,
            "population": np.asarray(population, dtype=float),
            "urban": np.zeros(n, bool) if urban is None else np.asarray(urban, bool),
            "pop_school_age": (np.asarray(population, float) * 0.1) if school is None else np.asarray(school, float),
        },
        geometry=points(demand_xy).values,
        crs=UTM51,
    ).set_index("demand_id")
    candidates = gpd.GeoDataFrame(
        {
            "site_id": [f"s{j}" for j in range(m)],
            "unit_id": np.where(site_xy[:, 0] < X0 + 20_000, "A", "B"),
            "kind": ["site"] * m if site_kinds is None else list(site_kinds),
        },
        geometry=points(site_xy).values,
        crs=UTM51,
    ).set_index("site_id")
    rows = []
    for k, rec in enumerate(existing):
        ftype, x, y = rec[:3]
        cap = rec[3] if len(rec) > 3 else np.nan
        rows.append(
            {
                "facility_id": f"f{k}",
                "facility_type": ftype,
                "unit_id": "A" if x < X0 + 20_000 else "B",
                "capacity": float(cap),
                "name": f"existing {ftype}",
                "source": "assumed",
                "geometry": Point(x, y),
            }
        )
    facilities = gpd.GeoDataFrame(
        rows,
        columns=["facility_id", "facility_type", "unit_id", "capacity", "name", "source", "geometry"],
        geometry="geometry",
        crs=UTM51,
    ).set_index("facility_id")
    return Region(
        name=name,
        admin_units=units.to_crs(4326),
        demand=demand.to_crs(4326),
        facilities=facilities.to_crs(4326),
        candidates=candidates.to_crs(4326),
        projected_crs=UTM51,
    )


def random_region(seed: int, n_demand: int = 12, n_sites: int = 5, n_existing: int = 1, types=("clinic",)) -> Region:
    rng = np.random.default_rng(seed)
    demand_xy = rng.random((n_demand, 2)) * [40_000, 20_000] + [X0, Y0]
    site_xy = rng.random((n_sites, 2)) * [40_000, 20_000] + [X0, Y0]
    pop = rng.integers(0, 1000, n_demand)
    existing = []
    for k in range(n_existing):
        x, y = rng.random(2) * [40_000, 20_000] + [X0, Y0]
        existing.append((types[k % len(types)], x, y))
    return make_region(
        demand_xy,
        pop,
        site_xy,
        existing=existing,
        urban=rng.random(n_demand) < 0.3,
        school=rng.integers(0, 200, n_demand),
    )


def facility_type(
    type_id: str,
    *,
    cost: float,
    km: float | None = None,
    urban_km: float | None = None,
    rural_km: float | None = None,
    capacity: float | None = None,
    serves: str = "all",
    family: str = "health",
    sites=None,
) -> FacilityType:
    if km is not None:
        service = ServiceConfig.model_validate({"distance_km": km})
    else:
        service = ServiceConfig.model_validate({"urban": {"distance_km": urban_km}, "rural": {"distance_km": rural_km}})
    cfg = FacilityTypeConfig(
        family=family, cost=cost, capacity=capacity, serves=serves, service=service, sites=sites, name_en=type_id
    )
    return FacilityType.from_config(type_id, cfg)


def catalogue(*types: FacilityType) -> Catalogue:
    return Catalogue((t.type_id, t) for t in types)
