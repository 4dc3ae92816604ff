"""kgspatial's web service (CONTRACT §5): `create_app(Settings(...))`, served by `kgspatial serve`."""

from .app import create_app
from .settings import Settings

__all__ = ["create_app", "Settings"]
