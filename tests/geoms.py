"""Catalogue of small canonical geometries shared by the tests (after shapely's tests/common.py).

Everything lives in EPSG:9207 near Rạch Giá, offset from (X0, Y0), so areas and lengths can be
worked out by hand: the figures in the comments are those hand computations.

Master plan (3 zones, a clean coverage of the 200 × 200 m square):
    M0 LUC  [0,100]×[0,100]      M1 RPH  [100,200]×[0,100]      M2 ODT  [0,200]×[100,200]
Plan:
    P0 ODT  box [50,150]×[25,75]   -> 50×50 = 2500 m² on LUC, 2500 m² on RPH
    P1 DGT  line (10,50)-(190,50)  -> 90 m on LUC, 90 m on RPH
    P2 DNL  point (150,50)         -> in RPH
    P3 ODT  box [20,80]×[120,180]  -> on ODT: same code, compatible
    P4 TMD  box [120,180]×[120,180] -> on ODT: 3600 m², conditional under the test rules
    P5 SKK  box [150,80]×[190,120]  -> 40×20 = 800 m² on RPH (conflict), 800 m² on ODT (no rule: unreviewed)
Units: A [0,80]×[0,200] and B [70,200]×[0,200] overlap in [70,80]; the overlap goes to A (code 'A' < 'B').
"""

from __future__ import annotations

import geopandas as gpd
import shapely

X0, Y0 = 560_000.0, 1_100_000.0
CRS = "EPSG:9207"


def box(x1, y1, x2, y2):
    return shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2)


def line(*pts):
    return shapely.LineString([(X0 + x, Y0 + y) for x, y in pts])


def point(x, y):
    return shapely.Point(X0 + x, Y0 + y)


def master_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"MA_QH": ["LUC", "RPH", "ODT"], "TEN": ["Lúa chuyên canh", "Rừng phòng hộ ven biển", "Đô thị Rạch Giá"]},
        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100), box(0, 100, 200, 200)],
        crs=CRS,
    )


def plan_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "ma": ["ODT", "DGT", "DNL", "ODT", "TMD", "SKK"],
            "ten": ["Khu dân cư mới", "Đường tỉnh ĐT.963", "Trạm biến áp", "Khu ở hiện hữu", "Chợ", "Cụm công nghiệp"],
            "so_hieu": ["KDC-01", "DT963", "TBA-1", "KO-2", "CHO-1", "CCN-1"],
        },
        geometry=[
            box(50, 25, 150, 75),
            line((10, 50), (190, 50)),
            point(150, 50),
            box(20, 120, 80, 180),
            box(120, 120, 180, 180),
            box(150, 80, 190, 120),
        ],
        crs=CRS,
    )


def units_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"ma_xa": ["A", "B"], "ten_xa": ["Phường Vĩnh Thanh", "Xã Phi Thông"]},
        geometry=[box(0, 0, 80, 200), box(70, 0, 200, 200)],
        crs=CRS,
    )


RULES_CSV = """rule_id,plan_code,master_code,verdict,severity,reference,note
R01,ODT,LUC,conflict,high,Luật Đất đai 2024,Đất ở đô thị trên đất chuyên trồng lúa
R02,*,RPH,conflict,high,Luật Lâm nghiệp 2017,Mọi công trình trong rừng phòng hộ
R03,DGT,LUC,conditional,medium,Nghị định 112/2024/NĐ-CP,Đường qua đất lúa cần thẩm định
R04,TMD,ODT,conditional,low,,Thương mại trong khu ở cần thẩm định
R05,DNL,*,compatible,,,
"""
