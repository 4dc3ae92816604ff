"""Open the store the settings name: PostGIS when KGSPATIAL_DATABASE_URL is set, else embedded."""

from __future__ import annotations

from ..settings import Settings
from .base import Conflict, ConflictFilter, NotFound, Page, Store

__all__ = ["open_store", "Store", "ConflictFilter", "Conflict", "NotFound", "Page"]


def open_store(settings: Settings, sensitive_codes) -> Store:
    url = settings.database_url
    if url:
        from .postgis import PostgisStore

        return PostgisStore(url, settings.data_dir, sensitive_codes)
    from .embedded import EmbeddedStore

    return EmbeddedStore(settings.data_dir, sensitive_codes)
