"""The plan register (CONTRACT §7) and the exceptions that accept findings (§10)."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from kgspatial.errors import ExceptionsError
from kgspatial.exceptions import MASTER, parse_exceptions, read_exceptions

from .. import register as plan_register
from ..auth import Principal, admin_only, any_role
from ..render import MEDIA
from ..uploads import received

router = APIRouter(tags=["register"])
SOURCE = "ngoại lệ không hợp lệ / invalid exceptions"


FORMATS = ("json", "html", "xlsx", "pdf")


@router.get(
    "/register",
    responses={200: {"content": {"application/json": {}, "text/html": {}, "application/pdf": {}, MEDIA["xlsx"]: {}}}},
)
async def get_register(
    request: Request,
    on: str | None = Query(None, description="YYYY-MM-DD (default: today in Vietnam)"),
    english: bool = False,
    format: str = Query(
        "json",
        description="json (register.json), or the register's html, xlsx or pdf as `kgspatial register` writes them",
    ),
    principal: Principal = Depends(any_role),
):
    """Every plan the caller may see with its legal status and review status on the date, as
    `kgspatial register` writes register.json; review status from each plan's latest check.
    `format=pdf` (html, xlsx) gives the public list ready to announce, of the same plans."""
    if format not in FORMATS:
        raise HTTPException(422, f"định dạng {format!r} không hỗ trợ / unsupported format: use json, html, xlsx or pdf")
    day = plan_register.parse_on(on)
    app = request.app
    register = await run_in_threadpool(
        plan_register.service_register, app.state.store, app.state.province, principal, day, english
    )
    if format == "json":
        return register
    content = await run_in_threadpool(_register_file, register, format, english)
    return Response(
        content,
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="register-{day.isoformat()}.{format}"'},
    )


def _register_file(register: dict, format: str, english: bool) -> bytes:
    """One of register.{html,xlsx,pdf}, written by kgspatial's presenter in a scratch folder."""
    try:
        from kgspatial.reports.register import write_register_files
    except ImportError as exc:
        raise HTTPException(
            501,
            f"chưa hỗ trợ / kgspatial.reports is not available in this installation ({exc});"
            " install kgspatial[reports]",
        ) from None
    with tempfile.TemporaryDirectory(prefix="kgs-register-") as tmp:
        try:
            (path,) = write_register_files(register, Path(tmp), formats=(format,), english=english)
        except ImportError as exc:  # WeasyPrint for the PDF
            raise HTTPException(501, f"chưa hỗ trợ / {format} needs a library not installed here ({exc})") from None
        return path.read_bytes()


def _exception_record(row: dict, unmasked: bool = True) -> dict:
    """An exception as the API shows it; for anyone but an admin `master_feature` is withheld
    (None, with `withheld: true`) unless it is `*`. Always, not only for ids that name defence or
    security land today: an id is only judged against the master plans uploaded so far (a newer one
    may give it a CQP/CAN zone), and whether it is withheld must not itself tell which ids are."""
    rec = {k: row.get(k) for k in ("id", *plan_register.EXCEPTION_FIELDS, "owner_id", "created_at")}
    rec["against"] = rec["against"] or MASTER
    if not unmasked and rec["master_feature"] != "*":
        rec["master_feature"], rec["withheld"] = None, True
    return rec


@router.post(
    "/exceptions",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "description": "one exception, or a list of them (CONTRACT §10)",
                        "example": {
                            "plan_id": "…",
                            "rule_id": "R01",
                            "plan_feature": "KDC-01",
                            "master_feature": "*",
                            "decision": "123/QĐ-UBND",
                            "until": "2026-12-31",
                            "basis": "…",
                            "note": "…",
                            "against": "master",
                        },
                    }
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {
                                "type": "string",
                                "format": "binary",
                                "description": "exceptions.csv (UTF-8; plan_id,rule_id,plan_feature,master_feature,decision,"
                                "until,basis,note[,against]), as `kgspatial check --exceptions` reads it",
                            }
                        },
                    }
                },
            },
        }
    },
)
async def add_exceptions(request: Request, principal: Principal = Depends(admin_only)):
    """Accept findings by a decision (admin): `plan_id, rule_id, plan_feature, master_feature`
    (`*`: any), `decision`, optional `until`, `basis`, `note`, `against` (`master`, the default, or
    the plan's parent: which rows it accepts), as JSON (one or a list) or an
    exceptions.csv in the multipart field `file` (what a web form or a spreadsheet sends).
    Checks made from then on apply them; 422 listing every problem (unknown plans too), nothing kept."""
    store = request.app.state.store
    problems: list[str] = []
    single = False
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        settings = request.app.state.settings
        async with received(request, settings, settings.data_dir / "tmp") as upload:
            if upload.path is None:
                raise HTTPException(400, "thiếu tệp / no file: send exceptions.csv in the multipart field 'file'")
            found = await run_in_threadpool(read_exceptions, upload.path, upload.filename)
        named = [(f"{e.describe()}", e.plan_id) for e in found]
    else:
        try:
            body = plan_register.nfc(await request.json())
        except ValueError:
            raise HTTPException(
                422,
                "không phải JSON / the body is not JSON: send one exception (an object) or a"
                " list of them, or exceptions.csv as the multipart field 'file'",
            ) from None
        if not isinstance(body, (dict, list)):
            raise HTTPException(422, "gửi một ngoại lệ hoặc một danh sách / send one exception (an object) or a list")
        single = isinstance(body, dict)
        rows = [body] if single else body
        if not rows:
            problems.append("danh sách trống / the list is empty: send one exception or a list of them")
        named = [
            (f"row {i + 1}", row.get("plan_id").strip())
            for i, row in enumerate(rows)
            if isinstance(row, dict) and isinstance(row.get("plan_id"), str) and row["plan_id"].strip()
        ]
        found = []
        try:
            found = parse_exceptions(rows, source=SOURCE)
        except ExceptionsError as exc:
            problems += exc.problems
    items = keep_exceptions(store, found, named, problems, principal)
    return JSONResponse(items[0] if single else {"items": items, "total": len(items)}, status_code=201)


def keep_exceptions(
    store, found: list, named: list[tuple[str, str]], problems: list[str], principal: Principal
) -> list[dict]:
    """Store parsed exceptions once every problem is known (unknown plans, `against` not the
    plan's parent, a finding accepted twice): ExceptionsError (422) listing them, nothing kept;
    else the records kept, as the API shows them to their admin. Shared with the admin page's form."""
    parents = {p["id"]: p.get("parent") for p in store.list_layers("plan")}
    problems = list(problems)
    problems += [
        f"{where}, plan_id: không có quy hoạch / no plan with id {plan_id!r}"
        for where, plan_id in named
        if plan_id not in parents
    ]
    for exc in found:  # rows against the master plan, or against the plan's own parent (§7)
        if exc.plan_id in parents and exc.against not in (MASTER, parents[exc.plan_id]):
            problems.append(
                f"{exc.describe()}, against: {exc.against!r} không phải 'master' hay quy hoạch cấp trên"
                f" / is neither 'master' nor the plan's parent ({parents[exc.plan_id] or 'none'})"
            )
    stored = {
        (e["plan_id"], e["rule_id"], e["plan_feature"], e["master_feature"], e.get("against") or MASTER): e["id"]
        for e in store.list_exceptions()
    }
    for exc in found:
        key = (exc.plan_id, exc.rule_id, exc.plan_feature, exc.master_feature, exc.against)
        if key in stored:
            problems.append(
                f"{exc.describe()}: đã có ngoại lệ {stored[key]} cho phát hiện này / exception"
                f" {stored[key]} already accepts this finding (one decision per finding)"
            )
    if problems:
        raise ExceptionsError(problems, source=SOURCE)
    kept = store.add_exceptions(
        [{**dataclasses.asdict(e), "until": e.until.isoformat() if e.until else None} for e in found], principal.id
    )
    return [_exception_record(r) for r in kept]


@router.get("/exceptions")
def list_exceptions(request: Request, plan_id: str | None = None, principal: Principal = Depends(any_role)):
    """Exceptions of the plans the caller may see (a planner: their own plans')."""
    store = request.app.state.store
    owner = None if principal.sees_everything else principal.id
    visible = [p["id"] for p in store.list_layers("plan", owner)]
    if plan_id is not None:
        visible = [p for p in visible if p == plan_id]
    rows = store.list_exceptions(visible) if visible else []
    return {"items": [_exception_record(r, principal.is_admin) for r in rows], "total": len(rows)}


@router.delete("/exceptions/{exception_id}", status_code=204)
def delete_exception(exception_id: str, request: Request, principal: Principal = Depends(admin_only)):
    """Withdraw an exception (admin); checks made from then on no longer apply it."""
    request.app.state.store.delete_exception(exception_id)
    return Response(status_code=204)
