"""The service's web pages (CONTRACT §11): server-rendered HTML over the same functions the JSON
routes call, Vietnamese first and English with `?lang=en`.

Sign-in puts the API key in an HttpOnly session cookie (no expiry: the browser drops it when it
closes; never in a URL, never readable by script). api.auth accepts that cookie on GET and HEAD
only, so a map, report or download opens from a plain link. The pages' POSTs act with it too,
and each carries a CSRF token (an HMAC of the key, so only a page the key holder loaded has it)
and must come from this origin. Forms are plain HTML forms with the API's field names; nothing
is fetched from another origin (an intranet has no internet).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kgspatial.errors import KgSpatialError, RulesError
from kgspatial.reports.labels import PLAN_TYPES, SECTORS, Labels

from .auth import SESSION_COOKIE, Principal, principal_for
from .store import Conflict, NotFound
from .store.features import CONFLICT_WITHHELD

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True
)
PAGE_SIZE = 50
# What the service's plan_type accepts (api.routes.registry.PLAN_TYPE_RE), named as the reports name them.
TECHNICAL = ("transport", "water", "drainage", "energy", "waste", "water_waste", "telecom", "cemetery")
PLAN_TYPE_CHOICES = (
    [k for k in PLAN_TYPES if k != "urban_detailed"]
    + [f"sectoral_{s}" for s in SECTORS]
    + [f"technical_{s}" for s in TECHNICAL]
)
SORTABLE = ("area_m2", "length_m", "severity", "rule_id", "admin_name", "plan_feature", "conflict_id")
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}

# Page text: key -> (Vietnamese, English).
TEXT: dict[str, tuple[str, str]] = {
    "app": ("Kiểm tra tính thống nhất quy hoạch", "Planning-consistency checks"),
    "signin": ("Đăng nhập", "Sign in"),
    "signin_hint": (
        "Nhập khóa API do quản trị viên cấp (lệnh kgspatial keys create). Khóa chỉ được giữ"
        " trong phiên trình duyệt này.",
        "Enter the API key your administrator gave you (kgspatial keys create). The key is kept"
        " for this browser session only.",
    ),
    "key": ("Khóa API", "API key"),
    "signout": ("Đăng xuất", "Sign out"),
    "bad_key": ("Khóa API không hợp lệ.", "Invalid API key."),
    "plans": ("Quy hoạch", "Plans"),
    "new_plan": ("Tải lên quy hoạch", "Upload a plan"),
    "register": ("Sổ quy hoạch", "Plan register"),
    "admin": ("Quản trị", "Administration"),
    "no_plans": ("Chưa có quy hoạch nào.", "No plans yet."),
    "name": ("Tên", "Name"),
    "plan_type": ("Loại quy hoạch", "Plan type"),
    "file": ("Tệp", "File"),
    "file_hint": (
        "Shapefile nén (.zip), GeoPackage, GeoJSON, GeoParquet hoặc FlatGeobuf.",
        "Zipped shapefile (.zip), GeoPackage, GeoJSON, GeoParquet or FlatGeobuf.",
    ),
    "decision": ("Số quyết định", "Decision number"),
    "decision_hint": ("Ví dụ 1234/QĐ-UBND", "e.g. 1234/QĐ-UBND"),
    "approved": ("Ngày phê duyệt", "Approval date"),
    "authority": ("Cơ quan phê duyệt", "Approving authority"),
    "authority_hint": ("Ví dụ UBND tỉnh Kiên Giang", "e.g. UBND tỉnh Kiên Giang"),
    "optional": ("Tùy chọn (để trống: tự nhận biết)", "Optional (blank: detected)"),
    "code_field": ("Cột mã loại đất", "Land-use code column"),
    "label_field": ("Cột tên", "Name column"),
    "name_field": ("Cột tên đơn vị", "Unit name column"),
    "unit_code_field": ("Cột mã đơn vị", "Unit code column"),
    "encoding": ("Bảng mã ký tự", "Text encoding"),
    "encoding_hint": (
        "Ví dụ TCVN3, VNI, cp1258, utf-8 (mặc định: theo tệp .cpg hoặc tự nhận biết)",
        "e.g. TCVN3, VNI, cp1258, utf-8 (default: the .cpg file or detected)",
    ),
    "assume_crs": ("Hệ tọa độ nếu tệp không có", "CRS if the file has none"),
    "assume_crs_hint": (
        "Ví dụ EPSG:9207 (VN-2000 / TM-3 kinh tuyến trục 104°30', Kiên Giang)",
        "e.g. EPSG:9207 (VN-2000 / TM-3 104°30', Kiên Giang)",
    ),
    "upload": ("Tải lên", "Upload"),
    "uploaded": ("Đã tải lên.", "Uploaded."),
    "warnings": ("Cảnh báo khi tải lên", "Upload warnings"),
    "no_warnings": ("Không có cảnh báo.", "No warnings."),
    "features": ("Số đối tượng", "Features"),
    "crs": ("Hệ tọa độ", "CRS"),
    "uploaded_at": ("Ngày tải lên", "Uploaded"),
    "checks": ("Các lần kiểm tra", "Checks"),
    "no_checks": ("Chưa kiểm tra lần nào.", "Not checked yet."),
    "start_check": ("Bắt đầu kiểm tra", "Start a check"),
    "master": ("Quy hoạch tỉnh", "Master plan"),
    "rules": ("Bảng quy tắc", "Rules table"),
    "admin_units": ("Đơn vị hành chính", "Administrative units"),
    "newest": ("mới nhất", "newest"),
    "none": ("không", "none"),
    "profile_rules": ("bảng của tỉnh (mặc định)", "the province's (default)"),
    "min_area": ("Bỏ qua mảnh nhỏ hơn (m²)", "Ignore slivers below (m²)"),
    "status": ("Trạng thái", "Status"),
    "accepted": ("Đang chờ", "Queued"),
    "running": ("Đang chạy", "Running"),
    "successful": ("Hoàn thành", "Finished"),
    "failed": ("Lỗi", "Failed"),
    "dismissed": ("Đã hủy", "Dismissed"),
    "refreshing": ("Trang tự làm mới mỗi 2 giây.", "This page refreshes every 2 seconds."),
    "reason": ("Lý do", "Reason"),
    "check": ("Kiểm tra", "Check"),
    "plan": ("Quy hoạch", "Plan"),
    "totals": ("Tổng hợp", "Totals"),
    "pieces": ("Số mảnh", "Pieces"),
    "area": ("Diện tích", "Area"),
    "length": ("Chiều dài", "Length"),
    "points": ("Số điểm", "Points"),
    "conflict": ("Xung đột", "Conflict"),
    "conditional": ("Có điều kiện", "Conditional"),
    "slivers": ("Mảnh nhỏ bỏ qua", "Slivers ignored"),
    "map": ("Bản đồ", "Map"),
    "open_map": ("Mở bản đồ toàn màn hình", "Open the map full screen"),
    "downloads": ("Tải về", "Downloads"),
    "table": ("Các mảnh xung đột", "Conflict pieces"),
    "filter": ("Lọc", "Filter"),
    "all": ("tất cả", "all"),
    "severity": ("Mức độ", "Severity"),
    "verdict": ("Kết luận", "Verdict"),
    "rule": ("Quy tắc", "Rule"),
    "commune": ("Xã/phường", "Commune"),
    "old_commune": ("Xã cũ (trước 2025)", "Old commune (pre-2025)"),
    "sort": ("Sắp xếp theo", "Sort by"),
    "order": ("Thứ tự", "Order"),
    "desc": ("giảm dần", "descending"),
    "asc": ("tăng dần", "ascending"),
    "apply": ("Áp dụng", "Apply"),
    "page": ("Trang", "Page"),
    "of": ("trên", "of"),
    "previous": ("Trang trước", "Previous page"),
    "next": ("Trang sau", "Next page"),
    "shown": ("Đang hiện {first}–{last} trên {total} mảnh", "Showing {first}–{last} of {total} pieces"),
    "no_rows": ("Không có mảnh nào.", "No pieces."),
    "plan_feature": ("Đối tượng quy hoạch", "Plan feature"),
    "plan_zone": ("Loại đất quy hoạch", "Plan land use"),
    "master_zone": ("Loại đất quy hoạch tỉnh", "Master land use"),
    "kind": ("Dạng", "Kind"),
    "withheld": ("(ẩn: đất quốc phòng, an ninh)", "(withheld: defence or security land)"),
    "high": ("Cao", "High"),
    "medium": ("Trung bình", "Medium"),
    "low": ("Thấp", "Low"),
    "polygon": ("Vùng", "Area"),
    "line": ("Tuyến", "Line"),
    "point": ("Điểm", "Point"),
    "upload_master": ("Tải lên quy hoạch tỉnh", "Upload a master plan"),
    "upload_units": ("Tải lên đơn vị hành chính (mới, từ 2025)", "Upload administrative units (new, from 2025)"),
    "upload_units_prev": ("Tải lên đơn vị hành chính cũ (trước 2025)", "Upload administrative units (pre-2025)"),
    "admin_units_prev": ("Đơn vị hành chính cũ (trước 2025)", "Administrative units (pre-2025)"),
    "upload_rules": ("Tải lên bảng quy tắc (CSV)", "Upload a rules table (CSV)"),
    "upload_exceptions": ("Ngoại lệ", "Exceptions"),
    "exceptions_hint": (
        "Chấp thuận một phát hiện theo quyết định (CONTRACT §10); master_feature * là mọi vùng;"
        " các lần kiểm tra sau sẽ áp dụng.",
        "Accept a finding by a decision (CONTRACT §10); master_feature * means any zone; checks"
        " made from now on apply it.",
    ),
    "until": ("Hiệu lực đến (để trống: không thời hạn)", "Valid until (blank: no end)"),
    "note": ("Ghi chú", "Note"),
    "exc_against": ("Đối chiếu với (against)", "Against"),
    "exc_against_hint": (
        "master (quy hoạch tỉnh, mặc định) hoặc mã quy hoạch cấp trên của quy hoạch này",
        "master (the master plan, the default) or the id of this plan's parent plan",
    ),
    "exc_none": ("Chưa có ngoại lệ nào.", "No exception yet."),
    "review": ("Xem xét", "Review"),
    "excepted": ("Ngoại lệ", "Excepted"),
    "on": ("Tình trạng ngày", "Status on"),
    "show": ("Xem", "Show"),
    "legal_status": ("Tình trạng pháp lý", "Legal status"),
    "since": ("Từ ngày", "Since"),
    "basis": ("Căn cứ", "Basis"),
    "review_status": ("Tình trạng rà soát", "Review status"),
    "review_due": ("Hạn rà soát", "Review due"),
    "overdue": ("Quá hạn", "Overdue"),
    "overdue_count": ("Quá hạn rà soát", "Overdue for review"),
    "yes": ("có", "yes"),
    "last_check": ("Lần kiểm tra gần nhất", "Latest check"),
    "conflict_area": ("Diện tích xung đột", "Conflict area"),
    "no_register": ("Chưa có quy hoạch nào trong sổ.", "No plan in the register yet."),
    "layers": ("Các lớp đã tải lên", "Uploaded layers"),
    "forbidden": ("Vai trò của bạn không được làm việc này.", "Your role may not do this."),
    "not_found": ("Không tìm thấy.", "Not found."),
    "error": ("Không thực hiện được", "Could not be done"),
    "signed_in_as": ("Đăng nhập: {name} ({role})", "Signed in: {name} ({role})"),
    "role_viewer": ("cán bộ GIS, chỉ xem", "GIS officer, read only"),
    "role_planner": ("người lập quy hoạch", "planner"),
    "role_admin": ("quản trị", "administrator"),
    "english": ("English", "English"),
    "vietnamese": ("Tiếng Việt", "Tiếng Việt"),
    "owner": ("Người tải lên", "Uploaded by"),
    "created": ("Tạo lúc", "Created"),
    "open": ("Mở", "Open"),
    "report": ("Báo cáo", "Report"),
}


class Tr:
    """`t("key")` in the page's language."""

    def __init__(self, english: bool):
        self.english = english
        self.labels = Labels(english)

    def __call__(self, key: str, **fmt) -> str:
        vi, en = TEXT[key]
        text = en if self.english else vi
        return text.format(**fmt) if fmt else text

    def plan_type(self, raw: str | None) -> str:
        return self.labels.plan_type(raw)

    def number(self, value, decimals: int = 0) -> str:
        """1.234,56 in Vietnamese, 1,234.56 in English."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        text = f"{float(value):,.{decimals}f}"
        return text if self.english else text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")

    def hectares(self, m2) -> str:
        """Hectares to two decimals, four when smaller than 1 ha (a 150 m² piece is not "0,00 ha")."""
        if m2 is None:
            return ""
        ha = float(m2) / 10_000
        return f"{self.number(ha, 2 if ha >= 1 else 4)} ha"


def _english(request: Request) -> bool:
    return request.query_params.get("lang") == "en"


def _url(english: bool):
    def url(path: str, **params) -> str:
        params = {k: v for k, v in params.items() if v not in (None, "", [])}
        if english:
            params["lang"] = "en"
        return path + ("?" + urlencode(params, doseq=True) if params else "")

    return url


def csrf_token(secret: str) -> str:
    """The token a page's forms carry: only a page loaded with the key has it."""
    return hmac.new(secret.encode("utf-8"), b"kgspatial-pages-csrf", hashlib.sha256).hexdigest()


def _session(request: Request) -> tuple[Principal, str] | tuple[None, None]:
    secret = request.cookies.get(SESSION_COOKIE)
    principal = principal_for(request, secret)
    return (principal, secret) if principal else (None, None)


class NotSignedIn(Exception):
    pass


def _page(
    request: Request,
    template: str,
    status: int = 200,
    principal: Principal | None = None,
    secret: str | None = None,
    **context,
) -> HTMLResponse:
    english = _english(request)
    html = _env.get_template(template).render(
        t=Tr(english),
        url=_url(english),
        english=english,
        lang="en" if english else "vi",
        principal=principal,
        csrf=csrf_token(secret) if secret else "",
        path=request.url.path,
        plan_types=PLAN_TYPE_CHOICES,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(_url(_english(request))("/", next=target), status_code=303)


def _require(request: Request, *roles: str) -> tuple[Principal, str]:
    principal, secret = _session(request)
    if principal is None:
        raise NotSignedIn()
    if roles and principal.role not in roles:
        raise HTTPException(403, TEXT["forbidden"][1])
    return principal, secret


def _same_origin(request: Request) -> None:
    """A POST from another site is refused whatever it carries (login CSRF too)."""
    origin = request.headers.get("origin")
    here = f"{request.url.scheme}://{request.url.netloc}"
    if (origin and origin != here) or request.headers.get("sec-fetch-site") == "cross-site":
        raise HTTPException(403, "yêu cầu từ trang khác / cross-site request refused")


def _csrf_check(secret: str):
    def accept(fields: dict) -> None:
        if not hmac.compare_digest(fields.get("csrf", ""), csrf_token(secret)):
            raise HTTPException(403, "phiên không hợp lệ, hãy tải lại trang / invalid form token: reload the page")

    return accept


def _error_detail(exc: Exception) -> tuple[int, str, list]:
    if isinstance(exc, HTTPException):
        return exc.status_code, str(exc.detail), []
    if isinstance(exc, RulesError):  # ExceptionsError too
        return exc.http_status, str(exc), list(exc.problems)
    if isinstance(exc, KgSpatialError):
        return exc.http_status, str(exc), []
    if isinstance(exc, NotFound):
        return 404, f"không tìm thấy / not found: {exc}", []
    if isinstance(exc, Conflict):
        return 409, str(exc), []
    raise exc


def _body(response: Response) -> dict:
    return json.loads(response.body)


def _guarded(handler):
    """Sign-in redirects and role/visibility errors as pages, not JSON."""
    import functools

    @functools.wraps(handler)
    async def wrapper(request: Request, *args, **kwargs):
        try:
            return await handler(*args, request=request, **kwargs)
        except NotSignedIn:
            return _signin_redirect(request)
        except HTTPException as exc:
            if not 400 <= exc.status_code < 500:
                raise
            principal, secret = _session(request)
            return _page(request, "error.html", exc.status_code, principal, secret, detail=exc.detail, problems=[])

    return wrapper


def _start_page(principal: Principal) -> str:
    return "/admin" if principal.is_admin else "/plans"


def _safe_next(target: str | None) -> str | None:
    """Only a path of this site (no //host, no scheme): the sign-in must not redirect elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


# -- sign in -------------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
async def home(request: Request, lang: str | None = None, next: str | None = None):
    principal, secret = _session(request)
    if principal is not None:
        return RedirectResponse(_safe_next(next) or _url(_english(request))(_start_page(principal)), status_code=303)
    return _page(request, "signin.html", next=_safe_next(next) or "", failed=False)


@router.post("/signin", response_class=HTMLResponse)
async def signin(request: Request, lang: str | None = None):
    _same_origin(request)
    form = await request.form()
    secret = str(form.get("key") or "").strip()
    target = _safe_next(str(form.get("next") or ""))
    principal = principal_for(request, secret)
    if principal is None:
        return _page(request, "signin.html", 401, next=target or "", failed=True)
    response = RedirectResponse(target or _url(_english(request))(_start_page(principal)), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, secret, httponly=True, samesite="lax", path="/", secure=request.url.scheme == "https"
    )  # no max_age: gone when the browser closes
    return response


@router.post("/signout")
async def signout(request: Request, lang: str | None = None):
    _same_origin(request)
    response = RedirectResponse(_url(_english(request))("/"), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- plans ---------------------------------------------------------------------------------------
def _checks_by_plan(store, principal: Principal) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for check in store.list_checks(None if principal.sees_everything else principal.id):
        out.setdefault(check["plan_id"], []).append(check)
    return out


@router.get("/plans", response_class=HTMLResponse)
@_guarded
async def plans_page(request: Request, lang: str | None = None):
    principal, secret = _require(request)
    store = request.app.state.store
    plans = store.list_layers("plan", None if principal.sees_everything else principal.id)
    return _page(
        request, "plans.html", principal=principal, secret=secret, plans=plans, checks=_checks_by_plan(store, principal)
    )


@router.get("/plans/new", response_class=HTMLResponse)
@_guarded
async def new_plan_page(request: Request, lang: str | None = None):
    principal, secret = _require(request, "planner", "admin")
    return _page(request, "new_plan.html", principal=principal, secret=secret, error=None, values={})


@router.post("/plans/new", response_class=HTMLResponse)
@_guarded
async def new_plan_submit(request: Request, lang: str | None = None):
    from .routes.registry import _upload_layer

    _same_origin(request)
    principal, secret = _require(request, "planner", "admin")
    seen: dict = {}

    def accept(fields: dict) -> None:
        seen.update(fields)
        _csrf_check(secret)(fields)

    try:
        record = _body(await _upload_layer(request, principal, "plan", accept))
    except Exception as exc:  # noqa: BLE001  (_error_detail re-raises what is not the user's input)
        status, detail, problems = _error_detail(exc)
        if status == 403 and not seen:
            raise
        values = {k: v for k, v in seen.items() if k != "csrf"}
        return _page(
            request, "new_plan.html", status, principal, secret, error=detail, problems=problems, values=values
        )
    return RedirectResponse(_url(_english(request))(f"/plans/{record['id']}", uploaded=1), status_code=303)


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
@_guarded
async def plan_page(plan_id: str, request: Request, lang: str | None = None, uploaded: str | None = None):
    from .routes.registry import _visible_plan

    principal, secret = _require(request)
    store = request.app.state.store
    plan = _visible_plan(request, principal, plan_id)
    checks = [c for c in store.list_checks(None if principal.sees_everything else principal.id, plan_id)]
    may_check = principal.role in ("planner", "admin") and (principal.is_admin or plan.get("owner_id") == principal.id)
    return _page(
        request,
        "plan.html",
        principal=principal,
        secret=secret,
        plan=plan,
        checks=checks,
        uploaded=bool(uploaded),
        may_check=may_check,
        masters=store.list_layers("master"),
        units=store.list_layers("admin"),
        units_prev=store.list_layers("admin_prev"),
        rules=store.list_rules(),
        error=None,
    )


@router.post("/plans/{plan_id}/checks", response_class=HTMLResponse)
@_guarded
async def start_check(plan_id: str, request: Request, lang: str | None = None):
    from pydantic import ValidationError

    from .routes.checks import CheckRequest, create_check

    _same_origin(request)
    principal, secret = _require(request, "planner", "admin")
    form = await request.form()
    _csrf_check(secret)(dict(form))
    values = {
        k: str(form.get(k) or "").strip()
        for k in ("master_id", "rules_id", "admin_id", "admin_previous_id", "min_area")
    }
    try:
        body = CheckRequest(plan_id=plan_id, **{k: v for k, v in values.items() if v})
        record = _body(create_check(body, request, principal))
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise HTTPException(422, f"dữ liệu không hợp lệ / invalid input: {detail}") from None
    except (NotFound, Conflict, KgSpatialError) as exc:
        status, detail, _ = _error_detail(exc)
        raise HTTPException(status, detail) from None
    return RedirectResponse(_url(_english(request))(f"/checks/{record['id']}"), status_code=303)


# -- checks --------------------------------------------------------------------------------------
def _rows(store, check_id: str, unmasked: bool, sensitive: frozenset) -> pd.DataFrame:
    """The check's conflict rows without geometry, masked as §5 asks for non-admins."""
    frame = pd.DataFrame(store.conflicts_frame(check_id).drop(columns="geometry", errors="ignore"))
    if not unmasked and len(frame):
        rows = frame["plan_code"].isin(sensitive) | frame["master_code"].isin(sensitive)
        frame["masked"] = rows
        frame = frame.astype({c: object for c in CONFLICT_WITHHELD if c in frame})
        frame.loc[rows, [c for c in CONFLICT_WITHHELD if c in frame]] = None
    else:
        frame["masked"] = False
    return frame


def _choices(frame: pd.DataFrame, column: str, t: Tr) -> list[tuple[str, str]]:
    """(value, label) of a filter's options: communes by name, verdicts and severities translated."""
    if column not in frame or frame.empty:
        return []
    values = sorted({v for v in frame[column].dropna().astype(str) if v})
    if column == "admin_code" and "admin_name" in frame:
        names = dict(zip(frame["admin_code"].astype(str), frame["admin_name"].astype(str)))
        return sorted(((v, f"{names.get(v, '')} ({v})") for v in values), key=lambda p: p[1])
    return [(v, t(v) if v in TEXT else v) for v in values]


@router.get("/checks/{check_id}", response_class=HTMLResponse)
@_guarded
async def check_page(
    check_id: str,
    request: Request,
    lang: str | None = None,
    severity: str | None = None,
    verdict: str | None = None,
    rule_id: str | None = None,
    admin_code: str | None = None,
    sort: str = "area_m2",
    order: str = "desc",
    page: int = Query(1, ge=1, le=10**6),
):
    from .routes.checks import _present, visible_check

    principal, secret = _require(request)
    store = request.app.state.store
    record = visible_check(request, principal, check_id)
    plan = store.get_layer(record["plan_id"], "plan")
    context = dict(check=_present(record), plan=plan, active=record["status"] in ("accepted", "running"))
    if record["status"] == "successful":
        if sort not in SORTABLE:
            raise HTTPException(422, f"sort {sort!r} không hợp lệ / invalid: use {', '.join(SORTABLE)}")
        frame = _rows(store, check_id, principal.is_admin, request.app.state.province.taxonomy.sensitive_codes)
        filters = {"severity": severity, "verdict": verdict, "rule_id": rule_id, "admin_code": admin_code}
        choices = {k: _choices(frame, k, Tr(_english(request))) for k in filters}
        shown = frame
        for column, value in filters.items():
            if value and column in shown:
                shown = shown[shown[column].astype(str) == value]
        if sort in shown:
            key = shown[sort].map(_SEVERITY_ORDER) if sort == "severity" else shown[sort]
            # the severity order reads high first; "desc" on it means high -> low
            ascending = (order == "asc") != (sort == "severity")
            shown = shown.assign(_key=key).sort_values(
                ["_key", "conflict_id"], ascending=[ascending, True], na_position="last", kind="stable"
            )
        total = len(shown)
        pages = max(1, math.ceil(total / PAGE_SIZE))
        page = min(page, pages)
        rows = shown.iloc[(page - 1) * PAGE_SIZE : page * PAGE_SIZE].to_dict("records")
        params = {**{k: v for k, v in filters.items() if v}, "sort": sort, "order": order}
        context.update(
            summary=record["summary"],
            rows=rows,
            total=total,
            page=page,
            pages=pages,
            first=(page - 1) * PAGE_SIZE + 1 if total else 0,
            last=min(page * PAGE_SIZE, total),
            filters=filters,
            choices=choices,
            sort=sort,
            order=order,
            params=params,
            sortable=SORTABLE,
            has_admin="admin_code" in frame,
            has_prev="admin_prev_code" in frame,
            has_review="review" in frame and bool((frame["review"] == "excepted").any()),
        )
    return _page(request, "check.html", principal=principal, secret=secret, **context)


# -- register and administration -----------------------------------------------------------------
@router.get("/register", response_class=HTMLResponse)
@_guarded
async def register_page(request: Request, lang: str | None = None, on: str | None = None):
    """The register (CONTRACT §7) as GET /api/v1/register gives it: the plans the caller may see."""
    from fastapi.concurrency import run_in_threadpool

    from kgspatial.reports.register import _LEGAL, _REVIEW

    from . import register as plan_register

    principal, secret = _require(request)
    day = plan_register.parse_on(on)
    english = _english(request)
    register = await run_in_threadpool(
        plan_register.service_register, request.app.state.store, request.app.state.province, principal, day, english
    )
    lang = "en" if english else "vi"
    return _page(
        request,
        "register.html",
        principal=principal,
        secret=secret,
        register=register,
        legal=_LEGAL[lang],
        review=_REVIEW[lang],
        on=day.isoformat(),
    )


def _admin_context(request: Request) -> dict:
    store = request.app.state.store
    return {
        "masters": store.list_layers("master"),
        "units": store.list_layers("admin"),
        "units_prev": store.list_layers("admin_prev"),
        "rules": store.list_rules(),
        "plans": store.list_layers("plan"),
        "exceptions": store.list_exceptions(),
    }


@router.get("/admin", response_class=HTMLResponse)
@_guarded
async def admin_page(request: Request, lang: str | None = None, done: str | None = None):
    principal, secret = _require(request, "admin")
    return _page(
        request, "admin.html", principal=principal, secret=secret, done=done, error=None, **_admin_context(request)
    )


@router.post("/admin/exceptions", response_class=HTMLResponse)
@_guarded
async def admin_exception(request: Request, lang: str | None = None):
    """One exception (CONTRACT §10) from the admin page's form, kept as POST /api/v1/exceptions keeps
    it; the form again with every problem listed and its values kept when it is refused."""
    from kgspatial.errors import ExceptionsError
    from kgspatial.exceptions import parse_exceptions

    from .register import EXCEPTION_FIELDS
    from .routes.register import SOURCE, keep_exceptions

    _same_origin(request)
    principal, secret = _require(request, "admin")
    form = await request.form()
    _csrf_check(secret)(dict(form))
    row = {k: str(form.get(k) or "").strip() for k in EXCEPTION_FIELDS}  # as a row of exceptions.csv
    problems: list[str] = []
    found: list = []
    try:
        found = parse_exceptions([row], source=SOURCE)
    except ExceptionsError as exc:
        problems += exc.problems
    named = [("biểu mẫu / form", row["plan_id"])] if row["plan_id"] else []
    try:
        kept = keep_exceptions(request.app.state.store, found, named, problems, principal)
    except ExceptionsError as exc:
        return _page(
            request,
            "admin.html",
            exc.http_status,
            principal,
            secret,
            done=None,
            error=str(exc),
            problems=list(exc.problems),
            failed="exceptions",
            exception_values=row,
            **_admin_context(request),
        )
    return RedirectResponse(_url(_english(request))("/admin", done=f"exceptions:{kept[0]['id']}"), status_code=303)


@router.post("/admin/{what}", response_class=HTMLResponse)
@_guarded
async def admin_upload(what: str, request: Request, lang: str | None = None):
    from .routes.registry import _upload_layer, _upload_rules

    _same_origin(request)
    principal, secret = _require(request, "admin")
    if what not in ("masters", "admin-units", "rules"):
        raise HTTPException(404, f"không tìm thấy / {what} not found")
    try:
        if what == "rules":
            record = _body(await _upload_rules(request, principal, _csrf_check(secret)))
        else:
            from .routes.registry import _period

            def accept(fields: dict) -> None:
                _csrf_check(secret)(fields)
                if what == "admin-units":
                    _period(fields)

            record = _body(await _upload_layer(request, principal, "master" if what == "masters" else "admin", accept))
    except Exception as exc:  # noqa: BLE001
        status, detail, problems = _error_detail(exc)
        return _page(
            request,
            "admin.html",
            status,
            principal,
            secret,
            done=None,
            error=detail,
            problems=problems,
            failed=what,
            **_admin_context(request),
        )
    return RedirectResponse(_url(_english(request))("/admin", done=f"{what}:{record['id']}"), status_code=303)
