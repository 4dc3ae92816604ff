"""Generate a seeded synthetic Kiên Giang province for the overlay benchmark.

Three layers, each a valid polygon *coverage* (shared edges, no gaps, no overlaps) made of
Voronoi cells of random seeds clipped to a box around the mainland, in EPSG:9207
(VN-2000 / TM-3 104-30):

- ``master``   N cells, ``MA_QH`` land-use code and ``TEN`` name (provincial master plan);
- ``plan``     M cells, ``ma`` plan code and ``ten`` name (a lower plan);
- ``communes`` K cells, ``ma_xa`` / ``ten_xa`` (administrative units).

Codes are spatially coherent (cells inherit the code of a coarser zone most of the time), and
most of the plan follows the master plan beneath it (``--follow``), so the mix of compatible and
conflicting pairs looks like a real plan rather than white noise.
The same arguments always give byte-identical attribute tables and geometries.

Usage::

    python bench/gen_province.py --master 100000 --plan 10000 --communes 144 --seed 42 \
        --out bench/data/m100000_p10000_c144_s42 [--format gpkg|parquet] [--follow 0.7]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import box

CRS = "EPSG:9207"
#: Kiên Giang mainland east of Hòn Đất, in degrees (lon_min, lat_min, lon_max, lat_max).
LONLAT_BOX = (104.8, 9.6, 105.6, 10.3)
#: Rạch Giá city centre (lon, lat): an urban core where residential/commercial codes are denser.
RACH_GIA = (105.08, 10.01)

# (code, weight, Vietnamese name). Weights are rough shares of Kiên Giang's mainland land use:
# rice dominates, then aquaculture, perennial crops, canals and forests.
MASTER_CODES = [
    ("LUC", 38.0, "Đất chuyên trồng lúa"),
    ("LUA", 9.0, "Đất trồng lúa"),
    ("NTS", 12.0, "Đất nuôi trồng thủy sản"),
    ("CLN", 7.0, "Đất trồng cây lâu năm"),
    ("HNK", 3.0, "Đất trồng cây hằng năm khác"),
    ("RPH", 2.5, "Đất rừng phòng hộ"),
    ("RDD", 1.5, "Đất rừng đặc dụng"),
    ("RSX", 3.0, "Đất rừng sản xuất"),
    ("ODT", 2.0, "Đất ở tại đô thị"),
    ("ONT", 4.5, "Đất ở tại nông thôn"),
    ("SKK", 0.6, "Đất khu công nghiệp"),
    ("TMD", 0.6, "Đất thương mại, dịch vụ"),
    ("DGT", 3.5, "Đất giao thông"),
    ("DTL", 4.5, "Đất thủy lợi"),
    ("CQP", 0.3, "Đất quốc phòng"),
    ("SON", 4.0, "Đất sông, ngòi, kênh, rạch, suối"),
    ("NTD", 0.4, "Đất nghĩa trang, nhà tang lễ, cơ sở hỏa táng"),
    ("MNC", 0.5, "Đất có mặt nước chuyên dùng"),
]
PLAN_CODES = [
    ("ODT", 18.0, "Khu dân cư đô thị"),
    ("ONT", 15.0, "Khu dân cư nông thôn"),
    ("TMD", 8.0, "Khu thương mại, dịch vụ"),
    ("SKK", 6.0, "Khu công nghiệp"),
    ("DGT", 10.0, "Đất giao thông"),
    ("DTL", 6.0, "Đất thủy lợi"),
    ("DDL", 2.0, "Khu danh lam thắng cảnh, du lịch"),
    ("CLN", 10.0, "Vùng trồng cây lâu năm"),
    ("LUC", 15.0, "Vùng lúa chất lượng cao"),
    ("NTS", 10.0, "Vùng nuôi trồng thủy sản"),
    # Reached only by following the master plan (weight 0 in independent draws): a lower plan
    # repeats the province's forests, rivers, defence land and cemeteries.
    ("HNK", 0.0, "Vùng cây hằng năm"),
    ("RPH", 0.0, "Rừng phòng hộ"),
    ("RDD", 0.0, "Rừng đặc dụng"),
    ("RSX", 0.0, "Rừng sản xuất"),
    ("SON", 0.0, "Sông, kênh, rạch"),
    ("CQP", 0.0, "Đất quốc phòng"),
    ("NTD", 0.0, "Nghĩa trang"),
    ("MNC", 0.0, "Mặt nước chuyên dùng"),
]
#: The plan code a lower plan uses where it follows the master plan (identity otherwise).
FOLLOW_MAP = {"LUA": "LUC"}
URBAN_CODES = {"ODT", "TMD", "DGT", "SKK"}
URBAN_RADIUS_M = 7000.0

COMMUNE_NAMES = [
    "Vĩnh Thanh Vân",
    "Vĩnh Lạc",
    "An Hòa",
    "Rạch Sỏi",
    "Vĩnh Lợi",
    "Vĩnh Quang",
    "Phi Thông",
    "Tân Hiệp",
    "Thạnh Đông",
    "Thạnh Trị",
    "Tân Hội",
    "Tân An",
    "Thạnh Đông A",
    "Minh Lương",
    "Mong Thọ",
    "Giục Tượng",
    "Vĩnh Hòa Hiệp",
    "Bình An",
    "Thạnh Lộc",
    "Giồng Riềng",
    "Thạnh Hưng",
    "Ngọc Chúc",
    "Hòa Thuận",
    "Long Thạnh",
    "Bàn Tân Định",
    "Gò Quao",
    "Vĩnh Hòa Hưng Bắc",
    "Định An",
    "Thới Quản",
    "Thứ Ba",
    "Đông Thái",
    "Nam Yên",
    "Tây Yên",
    "Thứ Mười Một",
    "Vân Khánh",
    "Đông Hưng",
    "Thạnh Yên",
    "An Minh Bắc",
    "Minh Thuận",
    "Vĩnh Bình Bắc",
    "Phong Đông",
    "Sóc Sơn",
    "Mỹ Lâm",
    "Sơn Kiên",
    "Bình Sơn",
    "Thổ Sơn",
    "Lình Huỳnh",
    "Nam Thái Sơn",
    "Mỹ Hiệp Sơn",
    "Hòn Đất",
    "Vĩnh Thuận",
    "U Minh Thượng",
]


def projected_bbox(lonlat_box=LONLAT_BOX) -> tuple[float, float, float, float]:
    """The lon/lat box in EPSG:9207, rounded outward to whole kilometres.

    Computed rather than hard-coded so the box is provably the mainland in the analysis CRS.
    Only the extent is needed (no datum-sensitive measurement), so PROJ's default is fine here.
    """
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    x0, y0, x1, y1 = tr.transform_bounds(*lonlat_box, densify_pts=21)
    return (
        np.floor(x0 / 1000) * 1000,
        np.floor(y0 / 1000) * 1000,
        np.ceil(x1 / 1000) * 1000,
        np.ceil(y1 / 1000) * 1000,
    )


def voronoi_coverage(n: int, bbox, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` Voronoi cells of uniform random seeds, clipped to `bbox`: a valid coverage.

    Returns (polygons in seed order, seed xy). Only cells crossing the box edge are clipped, so
    interior shared edges keep bit-identical vertices on both sides.
    """
    x0, y0, x1, y1 = bbox
    xy = np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])
    frame = box(*bbox)
    if n == 1:
        return np.array([frame]), xy
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=frame, ordered=True))
    if len(cells) != n:  # duplicate seeds (practically impossible with float draws)
        raise RuntimeError(f"voronoi returned {len(cells)} cells for {n} seeds")
    edge = ~shapely.contains_properly(frame, cells)
    cells[edge] = shapely.intersection(cells[edge], frame)
    return cells, xy


def zoned_codes(
    xy: np.ndarray, table, rng: np.random.Generator, *, cells_per_zone: int, keep: float, urban_boost: float, bbox
) -> tuple[np.ndarray, np.ndarray]:
    """Draw a code index per seed: the code of its coarse zone with probability `keep`, else
    an independent draw. Zones near Rạch Giá favour urban codes by `urban_boost`.

    Returns (code index per seed, zone per seed)."""
    codes = [c for c, _, _ in table]
    w = np.array([w for _, w, _ in table], dtype=float)
    p_rural = w / w.sum()
    w_urban = w * np.array([urban_boost if c in URBAN_CODES else 1.0 for c in codes])
    p_urban = w_urban / w_urban.sum()

    n_zones = max(8, len(xy) // cells_per_zone)
    x0, y0, x1, y1 = bbox
    zxy = np.column_stack([rng.uniform(x0, x1, n_zones), rng.uniform(y0, y1, n_zones)])
    from pyproj import Transformer

    cx, cy = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(*RACH_GIA)
    urban = np.hypot(zxy[:, 0] - cx, zxy[:, 1] - cy) < URBAN_RADIUS_M
    zone_code = np.where(
        urban,
        rng.choice(len(codes), n_zones, p=p_urban),
        rng.choice(len(codes), n_zones, p=p_rural),
    )
    nearest = nearest_index(xy, zxy)
    own = zone_code[nearest]
    independent = rng.choice(len(codes), len(xy), p=p_rural)
    return np.where(rng.random(len(xy)) < keep, own, independent), nearest


def nearest_index(points_xy: np.ndarray, seeds_xy: np.ndarray) -> np.ndarray:
    """Index of the nearest seed of each point, i.e. the Voronoi cell that holds it."""
    tree = shapely.STRtree(shapely.points(seeds_xy))
    inp, idx = tree.query_nearest(shapely.points(points_xy), all_matches=False)
    out = np.empty(len(points_xy), dtype=np.int64)
    out[inp] = idx
    return out


def nfc(values):
    """Vietnamese text in Unicode NFC, as the contract requires of labels."""
    return [unicodedata.normalize("NFC", v) for v in values]


def build(n_master: int, n_plan: int, n_communes: int, seed: int, follow: float = 0.7):
    """Build the three GeoDataFrames. Each layer has its own child seed, so changing one size
    leaves the other layers' geometries unchanged.

    `follow`: share of the plan's zones that follow the master plan (each cell takes the plan
    code of the master zone under its seed); the rest are drawn independently. Real lower plans
    mostly repeat the province's plan, so most of their area is compatible; 0 gives a plan
    unrelated to the master (most of the area flagged)."""
    import geopandas as gpd

    bbox = projected_bbox()
    ss_master, ss_plan, ss_comm = np.random.SeedSequence(seed).spawn(3)
    layers = {}

    rng = np.random.default_rng(ss_master)
    geoms, xy = voronoi_coverage(n_master, bbox, rng)
    idx, _ = zoned_codes(xy, MASTER_CODES, rng, cells_per_zone=40, keep=0.8, urban_boost=12.0, bbox=bbox)
    codes = np.array([c for c, _, _ in MASTER_CODES], dtype=object)
    names = np.array(nfc([t for _, _, t in MASTER_CODES]), dtype=object)
    layers["master"] = gpd.GeoDataFrame({"MA_QH": codes[idx], "TEN": names[idx]}, geometry=geoms, crs=CRS)
    master_xy, master_codes = xy, codes[idx]

    rng = np.random.default_rng(ss_plan)
    geoms, xy = voronoi_coverage(n_plan, bbox, rng)
    idx, zone = zoned_codes(xy, PLAN_CODES, rng, cells_per_zone=25, keep=0.75, urban_boost=4.0, bbox=bbox)
    codes = np.array([c for c, _, _ in PLAN_CODES], dtype=object)
    plan_pos = {c: i for i, c in enumerate(codes)}
    beneath = master_codes[nearest_index(xy, master_xy)]
    followed = np.array([plan_pos[FOLLOW_MAP.get(c, c)] for c in beneath], dtype=np.int64)
    zone_follows = rng.random(zone.max() + 1) < follow
    idx = np.where(zone_follows[zone], followed, idx)
    names = np.array(nfc([t for _, _, t in PLAN_CODES]), dtype=object)
    layers["plan"] = gpd.GeoDataFrame({"ma": codes[idx], "ten": names[idx]}, geometry=geoms, crs=CRS)

    rng = np.random.default_rng(ss_comm)
    geoms, _ = voronoi_coverage(n_communes, bbox, rng)
    width = max(5, len(str(30000 + n_communes)))
    ma_xa = [f"{30001 + i:0{width}d}" for i in range(n_communes)]
    base = len(COMMUNE_NAMES)
    ten_xa = []
    for i in range(n_communes):
        name = COMMUNE_NAMES[i % base]
        if i >= base:
            name = f"{name} {i // base + 1}"
        ten_xa.append(("Phường " if i % 7 == 0 else "Xã ") + name)
    layers["communes"] = gpd.GeoDataFrame({"ma_xa": ma_xa, "ten_xa": nfc(ten_xa)}, geometry=geoms, crs=CRS)
    return layers, bbox


def _heap_in_use() -> int | None:
    """Bytes malloc has handed out (glibc mallinfo2); None elsewhere. GEOS allocates there."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (n, ctypes.c_size_t)
            for n in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
    except (OSError, AttributeError):
        return None
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def geometry_bytes(geoms) -> dict:
    """Size of geometries: raw xy doubles (16 B a vertex), WKB, and live shapely objects.

    The benchmark judges peak memory against these (e.g. "within 2x the input geometries");
    a GEOS polygon costs several times its raw coordinates, so `shapely_bytes` (heap growth
    when the geometries are rebuilt from WKB) is the fair yardstick for in-memory claims."""
    import gc

    arr = np.asarray(geoms)
    wkb = shapely.to_wkb(arr)
    gc.collect()
    before = _heap_in_use()
    copy = shapely.from_wkb(wkb)
    after = _heap_in_use()
    del copy
    return {
        "features": int(len(arr)),
        "vertices": int(shapely.get_num_coordinates(arr).sum()),
        "coord_bytes": int(shapely.get_num_coordinates(arr).sum()) * 16,
        "wkb_bytes": int(sum(len(b) for b in wkb)),
        "shapely_bytes": (after - before) if before is not None else None,
    }


def write(layers: dict, out: Path, fmt: str) -> dict:
    """Write each layer to its own file; GeoPackage through pyogrio (Arrow path when it can)."""
    import pyogrio

    # GeoPackage stamps the write time into gpkg_contents; pin it so reruns are byte-identical.
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2025-07-01T00:00:00.000Z"})
    paths = {}
    for name, gdf in layers.items():
        if fmt == "gpkg":
            path = out / f"{name}.gpkg"
            gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
        else:
            path = out / f"{name}.parquet"
            gdf.to_parquet(path)
        paths[name] = path.name
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--master", type=int, required=True, help="master-plan polygons (N)")
    ap.add_argument("--plan", type=int, required=True, help="plan polygons (M)")
    ap.add_argument("--communes", type=int, default=144, help="commune polygons (K)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, required=True, help="output directory (replaced)")
    ap.add_argument("--format", choices=["gpkg", "parquet"], default="gpkg")
    ap.add_argument(
        "--follow",
        type=float,
        default=0.7,
        help="share of plan zones that follow the master plan (default %(default)s)",
    )
    a = ap.parse_args(argv)
    if not 0 <= a.follow <= 1:
        ap.error("--follow must be between 0 and 1")
    if min(a.master, a.plan, a.communes) < 1:
        ap.error("sizes must be >= 1")

    t0 = time.perf_counter()
    layers, bbox = build(a.master, a.plan, a.communes, a.seed, a.follow)
    t_build = time.perf_counter() - t0
    sizes = {k: geometry_bytes(v.geometry.values) for k, v in layers.items()}

    # Write beside the target and move into place only when complete, so a cache directory
    # either holds a whole province or nothing.
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(a.out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    t1 = time.perf_counter()
    paths = write(layers, tmp, a.format)
    t_write = time.perf_counter() - t1
    meta = {
        "generator": "bench/gen_province.py",
        "params": {
            "master": a.master,
            "plan": a.plan,
            "communes": a.communes,
            "seed": a.seed,
            "format": a.format,
            "follow": a.follow,
        },
        "crs": CRS,
        "bbox": list(map(float, bbox)),
        "lonlat_box": list(LONLAT_BOX),
        "files": paths,
        "fields": {
            "master": {"code": "MA_QH", "label": "TEN"},
            "plan": {"code": "ma", "label": "ten"},
            "communes": {"code": "ma_xa", "name": "ten_xa"},
        },
        "code_counts": {
            "master": layers["master"]["MA_QH"].value_counts().sort_index().to_dict(),
            "plan": layers["plan"]["ma"].value_counts().sort_index().to_dict(),
        },
        "geometry_size": sizes,
        "seconds": {"build": round(t_build, 3), "write": round(t_write, 3)},
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    shutil.rmtree(a.out, ignore_errors=True)
    tmp.rename(a.out)
    print(
        f"wrote {a.out} ({a.format}): master {a.master}, plan {a.plan}, communes "
        f"{a.communes}; build {t_build:.1f} s, write {t_write:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
