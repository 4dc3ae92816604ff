"""The plan register (CONTRACT §7) and the exceptions that accept findings (§10)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from .. import register as plan_register
from ..auth import Principal, any_role

router = APIRouter(tags=["register"])


@router.get("/register")
async def get_register(request: Request, on: str | None = Query(None, description="YYYY-MM-DD (default: today in Vietnam)"),
                       english: bool = False, principal: Principal = Depends(any_role)):
    """Every plan the caller may see with its legal status and review status on the date, as
    `kgspatial register` writes register.json; review status from each plan's latest check."""
    day = plan_register.parse_on(on)
    app = request.app
    return await run_in_threadpool(plan_register.service_register, app.state.store, app.state.province, principal,
                                   day, english)
