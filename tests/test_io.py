"""Loading user regions: formats, the canonical schema, and every loader error.

Fixtures are a toy region in Zhejiang's coordinates, written to ``tmp_path``:

    zj (province, 119–122 E, 28–31 N)
    ├── c1 "West" county (119–120.5 E), township t2 known only by name
    └── c2 "East" county (120.5–122 E)
        └── t1 township (121–122 E, 29–30 N)

Error tests assert the whole rendered message, as the CLI prints it.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS

from optimizer.errors import InputError
from optimizer.io.columns import ID_COLUMNS, LAYERS  # noqa: E402
from optimizer.io.layers import read_admin_units, read_candidates, read_demand, read_facilities  # noqa: E402
from optimizer.region import Region, load_region, region_from_geodataframes  # noqa: E402

FORMAT_HINT = (
    "use a GeoPackage (.gpkg), GeoJSON, Shapefile, FlatGeobuf (.fgb), GeoParquet (.parquet) or CSV with lon/lat columns"
)
NUMBER_HINT = "write plain numbers: '.' as the decimal point, no thousands separators or units"


# ----------------------------------------------------------------------------- fixtures
def admin_gdf() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "unit_id": ["zj", "c1", "c2", "t1", "t2"],
            "name": ["浙江", "West", "East", "Town 1", "Town 2"],
            "name_en": ["Zhejiang", "West", "East", "Town 1", "Town 2"],
            "level": ["province", "county", "county", "township", "township"],
            "parent_id": [None, "zj", "zj", "c2", "c1"],
            "population": [600, 100, 500, 200, 0],
        },
        geometry=[
            shapely.box(119, 28, 122, 31),
            shapely.box(119, 28, 120.5, 31),
            shapely.box(120.5, 28, 122, 31),
            shapely.box(121, 29, 122, 30),
            None,
        ],
        crs="EPSG:4326",
    )


def demand_gdf() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "demand_id": ["d1", "d2", "d3"],
            "population": [100, 200, 300],
            "pop_elderly": [10, 20, 30],
            "urban": [True, False, False],
        },
        geometry=gpd.points_from_xy([119.5, 121.5, 120.8], [29.5, 29.5, 30.5]),
        crs="EPSG:4326",
    )


def facilities_gdf() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"facility_id": ["f1", "f2"], "facility_type": ["hospital", "school"], "capacity": [50.0, np.nan]},
        geometry=gpd.points_from_xy([119.6, 121.6], [29.6, 29.6]),
        crs="EPSG:4326",
    )


def candidates_gdf() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"site_id": ["s1", "s2"], "kind": ["county_seat", None]},
        geometry=gpd.points_from_xy([119.7, 121.2], [29.7, 30.8]),
        crs="EPSG:4326",
    )


DEMAND_CSV = (
    "demand_id,population,pop_elderly,urban,lon,lat\n"
    "d1,100,10,true,119.5,29.5\n"
    "d2,200,20,false,121.5,29.5\n"
    "d3,300,30,false,120.8,30.5\n"
)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def demand_csv(tmp_path: Path, rows: list[str], header: str = "demand_id,population,lon,lat") -> Path:
    return write(tmp_path, "demand.csv", "\n".join([header, *rows]) + "\n")


@pytest.fixture(scope="module")
def region_gpkg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All four layers in one GeoPackage; read-only, so shared by the module's tests."""
    path = tmp_path_factory.mktemp("gpkg") / "region.gpkg"
    admin_gdf().to_file(path, layer="admin_units")
    demand_gdf().to_file(path, layer="demand")
    facilities_gdf().to_file(path, layer="facilities")
    candidates_gdf().to_file(path, layer="candidates")
    return path


def error_of(func, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        func(*args, **kwargs)
    return info.value


def region(**overrides) -> Region:
    layers = {
        "admin_units": admin_gdf(),
        "demand": demand_gdf(),
        "facilities": facilities_gdf(),
        "candidates": candidates_gdf(),
    }
    layers.update(overrides)
    return region_from_geodataframes(name="Toy", **layers)


# ----------------------------------------------------------------------------- round trips
def check_region(r: Region) -> None:
    """The toy region, loaded from anywhere, in the canonical schema."""
    admin = r.admin_units
    assert admin.index.name == "unit_id" and admin.index.tolist() == ["zj", "c1", "c2", "t1", "t2"]
    assert list(admin.columns[:4]) == ["name", "name_en", "level", "parent_id"]
    assert admin["parent_id"].tolist() == [None, "zj", "zj", "c2", "c1"]
    assert admin.geometry.is_empty.tolist() == [False, False, False, False, True]
    assert admin["population"].tolist() == [600, 100, 500, 200, 0]
    demand = r.demand
    assert demand.index.name == "demand_id" and demand.index.tolist() == ["d1", "d2", "d3"]
    assert demand["unit_id"].tolist() == ["c1", "t1", "c2"]
    assert demand["population"].dtype == np.int64
    assert demand["population"].tolist() == [100, 200, 300]
    assert demand["pop_elderly"].tolist() == [10, 20, 30]
    assert demand["urban"].dtype == bool and demand["urban"].tolist() == [True, False, False]
    facilities = r.facilities
    assert facilities.index.name == "facility_id" and facilities.index.tolist() == ["f1", "f2"]
    assert facilities["facility_type"].tolist() == ["hospital", "school"]
    assert facilities["unit_id"].tolist() == ["c1", "t1"]
    assert facilities["capacity"].iloc[0] == 50 and math.isnan(facilities["capacity"].iloc[1])
    assert facilities["source"].tolist() == ["user", "user"]
    assert r.candidates.index.name == "site_id" and r.candidates["kind"].tolist() == ["county_seat", "site"]
    assert r.candidates["unit_id"].tolist() == ["c1", "c2"]
    for layer in (admin, demand, facilities, r.candidates):
        assert layer.crs == CRS.from_epsg(4326)
        assert layer.index.dtype == "str"
    assert demand.geometry.x.round(6).tolist() == [119.5, 121.5, 120.8]
    assert r.projected_crs == CRS.from_epsg(32651)


def test_geodataframes_validate_into_the_canonical_schema():
    r = Region.from_geodataframes(
        name="Toy",
        admin_units=admin_gdf(),
        demand=demand_gdf(),
        facilities=facilities_gdf(),
        candidates=candidates_gdf(),
    )
    check_region(r)
    assert r.name == "Toy" and r.files == {}
    assert r.ancestors("t1") == ["t1", "c2", "zj"]
    assert r.ancestors_of(["t1", "c2", "t1"]) == {"t1": ["t1", "c2", "zj"], "c2": ["c2", "zj"]}


def test_geopackage_round_trip_picks_layers_by_name(region_gpkg):
    r = load_region("Toy", admin_units=region_gpkg, demand=region_gpkg, facilities=region_gpkg, candidates=region_gpkg)
    check_region(r)
    assert r.files == dict.fromkeys(LAYERS, region_gpkg)


def test_geopackage_with_explicit_layer_names(tmp_path):
    path = tmp_path / "mixed.gpkg"
    admin_gdf().to_file(path, layer="counties")
    demand_gdf().to_file(path, layer="grid")
    assert read_demand(path, layer="grid").index.tolist() == ["d1", "d2", "d3"]
    r = load_region(
        "Toy", admin_units={"path": path, "layer": "counties"}, demand={"path": path, "layer": "grid"}, facilities=None
    )
    assert r.demand["unit_id"].tolist() == ["c1", "t1", "c2"]
    assert r.facilities.empty and list(r.facilities.columns) == [
        "facility_type",
        "unit_id",
        "capacity",
        "name",
        "source",
        "geometry",
    ]


@pytest.mark.parametrize("suffix", [".geojson", ".fgb", ".shp"])
def test_vector_formats_round_trip(tmp_path, suffix):
    paths = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Shapefile: "field names will be truncated"
        for kind, gdf in (
            ("admin_units", admin_gdf()),
            ("demand", demand_gdf()),
            ("facilities", facilities_gdf()),
            ("candidates", candidates_gdf()),
        ):
            paths[kind] = tmp_path / f"{kind}{suffix}"
            # FlatGeobuf's spatial index cannot hold the township without a boundary
            gdf.to_file(paths[kind], **({"SPATIAL_INDEX": "NO"} if suffix == ".fgb" else {}))
    # Shapefile field names stop at 10 characters: the loader restores its own
    # (facility_t -> facility_type); a group column needs columns=.
    columns = {"demand": {"pop_elderly": "pop_elderl"}} if suffix == ".shp" else None
    check_region(load_region("Toy", **paths, columns=columns))


def test_geoparquet_round_trip_keeps_the_index_as_id(tmp_path):
    paths = {}
    for kind, gdf in (
        ("admin_units", admin_gdf()),
        ("demand", demand_gdf()),
        ("facilities", facilities_gdf()),
        ("candidates", candidates_gdf()),
    ):
        paths[kind] = tmp_path / f"{kind}.parquet"
        gdf.set_index(ID_COLUMNS[kind]).to_parquet(paths[kind])
    check_region(load_region("Toy", **paths))


def test_canonical_output_round_trips_through_the_loader(tmp_path):
    r = region()
    r.demand.to_file(tmp_path / "d.gpkg")
    again = read_demand(tmp_path / "d.gpkg")
    pd.testing.assert_frame_equal(
        pd.DataFrame(again.drop(columns="geometry")), pd.DataFrame(r.demand.drop(columns="geometry"))
    )


def test_csv_round_trip(tmp_path):
    admin = admin_gdf()
    admin_csv = pd.DataFrame(admin.drop(columns="geometry")).assign(geometry=admin.geometry.to_wkt())
    admin_csv.loc[admin.geometry.isna(), "geometry"] = ""
    admin_csv.to_csv(tmp_path / "admin.csv", index=False)
    write(tmp_path, "demand.csv", DEMAND_CSV)
    write(
        tmp_path,
        "facilities.csv",
        "facility_id,facility_type,capacity,Longitude,Latitude\nf1,hospital,50,119.6,29.6\nf2,school,,121.6,29.6\n",
    )
    write(tmp_path, "sites.csv", "site_id,kind,lng,lat\ns1,county_seat,119.7,29.7\ns2,,121.2,30.8\n")
    check_region(
        load_region(
            "Toy",
            admin_units=tmp_path / "admin.csv",
            demand=tmp_path / "demand.csv",
            facilities=tmp_path / "facilities.csv",
            candidates=tmp_path / "sites.csv",
        )
    )


def test_csv_ids_stay_text_and_coordinate_columns_are_consumed(tmp_path):
    path = write(tmp_path, "d.csv", "demand_id,population,X,Y,note\n0571,5,120.1,30.2,a\n0572,6.5,120.2,30.3,b\n")
    demand = read_demand(path)
    assert demand.index.tolist() == ["0571", "0572"]
    assert demand["population"].dtype == np.float64
    assert list(demand.columns) == ["unit_id", "population", "urban", "note", "geometry"]
    assert demand["unit_id"].tolist() == [None, None]


def test_csv_in_chinese_excel_encoding_with_semicolons_and_chinese_headers(tmp_path):
    path = write(tmp_path, "d.csv", "demand_id;population;经度;纬度;名称\nd1;5;120.1;30.2;杭州\n", encoding="gb18030")
    demand = read_demand(path)
    assert demand["名称"].tolist() == ["杭州"]
    assert (demand.geometry.x.iloc[0], demand.geometry.y.iloc[0]) == (120.1, 30.2)


def test_csv_explicit_lon_lat_and_projected_crs(tmp_path):
    path = write(tmp_path, "d.csv", "demand_id,population,east,north\nd1,5,500000,3300000\n")
    demand = read_demand(path, lon="east", lat="north", crs="EPSG:32651")
    assert demand.crs == CRS.from_epsg(4326)
    assert demand.geometry.x.round(4).tolist() == [123.0] and 29.8 < demand.geometry.y.iloc[0] < 29.9


def test_plain_parquet_table_with_lon_lat(tmp_path):
    pd.DataFrame({"demand_id": ["d1"], "population": [7], "lon": [120.0], "lat": [30.0]}).to_parquet(
        tmp_path / "d.parquet"
    )
    assert read_demand(tmp_path / "d.parquet")["population"].tolist() == [7]


def test_projected_input_is_reprojected_to_wgs84(tmp_path):
    admin_gdf().to_crs(32651).to_file(tmp_path / "admin.gpkg")
    demand_gdf().to_crs(32650).to_file(tmp_path / "demand.gpkg")
    r = load_region("Toy", admin_units=tmp_path / "admin.gpkg", demand=tmp_path / "demand.gpkg")
    assert r.demand.crs == CRS.from_epsg(4326) and r.admin_units.crs == CRS.from_epsg(4326)
    assert np.allclose(r.demand.geometry.x, [119.5, 121.5, 120.8]) and np.allclose(
        r.demand.geometry.y, [29.5, 29.5, 30.5]
    )
    assert r.demand["unit_id"].tolist() == ["c1", "t1", "c2"]


def test_columns_rename_map(tmp_path):
    path = write(tmp_path, "d.csv", "id,POP2020,old,lon,lat\nd1,5,1,120.1,30.2\n")
    demand = read_demand(path, columns={"demand_id": "id", "population": "POP2020", "pop_old": "old"})
    assert demand.index.tolist() == ["d1"]
    assert demand["population"].tolist() == [5] and demand["pop_old"].tolist() == [1]
    assert "POP2020" not in demand.columns and "id" not in demand.columns


def test_columns_override_of_an_existing_column_warns(tmp_path):
    path = write(tmp_path, "d.csv", "demand_id,population,POP2020,lon,lat\nd1,5,9,120.1,30.2\n")
    with pytest.warns(
        UserWarning, match="column 'population' is ignored because columns= takes 'population' from 'POP2020'"
    ):
        demand = read_demand(path, columns={"population": "POP2020"})
    assert demand["population"].tolist() == [9]


def test_load_region_columns_keyed_by_layer(tmp_path):
    path = write(tmp_path, "d.csv", "id,POP,lon,lat\nd1,5,119.5,29.5\n")
    r = load_region(
        "Toy", admin_units=admin_gdf(), demand=path, columns={"demand": {"demand_id": "id", "population": "POP"}}
    )
    assert r.demand["population"].tolist() == [5]


def test_missing_candidates_means_every_demand_point_is_a_site():
    r = region(candidates=None, facilities=None)
    assert r.candidates.index.name == "site_id"
    assert r.candidates.index.tolist() == ["d1", "d2", "d3"]
    assert r.candidates["kind"].tolist() == ["demand_point"] * 3
    assert r.candidates["unit_id"].tolist() == ["c1", "t1", "c2"]
    assert r.facilities.empty and r.facilities.crs == CRS.from_epsg(4326)


def test_admin_units_defaults_and_integer_ids(tmp_path):
    admin = gpd.GeoDataFrame(
        {"unit_id": [330000, 330100], "level": ["province", "city"], "parent_id": [None, 330000]},
        geometry=[shapely.box(119, 28, 122, 31), shapely.box(119, 28, 120, 29)],
        crs=4326,
    )
    admin.to_file(tmp_path / "a.gpkg")
    units = read_admin_units(tmp_path / "a.gpkg")
    assert units.index.tolist() == ["330000", "330100"]
    assert units["parent_id"].tolist() == [None, "330000"]
    assert units["name"].tolist() == ["330000", "330100"] and units["name_en"].tolist() == ["330000", "330100"]


def test_admin_units_from_a_geopackage_table_without_geometry(tmp_path):
    import pyogrio

    path = tmp_path / "units.gpkg"
    table = pd.DataFrame({"unit_id": ["zj", "hz"], "level": ["province", "city"], "parent_id": [None, "zj"]})
    pyogrio.write_dataframe(table, path, layer="townships")
    units = read_admin_units(path)
    assert units.index.tolist() == ["zj", "hz"] and units.geometry.is_empty.all()
    assert units.crs == CRS.from_epsg(4326)


def test_admin_units_from_a_csv_without_boundaries(tmp_path):
    path = write(
        tmp_path,
        "a.csv",
        "unit_id,name,level,parent_id,lon,lat\nzj,浙江,province,,120,30\nhz,杭州,city,zj,120.2,30.3\n",
    )
    units = read_admin_units(path)
    assert units.geometry.is_empty.all() and units.crs == CRS.from_epsg(4326)
    assert units["lon"].tolist() == [120, 120.2]  # seat coordinates stay attributes
    demand = read_demand(
        write(tmp_path, "d.csv", "demand_id,population,unit_id,lon,lat\nd1,5,hz,120.2,30.3\n"), admin_units=units
    )
    assert demand["unit_id"].tolist() == ["hz"]


def test_read_demand_with_admin_units_assigns_units(tmp_path):
    demand = read_demand(
        write(tmp_path, "demand.csv", DEMAND_CSV),
        admin_units=read_admin_units(_gpkg(tmp_path, admin_gdf(), "admin.gpkg")),
    )
    assert demand["unit_id"].tolist() == ["c1", "t1", "c2"]


def _gpkg(tmp_path: Path, gdf: gpd.GeoDataFrame, name: str, **kwargs) -> Path:
    path = tmp_path / name
    gdf.to_file(path, **kwargs)
    return path


# ----------------------------------------------------------------------------- spatial join
def test_unit_id_given_in_some_rows_is_kept_and_the_rest_assigned():
    demand = demand_gdf().assign(unit_id=["zj", None, ""])
    assert region(demand=demand).demand["unit_id"].tolist() == ["zj", "t1", "c2"]


def test_point_on_a_shared_border_goes_to_the_first_unit_listed():
    demand = demand_gdf()
    demand.loc[0, "geometry"] = shapely.Point(120.5, 29.5)  # border of c1 and c2
    assert region(demand=demand).demand["unit_id"].iloc[0] == "c1"


def test_snap_distance_assigns_points_just_outside():
    demand = demand_gdf()
    demand.loc[0, "geometry"] = shapely.Point(118.995, 29.5)  # ~480 m west of c1
    r = region_from_geodataframes(name="Toy", admin_units=admin_gdf(), demand=demand, snap_distance=1000)
    assert r.demand["unit_id"].iloc[0] == "c1"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(119.01, 121.99), st.floats(28.01, 30.99)), min_size=1, max_size=20))
def test_spatial_join_finds_the_finest_unit(points):
    points = [
        (x, y)
        for x, y in points
        if abs(x - 120.5) > 1e-6 and abs(x - 121) > 1e-6 and abs(y - 29) > 1e-6 and abs(y - 30) > 1e-6
    ]
    if not points:
        return
    xs, ys = np.array(points).T
    demand = gpd.GeoDataFrame(
        {"demand_id": [f"d{i}" for i in range(len(xs))], "population": 1}, geometry=gpd.points_from_xy(xs, ys), crs=4326
    )
    expected = np.where(xs < 120.5, "c1", np.where((xs > 121) & (ys > 29) & (ys < 30), "t1", "c2"))
    # a fixed projected CRS skips the UTM zone look-up (0.1 s per call)
    got = region_from_geodataframes(admin_units=admin_gdf(), demand=demand, projected_crs="EPSG:32651").demand[
        "unit_id"
    ]
    assert got.tolist() == expected.tolist()


# ----------------------------------------------------------------------------- file errors
def test_missing_file_suggests_a_close_name(tmp_path):
    write(tmp_path, "demand.csv", DEMAND_CSV)
    err = error_of(read_demand, tmp_path / "demnd.csv")
    assert (
        str(err) == f"{tmp_path / 'demnd.csv'}: file not found Hint: check the path; did you mean "
        f"{str(tmp_path / 'demand.csv')!r}?"
    )
    assert err.file == tmp_path / "demnd.csv"


def test_missing_folder(tmp_path):
    err = error_of(read_demand, tmp_path / "nope" / "demand.csv")
    assert str(err) == (
        f"{tmp_path / 'nope' / 'demand.csv'}: file not found Hint: check the path; "
        f"the folder {str(tmp_path / 'nope')!r} does not exist either"
    )


def test_spreadsheet_is_rejected(tmp_path):
    path = tmp_path / "demand.xlsx"
    path.write_bytes(b"PK\x03\x04")
    assert str(error_of(read_demand, path)) == (
        f"{path}: spreadsheets (.xlsx) cannot be read Hint: save the sheet as 'CSV UTF-8' with lon/lat columns, "
        "or export a GeoPackage from your GIS"
    )


def test_corrupt_geopackage(tmp_path):
    path = tmp_path / "demand.gpkg"
    path.write_bytes(b"this is not sqlite" * 50)
    assert str(error_of(read_demand, path)) == (
        f"{path}: cannot read this file as geodata (the format is not recognised) Hint: check that the file is "
        f"complete and opens in QGIS; {FORMAT_HINT}"
    )


def test_unknown_file_type(tmp_path):
    path = tmp_path / "demand.dat"
    path.write_bytes(b"\x00\x01\x02")
    assert "cannot read this file as geodata (the format is not recognised)" in str(error_of(read_demand, path))


def test_unknown_layer_lists_the_layers(region_gpkg):
    assert str(error_of(read_demand, region_gpkg, layer="demnd")) == (
        f"{region_gpkg}: layer 'demnd' not found; layers in this file: 'admin_units', 'demand', 'facilities', "
        "'candidates' Hint: pass layer='demand'"
    )


def test_several_layers_and_none_named_like_the_layer(tmp_path):
    path = tmp_path / "mixed.gpkg"
    demand_gdf().to_file(path, layer="grid_2020")
    demand_gdf().to_file(path, layer="grid_2025")
    assert str(error_of(read_demand, path)) == (
        f"{path}: the file has 2 layers and none is called 'demand': 'grid_2020', 'grid_2025' "
        "Hint: pass the demand points layer's name as layer="
    )


def test_layer_for_a_csv(tmp_path):
    path = write(tmp_path, "demand.csv", DEMAND_CSV)
    assert str(error_of(read_demand, path, layer="demand")) == (
        f"{path}: CSV files have no layers, but layer='demand' was given "
        "Hint: drop layer=; it is for GeoPackages and other multi-layer files"
    )


def test_empty_csv(tmp_path):
    path = write(tmp_path, "demand.csv", "")
    assert str(error_of(read_demand, path)) == (
        f"{path}: the file is empty Hint: write a header row and one row per record"
    )


def test_malformed_csv(tmp_path):
    path = demand_csv(tmp_path, ["d1,100,119.5,29.5", "d2,1,2,3,4,5"])
    assert str(error_of(read_demand, path)) == (
        f"{path}: cannot parse the CSV (Error tokenizing data. C error: Expected 4 fields in line 3, saw 6) "
        "Hint: check the quoting and the number of fields on that line"
    )


def test_csv_in_an_unknown_encoding(tmp_path):
    path = tmp_path / "demand.csv"
    path.write_bytes("demand_id,population,lon,lat\nd1,5,120,30\n".encode("utf-16"))
    assert str(error_of(read_demand, path)) == (
        f"{path}: the file is neither UTF-8 nor GB18030 text Hint: save it as 'CSV UTF-8'"
    )


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "demand.parquet"
    path.write_bytes(b"PAR1 nonsense")
    assert str(error_of(read_demand, path)).startswith(f"{path}: cannot read the Parquet file (")


# ----------------------------------------------------------------------------- CRS errors
def test_vector_file_without_crs(tmp_path):
    path = tmp_path / "demand.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        demand_gdf().set_crs(None, allow_override=True).to_file(path)
    assert str(error_of(read_demand, path)) == (
        f"{path}: the layer has no coordinate reference system (CRS) Hint: set the CRS in your GIS "
        "(QGIS: Layer ▸ Set CRS) or pass crs=, e.g. crs='EPSG:4326' if the coordinates are longitude/latitude"
    )
    assert read_demand(path, crs=4326).crs == CRS.from_epsg(4326)


def test_crs_argument_contradicting_the_file(region_gpkg):
    assert str(error_of(read_demand, region_gpkg, crs="EPSG:32650")) == (
        f"{region_gpkg}: layer 'demand': the file declares CRS EPSG:4326 but crs='EPSG:32650' was passed "
        "Hint: drop crs=; it is only for files without a CRS and for CSV coordinates"
    )


def test_crs_argument_that_is_no_crs(tmp_path):
    path = write(tmp_path, "demand.csv", DEMAND_CSV)
    assert str(error_of(read_demand, path, crs="WGS 1984 please")) == (
        f"{path}: crs='WGS 1984 please' is not a coordinate reference system Hint: give an EPSG code such as "
        "'EPSG:4326' (longitude/latitude) or 'EPSG:32650' (UTM 50N)"
    )


def test_geodataframe_without_crs():
    err = error_of(region, demand=demand_gdf().set_crs(None, allow_override=True))
    assert str(err) == (
        "demand layer: the GeoDataFrame has no CRS "
        "Hint: set it first, e.g. gdf.set_crs('EPSG:4326') for longitude/latitude"
    )


def test_coordinates_that_cannot_be_reprojected(tmp_path):
    gdf = gpd.GeoDataFrame({"demand_id": ["a"], "population": [1]}, geometry=[shapely.Point(1e9, 1e9)], crs=32651)
    path = _gpkg(tmp_path, gdf, "demand.gpkg")
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 1, field 'geometry': coordinates cannot be converted from EPSG:32651 to longitude/latitude "
        "Hint: the coordinates are outside the area of that CRS; check that the CRS is the right one"
    )


def test_projected_coordinates_in_a_csv_without_crs(tmp_path):
    path = demand_csv(tmp_path, ["d1,5,120.1,30.2", "d2,5,500000,3300000"])
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 2, field 'lon': longitude 500000 is outside [-180, 180] in EPSG:4326 "
        "Hint: if these are projected coordinates (metres), pass their CRS as crs=, e.g. crs='EPSG:32650'"
    )


def test_vector_file_with_the_wrong_crs(tmp_path):
    gdf = demand_gdf().to_crs(32650).set_crs(4326, allow_override=True)
    path = _gpkg(tmp_path, gdf, "demand.gpkg")
    err = error_of(read_demand, path)
    assert str(err).startswith(f"{path}, row 1, field 'geometry': longitude ")
    assert str(err).endswith(
        " is outside [-180, 180] in EPSG:4326 Hint: the layer's CRS is wrong: set the CRS "
        "the coordinates are really in (QGIS: Layer ▸ Set CRS)"
    )


def test_swapped_columns_in_a_csv(tmp_path):
    path = demand_csv(tmp_path, ["d1,5,30.2,120.1"])
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 1, field 'lat': latitude 120.1 is outside [-90, 90] but longitude 30.2 would be a valid "
        "latitude: longitude and latitude look swapped Hint: swap the two columns, or pass lon='lat', lat='lon'"
    )


def test_swapped_axes_in_a_vector_file(tmp_path):
    gdf = demand_gdf()
    gdf.geometry = gdf.geometry.map(lambda p: shapely.Point(p.y, p.x))
    path = _gpkg(tmp_path, gdf, "demand.gpkg")
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 1, field 'geometry': latitude 119.5 is outside [-90, 90] but longitude 29.5 would be a "
        "valid latitude: longitude and latitude look swapped Hint: swap X and Y in your GIS "
        "(QGIS: Processing ▸ 'Swap X and Y coordinates')"
    )


def test_swapped_points_detected_against_the_region():
    # A region where swapped coordinates are still valid degrees: lon 30–32, lat 50–52.
    admin = gpd.GeoDataFrame({"unit_id": ["u"], "level": ["oblast"]}, geometry=[shapely.box(30, 50, 32, 52)], crs=4326)
    demand = gpd.GeoDataFrame(
        {"demand_id": ["ok", "bad"], "population": [1, 2]},
        geometry=[shapely.Point(31, 51), shapely.Point(51, 31)],
        crs=4326,
    )
    err = error_of(region_from_geodataframes, admin_units=admin, demand=demand)
    assert str(err) == (
        "ID 'bad', field 'geometry': demand layer: the point (51, 31) lies outside the region but (31, 51) lies "
        "inside: longitude and latitude look swapped Hint: swap X and Y in your GIS "
        "(QGIS: Processing ▸ 'Swap X and Y coordinates')"
    )


def test_swapped_csv_points_detected_against_the_region(tmp_path):
    admin = gpd.GeoDataFrame({"unit_id": ["u"], "level": ["oblast"]}, geometry=[shapely.box(30, 50, 32, 52)], crs=4326)
    path = write(tmp_path, "sites.csv", "site_id,y,x\ns1,31,51\n")
    err = error_of(read_candidates, path, admin_units=admin)
    assert str(err) == (
        f"{path}, row 1, field 'geometry': the point (51, 31) lies outside the region but (31, 51) lies inside: "
        "longitude and latitude look swapped Hint: swap the two columns, or pass lon='y', lat='x'"
    )


def test_point_far_outside_the_region():
    demand = demand_gdf()
    demand.loc[2, "geometry"] = shapely.Point(116.4, 39.9)  # Beijing
    err = error_of(region, demand=demand)
    assert err.row == "d3" and err.field == "geometry"
    assert str(err) == (
        "ID 'd3', field 'geometry': demand layer: the point (116.4, 39.9) is 1,015 km outside the region's admin "
        "units Hint: check this row's coordinates and the layer's CRS (points must lie within 10 km of an "
        "admin unit)"
    )


# ----------------------------------------------------------------------------- column errors
def test_required_column_missing_suggests_a_close_name(tmp_path):
    path = write(tmp_path, "demand.csv", "demand_id,Populaton,lon,lat\nd1,5,120,30\n")
    assert str(error_of(read_demand, path)) == (
        f"{path}, field 'population': required column 'population' is missing (columns present: 'demand_id', "
        "'Populaton') Hint: rename the column 'Populaton' to 'population' in the file, or pass "
        "columns={'population': 'Populaton'}"
    )


def test_required_column_missing_without_a_close_name(tmp_path):
    path = write(tmp_path, "facilities.csv", "facility_id,lon,lat\nf1,120,30\n")
    assert str(error_of(read_facilities, path)) == (
        f"{path}, field 'facility_type': required column 'facility_type' is missing (columns present: "
        "'facility_id') Hint: add a 'facility_type' column, or map an existing one with "
        "columns={'facility_type': '<your column>'}"
    )


def test_id_column_missing():
    err = error_of(region, candidates=candidates_gdf().drop(columns="site_id"))
    assert str(err) == (
        "field 'site_id': candidates layer: required column 'site_id' is missing (columns present: 'kind') "
        "Hint: add a 'site_id' column, or name the index that holds the IDs: gdf.rename_axis('site_id')"
    )
    # the fix the hint suggests works
    in_index = candidates_gdf().set_index("site_id").rename_axis(None)
    assert region(candidates=in_index.rename_axis("site_id")).candidates.index.tolist() == ["s1", "s2"]


def test_level_column_missing(tmp_path):
    path = _gpkg(tmp_path, admin_gdf().drop(columns="level"), "admin.gpkg")
    err = error_of(read_admin_units, path)
    assert err.field == "level"
    assert str(err).startswith(
        f"{path}, field 'level': required column 'level' is missing (columns present: "
        "'unit_id', 'name', 'name_en', 'parent_id', 'population')"
    )


def test_columns_key_that_is_not_a_canonical_name(tmp_path):
    path = write(tmp_path, "demand.csv", DEMAND_CSV)
    assert str(error_of(read_demand, path, columns={"populaton": "POP"})) == (
        f"{path}, field 'populaton': columns= maps 'populaton', which is not a demand column Hint: did you mean "
        "'population'? keys are regionopt's column names: demand_id, population, unit_id, urban, pop_<group>"
    )


def test_columns_value_that_is_not_in_the_file(tmp_path):
    path = write(tmp_path, "demand.csv", DEMAND_CSV.replace("population", "POP2020"))
    assert str(error_of(read_demand, path, columns={"population": "POP2002"})) == (
        f"{path}, field 'POP2002': columns= maps 'population' to 'POP2002', but there is no column 'POP2002' "
        "(columns present: 'demand_id', 'POP2020', 'pop_elderly', 'urban') Hint: did you mean 'POP2020'?"
    )


def test_load_region_columns_must_be_keyed_by_layer():
    err = error_of(load_region, "Toy", admin_units=admin_gdf(), demand=demand_gdf(), columns={"population": "POP"})
    assert str(err) == (
        "field 'columns': columns= is keyed by layer, but has the key 'population' Hint: e.g. "
        "columns={'demand': {'population': 'POP2020'}}; layers are admin_units, demand, facilities, candidates"
    )


def test_load_region_spec_with_an_unknown_key(tmp_path):
    err = error_of(load_region, "Toy", admin_units=admin_gdf(), demand={"file": "demand.csv"})
    assert str(err) == (
        "field 'demand': the demand spec has unknown key 'file' Hint: keys are path, layer, columns, crs, lon, lat"
    )
    err = error_of(load_region, "Toy", admin_units=admin_gdf(), demand={"path": "d.csv", "colums": {}})
    assert str(err) == (
        "field 'demand': the demand spec has unknown key 'colums' "
        "Hint: did you mean 'columns'? keys are path, layer, columns, crs, lon, lat"
    )


def test_load_region_layer_of_the_wrong_type():
    err = error_of(load_region, "Toy", admin_units=admin_gdf(), demand=42)
    assert str(err) == (
        "field 'demand': demand must be a file path, a {'path': ...} dict or a GeoDataFrame, got int "
        "Hint: e.g. demand='data/demand.gpkg' or demand={'path': 'region.gpkg', 'layer': 'demand'}"
    )


def test_csv_without_coordinates(tmp_path):
    path = write(tmp_path, "sites.csv", "site_id,address\ns1,Main St\n")
    assert str(error_of(read_candidates, path)) == (
        f"{path}: no longitude/latitude columns found (columns present: 'site_id', 'address') "
        "Hint: name them 'lon' and 'lat', or pass lon='<column>', lat='<column>'"
    )


def test_csv_with_only_a_longitude_column(tmp_path):
    path = write(tmp_path, "sites.csv", "site_id,lon,breite\ns1,120,30\n")
    assert str(error_of(read_candidates, path)) == (
        f"{path}: found the longitude column 'lon' but no latitude column (columns present: 'site_id', 'lon', "
        "'breite') Hint: name it 'lat' or pass lat='<column>'"
    )
    assert read_candidates(path, lat="breite").geometry.y.tolist() == [30]


def test_explicit_lon_that_is_not_a_column(tmp_path):
    path = write(tmp_path, "sites.csv", "site_id,east,north\ns1,120,30\n")
    assert str(error_of(read_candidates, path, lon="eats", lat="north")) == (
        f"{path}: lon='eats' is not a column of this file (columns present: 'site_id', 'east', 'north') "
        "Hint: did you mean lon='east'?"
    )


def test_layers_of_the_wrong_type():
    assert str(error_of(read_demand, 42)) == (
        "the demand layer must be a file path, got int Hint: pass a path such as 'data/demand.gpkg'"
    )
    assert str(error_of(region, demand=[1, 2])) == (
        "demand layer: expected a file path or a GeoDataFrame, got list "
        "Hint: pass a path such as 'data/demand.gpkg', or a GeoDataFrame"
    )


def test_lon_lat_for_a_vector_file(region_gpkg):
    assert str(error_of(read_demand, region_gpkg, lon="x", lat="y")) == (
        f"{region_gpkg}: lon= and lat= are only for CSV and plain Parquet tables; this file has a geometry "
        "Hint: drop lon= and lat="
    )


# ----------------------------------------------------------------------------- value errors
def test_population_not_a_number(tmp_path):
    path = demand_csv(tmp_path, ["d1,100,119.5,29.5", "d2,1 234,121.5,29.5"])
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 2, field 'population': population must be a number, got '1 234' Hint: {NUMBER_HINT}"
    )


def test_renamed_population_names_the_file_column(tmp_path):
    path = demand_csv(tmp_path, ["d1,,119.5,29.5"], header="demand_id,POP2020,lon,lat")
    assert str(error_of(read_demand, path, columns={"population": "POP2020"})) == (
        f"{path}, row 1, field 'POP2020': population is missing "
        "Hint: fill in the number of residents (0 if there are none)"
    )


def test_population_missing_in_a_geopackage(tmp_path):
    gdf = demand_gdf().astype({"population": float})
    gdf.loc[1, "population"] = np.nan
    path = _gpkg(tmp_path, gdf, "demand.gpkg")
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 2, field 'population': population is missing "
        "Hint: fill in the number of residents (0 if there are none)"
    )


def test_population_infinite(tmp_path):
    path = demand_csv(tmp_path, ["d1,inf,119.5,29.5"])
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 1, field 'population': population is infinite (inf) "
        "Hint: give the number of residents as a finite number"
    )


def test_population_negative_in_code():
    demand = demand_gdf().assign(population=[100, -5, 300])
    assert str(error_of(region, demand=demand)) == (
        "ID 'd2', field 'population': demand layer: population is negative (-5) "
        "Hint: the number of residents must be 0 or more"
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=1, max_value=12),
    st.data(),
    st.sampled_from(["-3", "abc", "", "1e400"]),
)
def test_the_first_bad_population_row_is_named(n, data, bad):
    row = data.draw(st.integers(min_value=1, max_value=n))
    populations = [str(data.draw(st.integers(0, 10_000))) for _ in range(n)]
    populations[row - 1] = bad
    rows = [f"d{i},{p},120.{i},30.{i}" for i, p in enumerate(populations)]
    with tempfile.TemporaryDirectory() as tmp:
        path = demand_csv(Path(tmp), rows)
        err = error_of(read_demand, path)
    expected = {
        "-3": "population is negative (-3)",
        "abc": "population must be a number, got 'abc'",
        "": "population is missing",
        "1e400": "population is infinite (inf)",
    }[bad]
    assert (err.row, err.field, err.message) == (row, "population", expected)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 10**9)), min_size=1, max_size=15))
def test_csv_population_round_trip(values):
    rows = [f"{i:04d},{pop},{min(g, pop)},120.5,30.5" for i, (pop, g) in enumerate(values)]
    with tempfile.TemporaryDirectory() as tmp:
        path = demand_csv(Path(tmp), rows, header="demand_id,population,pop_young,lon,lat")
        demand = read_demand(path)
    assert demand.index.tolist() == [f"{i:04d}" for i in range(len(values))]
    assert demand["population"].tolist() == [p for p, _ in values]
    assert demand["pop_young"].tolist() == [min(g, p) for p, g in values]
    assert demand["population"].dtype == np.int64


def test_population_given_as_booleans():
    assert str(error_of(region, demand=demand_gdf().assign(population=True))) == (
        "ID 'd1', field 'population': demand layer: population must be a number, got True "
        "Hint: give numbers, not true/false"
    )


def test_group_larger_than_population(tmp_path):
    path = demand_csv(
        tmp_path, ["d1,100,10,119.5,29.5", "d2,100,120,121.5,29.5"], header="demand_id,population,pop_elderly,lon,lat"
    )
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 2, field 'pop_elderly': pop_elderly (120) is larger than population (100) "
        "Hint: a population group cannot outnumber all residents; check both columns"
    )


def test_group_negative(tmp_path):
    path = demand_csv(tmp_path, ["d1,100,-1,119.5,29.5"], header="demand_id,population,pop_school_age,lon,lat")
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 1, field 'pop_school_age': pop_school_age is negative (-1) "
        "Hint: the school_age population must be 0 or more"
    )


def test_urban_not_a_yes_no_value(tmp_path):
    path = demand_csv(
        tmp_path, ["d1,100,yes,119.5,29.5", "d2,100,maybe,121.5,29.5"], header="demand_id,population,urban,lon,lat"
    )
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 2, field 'urban': urban must be true or false, got 'maybe' "
        "Hint: use true/false, yes/no or 1/0 (or leave the column out: every point is then rural)"
    )


def test_urban_missing(tmp_path):
    demand = demand_gdf().assign(urban=[True, None, False])
    assert str(error_of(region, demand=demand)) == (
        "ID 'd2', field 'urban': demand layer: urban is missing "
        "Hint: fill in true or false (or leave the column out: every point is then rural)"
    )


def test_capacity_negative(tmp_path):
    path = write(tmp_path, "facilities.csv", "facility_id,facility_type,capacity,lon,lat\nf1,school,-40,120,30\n")
    assert str(error_of(read_facilities, path)) == (
        f"{path}, row 1, field 'capacity': capacity is negative (-40) Hint: the capacity must be 0 or more"
    )


def test_capacity_not_a_number(tmp_path):
    path = write(tmp_path, "facilities.csv", "facility_id,facility_type,capacity,lon,lat\nf1,school,lots,120,30\n")
    assert str(error_of(read_facilities, path)) == (
        f"{path}, row 1, field 'capacity': capacity must be a number, got 'lots' Hint: {NUMBER_HINT}"
    )


def test_facility_type_missing(tmp_path):
    path = write(tmp_path, "facilities.csv", "facility_id,facility_type,lon,lat\nf1,school,120,30\nf2,  ,120,30\n")
    assert str(error_of(read_facilities, path)) == (
        f"{path}, row 2, field 'facility_type': facility_type is missing "
        "Hint: give every facility its type, e.g. hospital, school or culture"
    )


def test_facility_defaults(tmp_path):
    path = write(
        tmp_path, "f.csv", "facility_id,facility_type,source,lon,lat\nf1,school,,120,30\nf2,clinic,survey,120,30\n"
    )
    facilities = read_facilities(path)
    assert facilities["source"].tolist() == ["user", "survey"]
    assert facilities["capacity"].isna().all() and facilities["name"].isna().all()


def test_level_missing(tmp_path):
    admin = admin_gdf()
    admin.loc[3, "level"] = None
    path = _gpkg(tmp_path, admin, "admin.gpkg")
    assert str(error_of(read_admin_units, path)) == (
        f"{path}, row 4, field 'level': level is missing "
        "Hint: give every admin unit its level, e.g. province, prefecture, county or township"
    )


# ----------------------------------------------------------------------------- ID errors
def test_id_missing(tmp_path):
    path = demand_csv(tmp_path, ["d1,100,119.5,29.5", ",100,121.5,29.5"])
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 2, field 'demand_id': demand_id is missing Hint: give every demand point a unique demand_id"
    )


def test_duplicate_id_names_both_rows(tmp_path):
    path = demand_csv(tmp_path, ["d1,100,119.5,29.5", "d2,100,121.5,29.5", "d1 ,5,120,30"])
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 3, field 'demand_id': demand_id 'd1' is used twice (rows 1 and 3) "
        "Hint: IDs must be unique within the demand layer"
    )


def test_duplicate_id_in_code_names_positions():
    facilities = facilities_gdf().assign(facility_id=["f1", "f1"])
    assert str(error_of(region, facilities=facilities)) == (
        "row 2, field 'facility_id': facilities layer: facility_id 'f1' is used twice (positions 1 and 2) "
        "Hint: IDs must be unique within the facilities layer"
    )


# ----------------------------------------------------------------------------- geometry errors
def test_point_without_location(tmp_path):
    gdf = facilities_gdf()
    gdf.loc[1, "geometry"] = None
    path = _gpkg(tmp_path, gdf, "facilities.gpkg")
    assert str(error_of(read_facilities, path)) == (
        f"{path}, row 2, field 'geometry': facility has no location "
        "Hint: give every facility a location (Point geometry) or remove the row"
    )


def test_point_with_nan_coordinates():
    demand = demand_gdf().assign(
        geometry=[shapely.Point(120, 30), shapely.Point(np.nan, np.nan), shapely.Point(121, 30)]
    )
    assert str(error_of(region, demand=demand)) == (
        "ID 'd2', field 'geometry': demand layer: the point's coordinates are not finite numbers "
        "Hint: fix the coordinates of this row"
    )


def test_csv_row_without_coordinates(tmp_path):
    path = demand_csv(tmp_path, ["d1,100,119.5,29.5", "d2,100,,29.5"])
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 2, field 'lon': longitude is missing "
        "Hint: every demand point needs a location; fill in its coordinates or remove the row"
    )


def test_csv_coordinate_not_a_number(tmp_path):
    path = demand_csv(tmp_path, ["d1,100,119.5,29°30'"])
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 1, field 'lat': latitude must be a number, got \"29°30'\" Hint: {NUMBER_HINT}"
    )


def test_polygons_as_demand(tmp_path):
    gdf = demand_gdf()
    gdf.geometry = gdf.geometry.map(lambda p: p.buffer(0.01))
    path = _gpkg(tmp_path, gdf, "demand.gpkg")
    assert str(error_of(read_demand, path)) == (
        f"{path}, row 1, field 'geometry': geometry is a Polygon, but demand points must be points "
        "Hint: convert the layer to points first, e.g. GeoSeries.representative_point() or QGIS 'Centroids'"
    )


def test_points_as_admin_units():
    admin = admin_gdf()
    admin.loc[1, "geometry"] = shapely.Point(120, 30)
    assert str(error_of(region, admin_units=admin)) == (
        "ID 'c1', field 'geometry': admin_units layer: geometry is a Point, but admin units must be polygons or "
        "multipolygons Hint: admin units need polygon boundaries (or none at all, for units known only by name)"
    )


def test_invalid_polygon():
    admin = admin_gdf()
    admin.loc[2, "geometry"] = shapely.Polygon([(120.5, 28), (122, 31), (122, 28), (120.5, 31)])
    assert str(error_of(region, admin_units=admin)) == (
        "ID 'c2', field 'geometry': admin_units layer: geometry is invalid (Self-intersection[121.25 29.5]) "
        "Hint: repair it in your GIS (QGIS: Vector ▸ Geometry Tools ▸ Fix Geometries) or with "
        "GeoSeries.make_valid(), then check the result"
    )


def test_invalid_wkt_in_a_csv(tmp_path):
    path = write(tmp_path, "admin.csv", 'unit_id,level,wkt\nzj,province,"POLYGN ((119 28, 122 28, 122 31, 119 28))"\n')
    assert str(error_of(read_admin_units, path)) == (
        f"{path}, row 1, field 'wkt': geometry is not valid WKT: 'POLYGN ((119 28, 122 28, 122 31, 119 28))' "
        "Hint: write geometries as WKT, e.g. 'POLYGON ((120 30, 121 30, 121 31, 120 30))'"
    )


def test_empty_layer(tmp_path):
    path = write(tmp_path, "sites.csv", "site_id,lon,lat\n")
    assert str(error_of(read_candidates, path)) == (
        f"{path}: there are no candidate sites "
        "Hint: the layer is empty; give at least one candidate site (or check the layer name)"
    )
    assert read_facilities(write(tmp_path, "f.csv", "facility_id,facility_type,lon,lat\n")).empty


# ----------------------------------------------------------------------------- hierarchy and references
def test_parent_unknown():
    admin = admin_gdf()
    admin.loc[4, "parent_id"] = "c11"
    assert str(error_of(region, admin_units=admin)) == (
        "ID 't2', field 'parent_id': admin_units layer: parent_id 'c11' is not an admin unit Hint: did you mean "
        "'c1'? parent_id must be the unit_id of another admin unit, or empty for the top unit"
    )


def test_hierarchy_cycle(tmp_path):
    admin = admin_gdf()
    admin.loc[0, "parent_id"] = "t1"  # zj -> t1 -> c2 -> zj
    path = _gpkg(tmp_path, admin, "admin.gpkg")
    assert str(error_of(read_admin_units, path)) == (
        f"{path}, row 1, field 'parent_id': admin units form a cycle: 'zj' → 't1' → 'c2' → 'zj' Hint: a unit "
        "cannot be its own ancestor; fix the parent_id of one of them (the top unit's parent_id is empty)"
    )


def test_unit_is_its_own_parent():
    admin = admin_gdf()
    admin.loc[1, "parent_id"] = "c1"
    assert "admin units form a cycle: 'c1' → 'c1'" in str(error_of(region, admin_units=admin))


def test_unit_id_unknown(tmp_path):
    path = write(tmp_path, "sites.csv", "site_id,unit_id,lon,lat\ns1,c1,119.7,29.7\ns2,c22,121.2,30.8\n")
    err = error_of(load_region, "Toy", admin_units=admin_gdf(), demand=demand_gdf(), candidates=path)
    assert str(err) == (
        f"{path}, row 2, field 'unit_id': unit_id 'c22' is not an admin unit Hint: did you mean 'c2'? unit_id "
        "must be a unit_id of the admin units layer, or empty to assign it from the location"
    )


def test_demand_outside_every_admin_unit():
    demand = demand_gdf()
    demand.loc[1, "geometry"] = shapely.Point(122.05, 29.5)  # 4.8 km east of the region
    assert str(error_of(region, demand=demand)) == (
        "ID 'd2', field 'geometry': demand layer: the point (122.05, 29.5) is not inside any admin unit "
        "(nearest: 't1', 4.8 km away) Hint: fix the coordinates, give this row a unit_id, or pass "
        "snap_distance= (metres) to assign points just outside a boundary to the nearest unit"
    )


def test_no_boundaries_and_no_unit_id(tmp_path):
    admin = admin_gdf().assign(geometry=None)
    assert str(error_of(region, admin_units=admin)) == (
        "ID 'd1', field 'unit_id': demand layer: unit_id is missing and the admin units have no boundaries to "
        "find it from Hint: give every demand point a unit_id, or give the admin units polygon boundaries"
    )


def test_no_boundaries_with_unit_ids_is_fine():
    admin = admin_gdf().assign(geometry=None)
    r = region(
        admin_units=admin, demand=demand_gdf().assign(unit_id=["t2", "t1", "c2"]), facilities=None, candidates=None
    )
    assert r.demand["unit_id"].tolist() == ["t2", "t1", "c2"]
    assert r.projected_crs == CRS.from_epsg(32651)  # from the demand points


def test_bad_snap_distance():
    assert str(error_of(region, snap_distance=-1)) == (
        "field 'snap_distance': snap_distance must be a distance in metres, 0 or more, got -1 Hint: e.g. "
        "snap_distance=500 assigns points up to 500 m outside a boundary to the nearest unit"
    )


def test_projected_crs_argument():
    assert region(projected_crs="EPSG:32651").projected_crs == CRS.from_epsg(32651)
    assert error_of(region, projected_crs="EPSG:4326").field == "projected_crs"
    assert str(error_of(region, projected_crs="UTM please")) == (
        "field 'projected_crs': projected_crs='UTM please' is not a coordinate reference system "
        "Hint: give an EPSG code of a projected CRS, e.g. 'EPSG:32650' (UTM 50N)"
    )


def test_geometry_column_with_another_name_and_z_coordinates():
    demand = demand_gdf().rename_geometry("pt")
    demand["pt"] = shapely.force_3d(demand["pt"].array, z=5.0)
    out = region(demand=demand).demand
    assert out.geometry.name == "geometry" and not out.geometry.has_z.any()


def test_spec_dict_as_the_config_loader_writes_it(tmp_path):
    path = write(tmp_path, "demand.csv", DEMAND_CSV)
    spec = {"path": path, "layer": None, "columns": {}, "crs": None, "lon": None, "lat": None}
    assert load_region("Toy", admin_units=admin_gdf(), demand=spec).files == {"demand": path}


# ----------------------------------------------------------------------------- a column name given twice
DUPLICATE_HINT = "rename or delete one of them, so that it is clear which one holds the data"


def test_csv_with_a_repeated_header_is_refused(tmp_path):
    """pandas would read the second 'population' as 'population.1' and use the first one silently."""
    path = demand_csv(tmp_path, ["d1,100,119.5,29.5,7"], header="demand_id,population,lon,lat,population")
    assert str(error_of(read_demand, path)) == (
        f"{path}, field 'population': column 'population' appears twice (columns 2 and 5) Hint: {DUPLICATE_HINT}"
    )
    # Spaces around a name are trimmed, so ' population' is the same column; also with semicolons (European Excel).
    path = write(tmp_path, "d2.csv", "demand_id;population;lon;lat; population\nd1;100;119.5;29.5;7\n")
    assert str(error_of(read_demand, path)) == (
        f"{path}, field 'population': column 'population' appears twice (columns 2 and 5) Hint: {DUPLICATE_HINT}"
    )
    # Any column, not only regionopt's: which 'note' is meant would be a guess as well.
    path = demand_csv(tmp_path, ["d1,100,119.5,29.5,a,b"], header="demand_id,population,lon,lat,note,note")
    assert error_of(read_demand, path).field == "note"


def test_parquet_with_a_repeated_column_is_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "demand.parquet"
    pq.write_table(
        pa.table(
            [pa.array(["d1"]), pa.array([1]), pa.array([2]), pa.array([119.5]), pa.array([29.5])],
            names=["demand_id", "population", "population", "lon", "lat"],
        ),
        path,
    )
    assert str(error_of(read_demand, path)) == (
        f"{path}, field 'population': column 'population' appears twice (columns 2 and 3) Hint: {DUPLICATE_HINT}"
    )


def test_geodataframe_with_a_repeated_column_is_refused():
    frame = pd.DataFrame([["d1", 100, 200]], columns=["demand_id", "population", "population"])
    gdf = gpd.GeoDataFrame(frame, geometry=[shapely.Point(119.5, 29.5)], crs="EPSG:4326")
    err = error_of(region_from_geodataframes, admin_units=admin_gdf(), demand=gdf)
    assert str(err) == (
        f"field 'population': demand layer: column 'population' appears twice (columns 2 and 3) Hint: {DUPLICATE_HINT}"
    )
    plain = pd.DataFrame([["d1", 100, 119.5, 29.5, 30.0]], columns=["demand_id", "population", "lon", "lat", "lat"])
    assert error_of(region_from_geodataframes, admin_units=admin_gdf(), demand=plain).field == "lat"
