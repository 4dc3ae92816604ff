"""What every request passes before a route sees it, and what every answer carries.

- No NUL or other control character in a path or query value: an id or filter holding one means
  nothing, and PostgreSQL refuses it with an error that would end the request in a 500.
- No query parameter the route does not declare: `?sevrity=high` would otherwise be ignored and
  answer as if no filter had been asked.
- Security headers: `nosniff` on everything; a Content-Security-Policy on HTML (the maps and
  docs run inline scripts, so 'unsafe-inline', but nothing is fetched from another origin).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote

from fastapi import HTTPException, Request
from starlette.responses import JSONResponse

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
HTML_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'{eval}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:{tiles}; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
# What OGC API - Features clients send on every request: `f` (the answer is JSON whatever it asks),
# `datetime` (core: items SHALL take it; no layer here has a time, so every feature matches),
# `limit`/`offset` on the landing and collection routes (nothing to page there).
OGC_TOLERATED = {"f", "datetime", "limit", "offset"}
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'"


def control_character_answer(scope) -> JSONResponse | None:
    """400 when the path or a query value holds a control character."""
    path = scope.get("path", "")
    query = scope.get("query_string", b"").decode("latin-1")
    if _CONTROL.search(path):
        return JSONResponse(
            {"detail": "đường dẫn có ký tự điều khiển / the path holds a control character"}, status_code=400
        )
    for key, value in parse_qsl(query, keep_blank_values=True):
        if _CONTROL.search(key) or _CONTROL.search(value):
            return JSONResponse(
                {
                    "detail": f"tham số {_CONTROL.sub('?', key)!r} có ký tự điều khiển / the query"
                    f" parameter {_CONTROL.sub('?', key)!r} holds a control character"
                },
                status_code=400,
            )
    if _CONTROL.search(unquote(query)):
        return JSONResponse({"detail": "the query holds a control character"}, status_code=400)
    return None


def _query_names(dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _declared(route) -> set[str]:
    cached = getattr(route, "_kgspatial_query_names", None)
    if cached is None:
        cached = route._kgspatial_query_names = _query_names(route.dependant)
    return cached


def no_unknown_query_parameters(request: Request) -> None:
    """A dependency of every route: 422 naming the query parameters it does not take."""
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant"):
        return
    tolerated = OGC_TOLERATED if request.url.path.startswith("/ogc") else set()
    unknown = sorted(set(request.query_params) - _declared(route) - tolerated)
    if unknown:
        allowed = ", ".join(sorted(_declared(route))) or "none"
        # OGC API - Features (Part 1, /req/core/query-param-unknown) asks a 400; the rest of the API 422.
        raise HTTPException(
            400 if request.url.path.startswith("/ogc") else 422,
            f"tham số không hợp lệ: {', '.join(unknown)}; địa chỉ này nhận: {allowed} / unknown query"
            f" parameter(s): {', '.join(unknown)}; this route takes: {allowed}",
        )


def security_headers(headers, content_type: str, tiles_origin: str = "", path: str = "") -> None:
    """nosniff everywhere; the maps' policy also allows 'unsafe-eval' (leaflet-measure compiles
    its templates with `new Function`), other HTML does not."""
    headers["X-Content-Type-Options"] = "nosniff"
    if "Content-Security-Policy" not in headers:
        is_map = path.endswith("/map")
        headers["Content-Security-Policy"] = (
            HTML_CSP.format(
                tiles=f" {tiles_origin}" if tiles_origin and is_map else "", eval=" 'unsafe-eval'" if is_map else ""
            )
            if content_type.startswith("text/html")
            else OTHER_CSP
        )
