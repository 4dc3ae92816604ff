"""API keys and roles (CONTRACT §5): 401 without a valid key, 403 when the role may not act,
404 (not 403) for another planner's plan or check, so their existence is not revealed."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

bearer = HTTPBearer(auto_error=False, description="API key made with `kgspatial keys create`")


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


def current(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    if creds is None or not creds.credentials:
        raise HTTPException(401, "thiếu khóa API / missing API key (Authorization: Bearer KEY)",
                            headers={"WWW-Authenticate": "Bearer"})
    found = request.app.state.store.key_by_secret(creds.credentials)
    if found is None:
        raise HTTPException(401, "khóa API không hợp lệ / invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return Principal(found["id"], found["name"], found["role"])


def role(*allowed: str):
    """A dependency that lets only these roles through (403 for the others)."""

    def check(principal: Principal = Depends(current)) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                403, f"vai trò {principal.role} không được làm việc này (cần {' hoặc '.join(allowed)}) / role"
                     f" {principal.role!r} may not do this (needs {' or '.join(allowed)})")
        return principal

    return check


any_role = role("viewer", "planner", "admin")
uploader = role("planner", "admin")
admin_only = role("admin")
