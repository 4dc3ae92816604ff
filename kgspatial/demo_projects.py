"""The demo province's priority investment projects and land-use indicators (CONTRACT §9).

Written by kgspatial.demo after the plans, because some projects are drawn on the plans' own
features (a power line the energy plan draws, a hospital block of the Rạch Giá plan) so that
their reservation is known by construction.

Real: the places and their coordinates (commune centroids cited in demo.py; the ports from
OpenStreetMap, © OpenStreetMap contributors, ODbL 1.0, read from the HOT export listed in
../shared/data/README.md); the Hà Tiên – Rạch Giá expressway's length of 86 km and the Phú Quốc
airport plan's 1,050 ha (both named in the issue as confirmed figures; not checked here against
the decisions); the names of the industrial parks (Thạnh Lộc, Thuận Yên, Xẻo Rô) and of the Cái
Lớn – Cái Bé irrigation works. Invented: every status, phase, capital figure, funding source and
every shape, and the indicator targets (marked "minh họa / illustrative" in their source column).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

from .demo import CRS, PQ_AIRPORT, RACH_GIA, THANH_LOC, THUAN_YEN, TOWNS, XEO_RO, _box, _through, _xy

PROJECTS_FILE = "du_an_trong_diem.gpkg"
PROJECTS_LAYER = "du_an"
INDICATORS_FILE = "chi_tieu_su_dung_dat.csv"
# The registry's mapping of the file's Vietnamese column names (CONTRACT §9 `projects:`).
PROJECTS_ENTRY = {
    "path": PROJECTS_FILE,
    "layer": PROJECTS_LAYER,
    "id_field": "MaDA",
    "name_field": "TenDA",
    "code_field": "MaDat",
    "sector_field": "LinhVuc",
    "phase_field": "GiaiDoan",
    "status_field": "TinhTrang",
    "capital_field": "TongVon",
    "funding_field": "NguonVon",
}

# OpenStreetMap points (lat, lon), see the module docstring.
PORT_HON_CHONG = (10.1465, 104.6004)  # "cảng Hòn Chông"
PORT_AN_THOI = (10.0126, 104.0148)  # "Cảng An Thới"
PORT_RACH_GIA = (10.0102, 105.0773)  # "Rạch Giá, Cầu Cảng 1"
PORT_BAI_VONG = (10.1458, 104.0388)  # "Bai Vong Passanger Ferry"
PORT_HA_TIEN = (10.3785, 104.4886)  # "bến tàu hà tiên"
# The expressway's drawn route: 86.07 km in EPSG:9207 (the real route is 86 km).
EXPRESSWAY = [
    (10.372, 104.515),
    (10.31, 104.59),
    (10.27, 104.70),
    (10.25, 104.83),
    (10.21, 104.97),
    (10.14, 105.09),
    (10.07, 105.17),
    (10.030, 105.145),
]


def _feature(frames: dict, plan_id: str, feature: str):
    frame = frames[plan_id]
    return frame.geometry[frame["_id"] == feature].iloc[0]


def _first_block(frames: dict, plan_id: str, code: str, within):
    """The plan's first block of that code lying wholly inside `within` (a master zone)."""
    frame = frames[plan_id]
    column = next(c for c in ("ma", "KyHieu", "LOAIDAT", "MaLoaiDat") if c in frame)
    blocks = frame.geometry[(frame[column].str.upper() == code) & frame.geometry.within(within)]
    return blocks.iloc[0]


def _part_on(frames: dict, plan_id: str, code: str, beside: tuple[str, ...], within, share: float):
    """A block-sized box lying `share` on the plan's first block of `code` that has a neighbour of
    one of `beside` (east, north, west or south; all inside `within`), the rest on that neighbour: its
    reservation is `share` by construction."""
    frame = frames[plan_id]
    for block in frame.geometry[(frame["ma"] == code) & frame.geometry.within(within)]:
        x1, y1, x2, y2 = block.bounds
        w, h = (x2 - x1) * (1 - share), (y2 - y1) * (1 - share)
        for dx, dy in ((w, 0), (0, h), (-w, 0), (0, -h)):
            box = shapely.box(x1 + dx, y1 + dy, x2 + dx, y2 + dy)
            under = frame[frame.geometry.intersection(box).area > 1]
            if len(under) == 2 and set(under["ma"]) - {code} <= set(beside) and box.within(within):
                return box
    raise AssertionError(f"demo layout: no {code} block beside one of {beside} in {plan_id}")


def build_projects(frames: dict[str, gpd.GeoDataFrame], named: dict) -> gpd.GeoDataFrame:
    """About 30 projects: (id, name, code, sector, phase, status, capital bn VND, funding, geometry)."""
    rg_zone = named["Đất ở đô thị Rạch Giá"]
    hospital = _first_block(frames, "qhc-rach-gia", "DYT", rg_zone)
    # 60 % on a school block, 40 % on a block of a use the school may not take (TMD R701, DVH/DYT
    # R601, DKV/DGT R801: conditional, not compatible); a clinic 45 % on its own block likewise.
    others = ("TMD", "DVH", "DYT", "DGD", "DKV", "DGT")
    school_part = _part_on(frames, "qhc-rach-gia", "DGD", others, rg_zone, 0.6)
    clinic_part = _part_on(frames, "qhc-rach-gia", "DYT", others, rg_zone, 0.45)
    px, py = _xy(*PQ_AIRPORT)
    rows = [
        # Transport
        (
            "GT-01",
            "Đường cao tốc Hà Tiên – Rạch Giá",
            "DGT",
            "Giao thông",
            "2021-2025",
            "đang thi công",
            17_000,
            "đầu tư công",
            _through(*EXPRESSWAY),
        ),
        (
            "GT-02",
            "Đường cao tốc Rạch Giá – Bạc Liêu (đoạn qua tỉnh)",
            "DGT",
            "Giao thông",
            "giai đoạn 2026-2030",
            "đề xuất",
            12_500,
            "PPP",
            _through(RACH_GIA, TOWNS["Minh Lương"], TOWNS["Gò Quao"], (9.62, 105.36)),
        ),
        (
            "GT-03",
            "Nâng cấp đường tỉnh 963",
            "DGT",
            "Giao thông",
            "2021-2025",
            "hoàn thành",
            820,
            "ngân sách",
            _feature(frames, "gt-duong-tinh", "DT963"),
        ),
        (
            "GT-04",
            "Mở rộng Cảng hàng không quốc tế Phú Quốc",
            "DGT",
            "Cảng hàng không",
            "2021-2025",
            "đang triển khai",
            16_000,
            "PPP",
            shapely.box(px - 1750, py - 1500, px + 1750, py + 1500),
        ),  # 3,500 × 3,000 m = 1,050 ha
        (
            "GT-05",
            "Nâng cấp Cảng hàng không Rạch Giá",
            "DGT",
            "Cảng hàng không",
            "2026-2030",
            "chuẩn bị đầu tư",
            2_100,
            "đầu tư công",
            _box(9.9580, 105.1340, 400, 1500),
        ),
        # Ports (OpenStreetMap places)
        (
            "CB-01",
            "Cảng tổng hợp Hòn Chông",
            "DGT",
            "Cảng biển",
            "2021-2025",
            "đã phê duyệt chủ trương đầu tư",
            3_200,
            "tư nhân",
            shapely.Point(_xy(*PORT_HON_CHONG)),
        ),
        (
            "CB-02",
            "Cảng hành khách quốc tế An Thới",
            "DGT",
            "Cảng biển",
            "2021-2025",
            "hoàn thành",
            1_500,
            "tư nhân",
            shapely.Point(_xy(*PORT_AN_THOI)),
        ),
        (
            "CB-03",
            "Nâng cấp cảng Rạch Giá",
            "DGT",
            "Cảng biển",
            "2026-2030",
            "đề xuất",
            900,
            "hỗn hợp",
            shapely.Point(_xy(*PORT_RACH_GIA)),
        ),
        (
            "CB-04",
            "Bến cảng Bãi Vòng",
            "DGT",
            "Cảng biển",
            "2026-2030",
            "tạm dừng",
            1_200,
            "tư nhân",
            shapely.Point(_xy(*PORT_BAI_VONG)),
        ),
        (
            "CB-05",
            "Bến tàu khách Hà Tiên",
            "DGT",
            "Cảng biển",
            "2021-2025",
            "hoàn thành",
            250,
            "ngân sách",
            shapely.Point(_xy(*PORT_HA_TIEN)),
        ),
        # Industrial parks
        (
            "KCN-01",
            "Khu công nghiệp Thạnh Lộc",
            "SKK",
            "Khu công nghiệp",
            "2021-2025",
            "đang thi công",
            2_800,
            "tư nhân",
            _box(*THANH_LOC, 1400, 1400),
        ),
        (
            "KCN-02",
            "Khu công nghiệp Xẻo Rô",
            "SKK",
            "Khu công nghiệp",
            "2026-2030",
            "kêu gọi đầu tư",
            3_500,
            "tư nhân",
            _box(*XEO_RO, 1400, 2000),
        ),  # larger than the master's 1,000 × 1,400 m zone
        (
            "KCN-03",
            "Khu công nghiệp Thuận Yên",
            "SKK",
            "Khu công nghiệp",
            "2021-2025",
            "đề xuất",
            1_900,
            "FDI",
            _box(*THUAN_YEN, 1000, 1000),
        ),
        # Irrigation and water
        (
            "TL-01",
            "Hệ thống thủy lợi Cái Lớn – Cái Bé (giai đoạn 2)",
            "DTL",
            "Thủy lợi",
            "2021-2025",
            "đang thi công",
            3_300,
            "vốn ODA",
            _feature(frames, "thuy-loi", "K-CL"),
        ),
        (
            "TL-02",
            "Nạo vét kênh Rạch Giá – Hà Tiên",
            "DTL",
            "Thủy lợi",
            "2026-2030",
            "chuẩn bị đầu tư",
            650,
            "đầu tư công",
            _feature(frames, "thuy-loi", "K-RGHT"),
        ),
        (
            "TL-03",
            "Cống ngăn mặn ven biển An Biên",
            "DTL",
            "Thủy lợi",
            "2021-2025",
            "tạm dừng",
            480,
            "đầu tư công",
            shapely.Point(_xy(9.8000, 104.8860)),
        ),  # in the coastal protection forest
        (
            "CN-01",
            "Hồ chứa nước Dương Đông (mở rộng)",
            "DTL",
            "Cấp nước",
            "2026-2030",
            "đề xuất",
            700,
            "đầu tư công",
            _box(10.3100, 103.9900, 1200, 800),
        ),  # in Phú Quốc National Park
        (
            "CN-02",
            "Nhà máy nước Tân Hiệp 2",
            "DCT",
            "Cấp nước",
            "2021-2025",
            "hoàn thành",
            380,
            "xã hội hóa",
            _box(10.0950, 105.2900, 300, 200),
        ),
        # Energy
        (
            "NL-01",
            "Đường dây 220 kV Rạch Giá – Kiên Lương",
            "DNL",
            "Năng lượng",
            "2021-2025",
            "hoàn thành",
            1_100,
            "doanh nghiệp",
            _feature(frames, "nang-luong-duong-day", "DZ-220-01"),
        ),
        (
            "NL-02",
            "Đường dây 110 kV Vĩnh Thuận – An Minh",
            "DNL",
            "Năng lượng",
            "2026-2030",
            "chuẩn bị đầu tư",
            240,
            "doanh nghiệp",
            _feature(frames, "nang-luong-duong-day", "DZ-110-02"),
        ),
        (
            "NL-03",
            "Nhà máy điện mặt trời Hòn Đất",
            "DNL",
            "Năng lượng",
            "2021-2025",
            "dừng thực hiện",
            1_600,
            "tư nhân",
            _feature(frames, "nang-luong-nha-may", "NM-DMT-01"),
        ),
        (
            "NL-04",
            "Điện gió ven biển Kiên Lương",
            "DNL",
            "Năng lượng",
            "2026-2030",
            "đề xuất",
            4_200,
            "tư nhân",
            _box(10.1500, 104.7000, 2000, 1000),
        ),
        # Waste
        (
            "MT-01",
            "Khu xử lý chất thải rắn Hòn Đất",
            "DRA",
            "Xử lý chất thải",
            "2021-2025",
            "chuẩn bị đầu tư",
            560,
            "xã hội hóa",
            _feature(frames, "cap-nuoc-rac", "BR-02"),
        ),
        (
            "MT-02",
            "Nhà máy điện rác Rạch Giá",
            "DRA",
            "Xử lý chất thải",
            "2026-2030",
            "đề xuất",
            1_300,
            "PPP",
            shapely.box(
                rg_zone.bounds[0] + 400, rg_zone.bounds[1] + 4500, rg_zone.bounds[0] + 700, rg_zone.bounds[1] + 4800
            ),
        ),
        # Social infrastructure on the Rạch Giá general plan's own blocks
        (
            "YT-01",
            "Bệnh viện đa khoa tỉnh (cơ sở 2)",
            "DYT",
            "Y tế",
            "2021-2025",
            "hoàn thành",
            1_450,
            "đầu tư công",
            hospital.buffer(-20, join_style="mitre"),
        ),
        (
            "GD-01",
            "Trường đại học Kiên Giang (mở rộng)",
            "DGD",
            "Giáo dục",
            "2026-2030",
            "đã phê duyệt",
            600,
            "đầu tư công",
            school_part,
        ),
        (
            "YT-02",
            "Trung tâm kiểm soát bệnh tật tỉnh",
            "DYT",
            "Y tế",
            "2026-2030",
            "chuẩn bị đầu tư",
            420,
            "đầu tư công",
            clinic_part,
        ),
        # Tourism, agriculture, aquaculture, sea encroachment
        (
            "DL-01",
            "Khu du lịch Bãi Sao",
            "KDL",
            "Du lịch",
            "2021-2025",
            "hoàn thành",
            5_000,
            "tư nhân",
            _feature(frames, "du-lich-phu-quoc", "PQ-DL-01"),
        ),
        (
            "DL-02",
            "Khu du lịch sinh thái Hòn Chông",
            "KDL",
            "Du lịch",
            "2026-2030",
            "đề xuất",
            2_400,
            "tư nhân",
            _box(10.1641, 104.6005, 1200, 1200),
        ),
        (
            "NN-01",
            "Khu nông nghiệp ứng dụng công nghệ cao Hòn Đất",
            "KNN",
            "Nông nghiệp công nghệ cao",
            "2026-2030",
            "kêu gọi đầu tư",
            850,
            "hỗn hợp",
            _box(10.2000, 104.9000, 1500, 1000),
        ),
        (
            "TS-01",
            "Vùng nuôi tôm công nghệ cao An Minh",
            "NTS",
            "Thủy sản",
            "2021-2025",
            "đang triển khai",
            1_200,
            "tư nhân",
            _box(9.6800, 104.9500, 2000, 1500),
        ),
        (
            "LB-01",
            "Khu đô thị lấn biển Tây Bắc Rạch Giá",
            "ODT",
            "Lấn biển",
            "2026-2030",
            "đề xuất",
            9_800,
            "tư nhân",
            _box(10.0300, 105.0500, 2000, 1500),
        ),
        (
            "LB-02",
            "Khu đô thị lấn biển Hà Tiên",
            "ODT",
            "Lấn biển",
            "sau năm 2030",
            "đề xuất",
            6_000,
            "tư nhân",
            _box(10.3300, 104.4200, 1500, 1000),
        ),  # wholly at sea, off the master plan
    ]
    assert len({r[0] for r in rows}) == len(rows)
    return gpd.GeoDataFrame(
        {
            "MaDA": [r[0] for r in rows],
            "TenDA": [r[1] for r in rows],
            "MaDat": [r[2] for r in rows],
            "LinhVuc": [r[3] for r in rows],
            "GiaiDoan": [r[4] for r in rows],
            "TinhTrang": [r[5] for r in rows],
            "TongVon": [float(r[6]) for r in rows],
            "NguonVon": [r[7] for r in rows],
        },
        geometry=[r[8] for r in rows],
        crs=CRS,
    )  # exact: some are the plans' own features


# Indicator targets of the demo's communes: invented (illustrative); the units are real codes. A
# 2025 unit keeps the code of one of the communes merged into it, so `units` says which set is meant.
INDICATORS = """unit_code,units,code,bound,target_ha,tolerance_pct,source
30886,admin,LUC,min,9000,,minh họa / illustrative
30886,admin,SKK,max,200,,minh họa / illustrative
30742,admin,ODT,max,3000,,minh họa / illustrative
30742,admin,DGT,target,110,5,minh họa / illustrative
30817,admin,LUA,min,26000,,minh họa / illustrative
30901,admin_previous,SKK,target,256,5,minh họa / illustrative (xã Thạnh Lộc cũ / the pre-2025 commune)
31078,admin,RDD,min,30000,,minh họa / illustrative
31078,admin,DGT,max,300,,minh họa / illustrative
*,,LUA,min,250000,,minh họa / illustrative
*,,LNP,min,40000,,minh họa / illustrative
"""


def write_projects(out: Path, frames: dict, named: dict) -> dict:
    """The projects layer and the indicator table in `out`; returns the registry's `projects:` entry."""
    (out / PROJECTS_FILE).unlink(missing_ok=True)
    build_projects(frames, named).to_file(
        out / PROJECTS_FILE, layer=PROJECTS_LAYER, driver="GPKG", geometry_type="Unknown"
    )
    (out / INDICATORS_FILE).write_text(INDICATORS, encoding="utf-8")
    return dict(PROJECTS_ENTRY)


README = """
## Priority projects and land-use indicators (CONTRACT §9)

- `du_an_trong_diem.gpkg` (layer `du_an`, points, lines and polygons in one layer): 33 priority
  projects with Vietnamese field names (`MaDA`, `TenDA`, `MaDat`, `LinhVuc`, `GiaiDoan`,
  `TinhTrang`, `TongVon` in billion VND, `NguonVon`) and Vietnamese values (`đang thi công`,
  `hoàn thành`, `đầu tư công`…), mapped by `projects:` in `registry.yaml`.
- `chi_tieu_su_dung_dat.csv`: land-use indicators of some communes (2025 units, one pre-2025
  commune, the whole province); every target is invented (source column "minh họa").

Real: the places; the ports are OpenStreetMap points (© OpenStreetMap contributors, ODbL); the
Hà Tiên – Rạch Giá expressway's 86 km (drawn 86.07 km) and the Phú Quốc airport plan's 1,050 ha
(3,500 × 3,000 m); the names of the industrial parks and of the Cái Lớn – Cái Bé works. Invented:
every status, phase, capital, funding source and shape. On purpose: projects drawn on the plans'
own features (reserved), a school 60 % and a health centre 45 % on blocks of their own use
(reserved, not reserved), a waste plant and two canals on features of the abolished and the
expired plans (not reserved), a power line reserved by the energy plan yet through the national
park (conflict), a sea-encroachment area wholly at sea (outside the master plan). With the
demo's hazard layers (`hazards/`) each project gets its highest band; the Thạnh Lộc industrial
park lies in the elevation model's survey gap, so its band is *unknown*.
"""
