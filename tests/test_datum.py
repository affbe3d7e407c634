"""GCJ-02 ⇄ WGS-84 conversion (optimizer.datum)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from optimizer.datum import (
    gcj02_offset,
    gcj02_to_wgs84,
    geometry_to_gcj02,
    geometry_to_wgs84,
    in_china,
    out_of_china,
    planar_xy,
    projected_crs,
    transform_geometry,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def zhejiang_grid() -> tuple[np.ndarray, np.ndarray]:
    """A dense 201 × 201 lattice over Zhejiang's bounding box (WGS-84)."""
    lon, lat = np.meshgrid(np.linspace(118.0, 123.3, 201), np.linspace(27.0, 31.3, 201))
    return lon.ravel(), lat.ravel()


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def test_round_trip_is_millimetre_accurate_over_zhejiang(zhejiang_grid):
    lon, lat = zhejiang_grid
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    error = metres(lon, lat, back_lon, back_lat)
    assert error.max() < 0.5  # the product's requirement
    assert error.max() < 0.001  # what the iteration actually delivers (tol 1e-9°)


def test_inverse_then_forward_reproduces_gcj_input(zhejiang_grid):
    # the same check from the other side: treat the lattice as GCJ-02 input
    lon, lat = zhejiang_grid
    f_lon, f_lat = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert np.abs(f_lon - lon).max() < 1e-8 and np.abs(f_lat - lat).max() < 1e-8


def test_forward_offset_in_zhejiang_is_half_a_kilometre(zhejiang_grid):
    lon, lat = zhejiang_grid
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    shift = metres(lon, lat, g_lon, g_lat)
    # the data README measured 470–590 m at county centroids; over the full bbox 452–621 m
    assert shift.min() > 400 and shift.max() < 650
    # GCJ-02 is east and south of WGS-84 everywhere in the province
    assert (g_lon > lon).all() and (g_lat < lat).all()


def test_hangzhou_offset_matches_published_magnitude():
    # README: "Hangzhou about 520 m"; West Lake, WGS-84
    g_lon, g_lat = wgs84_to_gcj02(120.1551, 30.2741)
    assert 500 < metres(120.1551, 30.2741, g_lon, g_lat) < 540
    assert g_lon - 120.1551 == pytest.approx(0.00469, abs=2e-5)
    assert g_lat - 30.2741 == pytest.approx(-0.00233, abs=2e-5)


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(2.3522, 48.8566), (-74.006, 40.7128), (139.6917, 35.6895), (151.2093, -33.8688), (103.8198, 0.5)],
)
def test_points_outside_china_are_unchanged(lon, lat):
    assert out_of_china(lon, lat) and not in_china(lon, lat)
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)
    assert gcj02_offset(lon, lat) == (0.0, 0.0)


def test_mixed_arrays_shift_only_the_points_in_china():
    lon = np.array([120.0, 2.35, 121.5])
    lat = np.array([30.0, 48.85, 29.9])
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert g_lon[1] == 2.35 and g_lat[1] == 48.85
    assert g_lon[0] != 120.0 and g_lon[2] != 121.5
    assert out_of_china(lon, lat).tolist() == [False, True, False]


def test_scalars_give_floats_and_arrays_keep_their_shape():
    lon, lat = wgs84_to_gcj02(120, 30)
    assert isinstance(lon, float) and isinstance(lat, float)
    grid_lon, grid_lat = wgs84_to_gcj02(np.full((3, 4), 120.0), 30.0)  # broadcasts
    assert grid_lon.shape == grid_lat.shape == (3, 4)
    inv_lon, _ = gcj02_to_wgs84([120.0, 121.0], [30.0, 29.0])
    assert isinstance(inv_lon, np.ndarray) and inv_lon.shape == (2,)


def test_nan_passes_through_without_blocking_convergence():
    lon, lat = gcj02_to_wgs84(np.array([np.nan, 120.0]), np.array([30.0, 30.0]))
    assert np.isnan(lon[0])
    assert wgs84_to_gcj02(lon[1], lat[1]) == pytest.approx((120.0, 30.0), abs=1e-9)


def test_max_iter_too_small_raises():
    with pytest.raises(RuntimeError, match="did not converge"):
        gcj02_to_wgs84(120.0, 30.0, tol=1e-15, max_iter=1)


def test_transform_geometry_on_shapely_and_geoseries():
    poly = shapely.Polygon([(120.0, 30.0), (120.1, 30.0), (120.1, 30.1), (120.0, 30.1)])
    shifted = geometry_to_gcj02(poly)
    coords = shapely.get_coordinates(shifted)
    expected = np.column_stack(wgs84_to_gcj02(*shapely.get_coordinates(poly).T))
    np.testing.assert_allclose(coords, expected)
    # round trip through a GeoSeries keeps index, CRS, empties and missing values
    series = gpd.GeoSeries([poly, None, shapely.Point()], index=["a", "b", "c"], crs=4326)
    back = geometry_to_wgs84(geometry_to_gcj02(series))
    assert list(back.index) == ["a", "b", "c"] and back.crs.to_epsg() == 4326
    assert back.iloc[1] is None and back.iloc[2].is_empty
    assert shapely.hausdorff_distance(back.iloc[0], poly) < 1e-9
    # z values are carried through untouched
    p3 = transform_geometry(shapely.Point(120.0, 30.0, 12.5), wgs84_to_gcj02)
    assert p3.has_z and p3.z == 12.5


def test_transform_geometry_on_geodataframe_returns_copy():
    gdf = gpd.GeoDataFrame({"name": ["x"]}, geometry=[shapely.Point(121.0, 29.0)], crs=4326)
    out = geometry_to_gcj02(gdf)
    assert out.geometry.iloc[0].x > 121.0 and gdf.geometry.iloc[0].x == 121.0
    assert list(out.columns) == ["name", "geometry"]


@settings(max_examples=200, deadline=None)
@given(lon=st.floats(73.0, 135.0), lat=st.floats(18.0, 53.0))
def test_round_trip_property_across_china(lon, lat):
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert metres(lon, lat, back_lon, back_lat) < 0.001
    # and the shift itself stays within the formula's known bounds (< ~1 km)
    assert metres(lon, lat, *wgs84_to_gcj02(lon, lat)) < 1000


def test_planar_xy_reprojects_an_edited_layer_again_and_hands_out_copies():
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([120.0, 121.5, 119.2], [30.0, 29.1, 28.4]), crs="EPSG:4326")
    utm = "EPSG:32651"
    expected = np.column_stack([pts.to_crs(utm).geometry.x, pts.to_crs(utm).geometry.y])
    first = planar_xy(pts, utm)
    np.testing.assert_array_equal(first, expected)
    first[:] = 0.0  # a caller writing into its array does not reach the next caller
    np.testing.assert_array_equal(planar_xy(pts, utm), expected)
    pts.loc[1, "geometry"] = shapely.Point(122.0, 30.5)  # edited in place
    moved = pts.to_crs(utm).geometry
    np.testing.assert_array_equal(planar_xy(pts, utm), np.column_stack([moved.x, moved.y]))
    # Same coordinates in another source CRS are other points.
    other = gpd.GeoDataFrame(geometry=pts.geometry.to_numpy(), crs="EPSG:3857")
    again = other.to_crs(utm).geometry
    np.testing.assert_array_equal(planar_xy(other, utm), np.column_stack([again.x, again.y]))


def test_projected_crs_remembers_the_zone_per_crs_and_bounds():
    """The remembered UTM zone is the one estimate_utm_crs finds, per layer bounds (not one for all layers)."""
    west = gpd.GeoDataFrame(geometry=gpd.points_from_xy([118.2, 118.6], [29.0, 29.4]), crs="EPSG:4326")
    east = gpd.GeoDataFrame(geometry=gpd.points_from_xy([121.2, 121.6], [29.0, 29.4]), crs="EPSG:4326")
    for _ in range(2):  # the second round is answered from memory
        assert projected_crs(west) == west.estimate_utm_crs() and projected_crs(west).to_epsg() == 32650
        assert projected_crs(east) == east.estimate_utm_crs() and projected_crs(east).to_epsg() == 32651
