"""The HTTP side every service shares: the app factory and the app-wide dependencies' types."""

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from shared.auth import Principal
from shared.http.app import create_app
from shared.runtime import Runtime

# The app-wide ``runtime`` and ``principal`` dependencies, not re-validated per request: msgspec
# would otherwise walk the Runtime dataclass (and fail on its forward references) on every call.
RuntimeDep = NamedDependency[SkipValidation[Runtime]]
PrincipalDep = NamedDependency[SkipValidation[Principal]]
AnyRequest = Request[Any, Any, Any]

__all__ = ["AnyRequest", "PrincipalDep", "RuntimeDep", "create_app"]
