"""API keys and roles (CONTRACT §5): 401 without a valid key, 403 when the role may not act,
404 (not 403) for another planner's plan or check, so their existence is not revealed.

Where the key comes from (CONTRACT §5, §11):
- `Authorization: Bearer KEY` everywhere;
- under /ogc also HTTP Basic with the key as password (any user name): QGIS offers Basic, not
  custom headers;
- the web pages' session cookie (HttpOnly, set by the sign-in POST of api.pages, gone when the
  browser closes), on GET and HEAD only: a link to a map or report then opens without the user
  handling the key, and nothing a cookie alone sends can change anything (the pages' own POSTs
  check a CSRF token on top, api.pages).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

bearer = HTTPBearer(auto_error=False, description="API key made with `kgspatial keys create`")
SESSION_COOKIE = "kgspatial_session"
SAFE_METHODS = ("GET", "HEAD")


@dataclass(frozen=True)
class Principal:
    id: str
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def sees_everything(self) -> bool:
        """Viewers (GIS officers) and admins read every plan and check; planners their own."""
        return self.role in ("viewer", "admin")

    def may_see(self, record: dict) -> bool:
        return self.sees_everything or record.get("owner_id") == self.id


def basic_password(header: str | None) -> str | None:
    """The password of an `Authorization: Basic` header (the user name is ignored), else None."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, sep, password = decoded.partition(":")
    return password if sep and password else None


def principal_for(request: Request, secret: str | None) -> Principal | None:
    """The key's holder, or None for no key or an unknown one."""
    if not secret:
        return None
    found = request.app.state.store.key_by_secret(secret)
    return Principal(found["id"], found["name"], found["role"]) if found else None


def _challenge(request: Request) -> dict:
    if request.url.path.startswith("/ogc"):
        return {"WWW-Authenticate": 'Bearer, Basic realm="kgspatial", charset="UTF-8"'}
    return {"WWW-Authenticate": "Bearer"}


def current(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    secret = creds.credentials if creds is not None else None
    if secret is None and request.url.path.startswith("/ogc"):
        secret = basic_password(request.headers.get("authorization"))
    if secret is None and request.method in SAFE_METHODS:
        secret = request.cookies.get(SESSION_COOKIE) or None
    if not secret:
        raise HTTPException(
            401, "thiếu khóa API / missing API key (Authorization: Bearer KEY)", headers=_challenge(request)
        )
    principal = principal_for(request, secret)
    if principal is None:
        raise HTTPException(401, "khóa API không hợp lệ / invalid API key", headers=_challenge(request))
    return principal


def role(*allowed: str):
    """A dependency that lets only these roles through (403 for the others)."""

    def check(principal: Principal = Depends(current)) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                403,
                f"vai trò {principal.role} không được làm việc này (cần {' hoặc '.join(allowed)}) / role"
                f" {principal.role!r} may not do this (needs {' or '.join(allowed)})",
            )
        return principal

    return check


any_role = role("viewer", "planner", "admin")
uploader = role("planner", "admin")
admin_only = role("admin")
