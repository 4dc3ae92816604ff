"""conflicts.gpkg: one declared geometry type per layer, single parts promoted to multi, text intact."""

from __future__ import annotations

import geopandas as gpd
import pyogrio
import pytest
import shapely

from kgspatial.output import write_conflicts_gpkg

SQUARE = shapely.box(0, 0, 10, 10)
TWO = shapely.MultiPolygon([shapely.box(20, 0, 30, 10), shapely.box(40, 0, 50, 10)])
ROAD = shapely.LineString([(0, 0), (30, 40)])
CANALS = shapely.MultiLineString([[(0, 0), (0, 5)], [(1, 0), (1, 5)]])


@pytest.mark.parametrize(
    ("geoms", "declared"),
    [
        ([SQUARE, TWO], "MultiPolygon"),
        ([TWO, TWO], "MultiPolygon"),  # nothing to promote
        ([ROAD, ROAD], "MultiLineString"),  # everything to promote
        ([ROAD, CANALS], "MultiLineString"),
        ([shapely.Point(1, 2), shapely.Point(3, 4)], "Point"),
        ([shapely.Point(1, 2), shapely.MultiPoint([(5, 6), (7, 8)])], "MultiPoint"),
        ([SQUARE, ROAD], "Unknown"),
    ],
)
def test_declared_type_and_geometries_survive(tmp_path, geoms, declared):
    frame = gpd.GeoDataFrame(
        {"rule_id": ["R1", None], "plan_label": ["Đất trồng lúa", "Đường 3/2"], "area_m2": [1.5, 2.0]},
        geometry=geoms,
        crs="EPSG:9207",
    )
    path = tmp_path / "conflicts.gpkg"
    write_conflicts_gpkg(frame, path)
    info = pyogrio.read_info(path, layer="conflicts")
    assert info["geometry_type"] == declared
    assert info["crs"] == "EPSG:9207"
    back = gpd.read_file(path, layer="conflicts")
    assert back["plan_label"].tolist() == ["Đất trồng lúa", "Đường 3/2"]
    assert back["rule_id"].isna().tolist() == [False, True]
    assert back["area_m2"].tolist() == [1.5, 2.0]
    for written, read in zip(geoms, back.geometry):
        assert read.equals(written)  # same point set; a single part comes back as a one-part multi
        if declared.startswith("Multi"):
            assert read.geom_type == declared
    # Hand figures: the square is 100 m², the two boxes 200 m², the road a 3-4-5 triangle's 50 m.
    if declared == "MultiPolygon":
        assert back.area.tolist() == shapely.area(geoms).tolist()  # 100 m² square, 200 m² for two boxes
        assert set(back.area) <= {100.0, 200.0}
    if declared == "MultiLineString":
        assert back.length.tolist() == shapely.length(geoms).tolist()  # 3-4-5: 50 m; canals 2 × 5 m
        assert set(back.length) <= {50.0, 10.0}


def test_empty_result_still_has_its_columns(tmp_path):
    frame = gpd.GeoDataFrame({"rule_id": [], "area_m2": []}, geometry=gpd.GeoSeries([], crs="EPSG:9207"))
    frame["rule_id"] = frame["rule_id"].astype(object)
    path = tmp_path / "conflicts.gpkg"
    write_conflicts_gpkg(frame, path)
    info = pyogrio.read_info(path, layer="conflicts")
    assert info["features"] == 0
    assert list(info["fields"]) == ["rule_id", "area_m2"]


def test_arrow_backed_columns_are_written(tmp_path):
    """Columns pyogrio reads with Arrow (pandas ArrowDtype, string[pyarrow]) come to the writer as
    chunked arrays: the demo's batch lost every plan's outputs to them once ("Cannot convert
    pyarrow.lib.ChunkedArray")."""
    import geopandas as gpd
    import pandas as pd
    import pyarrow as pa
    import pyogrio
    import shapely

    from kgspatial.output import write_conflicts_gpkg

    chunked = pa.chunked_array([["Lúa A"], ["Đất ở"]])
    frame = gpd.GeoDataFrame(
        {
            "master_label": pd.Series(pd.arrays.ArrowExtensionArray(chunked)),
            "plan_label": pd.Series(["KDC-01", "KDC-02"], dtype="string[pyarrow]"),
            "area_m2": [2500.0, 800.0],
        },
        geometry=[shapely.box(0, 0, 50, 50), shapely.box(0, 0, 40, 20)],
        crs="EPSG:9207",
    )
    write_conflicts_gpkg(frame, tmp_path / "c.gpkg")
    back = pyogrio.read_dataframe(tmp_path / "c.gpkg")
    assert list(back["master_label"]) == ["Lúa A", "Đất ở"] and list(back["plan_label"]) == ["KDC-01", "KDC-02"]
    assert list(back.geometry.area) == [2500.0, 800.0]
