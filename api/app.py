"""The FastAPI application, built by `create_app(settings)`: a thin adapter over kgspatial.

Errors are mapped to HTTP statuses in one table (ERROR_STATUS, plus KgSpatialError.http_status);
every error answers JSON `{"detail": ...}`.
"""

from __future__ import annotations

import contextlib
import logging
from functools import cached_property
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from kgspatial import __version__
from kgspatial import crs as crs_mod
from kgspatial.errors import KgSpatialError, RulesError
from kgspatial.profile import load_profile
from kgspatial.untrusted import lock_down_gdal

from . import guards, owner
from .jobs import JobRunner
from .settings import Settings
from .store import Conflict, NotFound, open_store
from .store.features import json_safe

log = logging.getLogger("kgspatial.api")

# Exceptions of the store and the library -> HTTP status (KgSpatialError carries its own).
ERROR_STATUS: dict[type[Exception], int] = {
    NotFound: 404,
    Conflict: 409,
}


class Province:
    """The profile's taxonomy and analysis CRS, loaded once per app."""

    def __init__(self, name: str):
        self.profile = load_profile(name)

    @cached_property
    def taxonomy(self):
        return self.profile.load_taxonomy()

    @cached_property
    def analysis_crs(self):
        return crs_mod.recognise(self.profile.analysis_crs)


def _not_found_detail(exc: Exception) -> str:
    return f"không tìm thấy / not found: {exc}"


def _origin(url: str | None) -> str:
    """scheme://host[:port] of a tile URL template, for the maps' Content-Security-Policy."""
    from urllib.parse import urlsplit

    if not url:
        return ""
    parts = urlsplit(url.replace("{s}.", "*.").replace("{", "").replace("}", ""))  # {s}: a.b.c subdomains
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in {"http", "https"} and parts.netloc else ""


def _private_data_dir(settings: Settings) -> None:
    """The data dir is the service's alone (0700), and the embedded database file 0600 before
    SQLite first opens it (its -wal and -shm files then take the same mode)."""
    import os

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(settings.data_dir, 0o700)
    except PermissionError:  # a mount the service may write but does not own: its owner sets the mode
        log.warning("data dir %s: cannot make it 0700 (not its owner)", settings.data_dir)
    if not settings.database_url:
        db = settings.data_dir / "kgspatial.sqlite"
        if not db.exists():
            os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(db, 0o600)


def _docs(app: FastAPI) -> None:
    """/docs with Swagger UI served by the service itself (intranets have no CDN)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    try:
        import swagger_ui
        from fastapi.staticfiles import StaticFiles

        static = Path(swagger_ui.__file__).parent / "static"
        app.mount("/static/docs", StaticFiles(directory=static), name="docs-assets")
        assets = {
            "swagger_js_url": "/static/docs/swagger-ui-bundle.js",
            "swagger_css_url": "/static/docs/swagger-ui.css",
            "swagger_favicon_url": "/static/docs/favicon-32x32.png",
        }
    except ImportError:  # without swagger-ui-py: FastAPI's default (a CDN)
        assets = {}

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title="kgspatial — API", **assets)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    lock_down_gdal()  # every file this process opens with GDAL is then an upload's or its own
    province = Province(settings.profile)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        _private_data_dir(settings)
        owner.sweep(settings.data_dir / "tmp")  # what killed servers of this machine left
        store = open_store(settings, province.taxonomy.sensitive_codes)
        runner = JobRunner(store, settings)
        app.state.store = store
        app.state.runner = runner
        runner.start()
        try:
            yield
        finally:
            runner.stop()
            store.close()

    app = FastAPI(
        title="kgspatial",
        version=__version__,
        description=(
            "Kiểm tra tính thống nhất quy hoạch / planning-consistency checks against the provincial master plan. "
            "Authenticate with `Authorization: Bearer KEY` (keys: `kgspatial keys create`)."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(guards.no_unknown_query_parameters)],
    )
    tiles_origin = _origin(settings.tiles)

    @app.middleware("http")
    async def _guard(request: Request, call_next):
        refused = guards.control_character_answer(request.scope)
        response = refused if refused is not None else await call_next(request)
        guards.security_headers(
            response.headers, response.headers.get("content-type", ""), tiles_origin, request.url.path
        )
        return response

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        # Logged with its traceback for the operator; the user gets no path, query or trace.
        log.exception("internal error on %s %s", request.method, request.url.path)
        response = JSONResponse({"detail": "internal error / lỗi máy chủ"}, status_code=500)
        guards.security_headers(response.headers, "application/json", tiles_origin)
        return response

    _docs(app)
    app.state.settings = settings
    app.state.province = province

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError):
        # FastAPI's own handler fails on a NaN or Infinity sent as input (strict JSON has none).
        return JSONResponse({"detail": json_safe(jsonable_encoder(exc.errors()))}, status_code=422)

    @app.exception_handler(KgSpatialError)
    async def _library_error(_: Request, exc: KgSpatialError):
        body: dict = {"detail": str(exc)}
        if isinstance(exc, RulesError):
            body["problems"] = exc.problems
        return JSONResponse(body, status_code=exc.http_status)

    for exc_type, status in ERROR_STATUS.items():

        def handler(_: Request, exc: Exception, status=status):
            detail = _not_found_detail(exc) if status == 404 else str(exc)
            return JSONResponse({"detail": detail}, status_code=status)

        app.add_exception_handler(exc_type, handler)

    @app.get("/health", tags=["service"])
    def health(request: Request):
        """Liveness and store reachability; no key needed."""
        store = getattr(request.app.state, "store", None)
        try:
            if store is None:
                raise RuntimeError("store not opened")
            store.ping()
        except Exception:  # noqa: BLE001  (its text names the database host and port: logged, not shown)
            log.exception("health: store unreachable")
            return JSONResponse(
                {"status": "error", "store": "unreachable / không kết nối được cơ sở dữ liệu"}, status_code=503
            )
        kind = "postgis" if settings.database_url else "embedded"
        return {"status": "ok", "store": kind, "version": __version__}

    from . import pages
    from .routes import checks, ogc, register, registry

    app.include_router(registry.router, prefix="/api/v1")
    app.include_router(register.router, prefix="/api/v1")
    app.include_router(checks.router, prefix="/api/v1")
    app.include_router(ogc.router, prefix="/ogc")
    app.include_router(pages.router)
    return app
