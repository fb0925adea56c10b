"""The REST API's routes, read from the one document that describes them.

``functions/api/openapi.json`` is generated from the routes declared in
:mod:`functions.api.openapi` (a test keeps it equal to what they generate, another that
the api handler's resolver registers exactly these routes). API Gateway's resources and methods (``cdk_app.api_construct``)
and the local HTTP front (``ads.local.http_api``) are derived from it here, so a route
added to the handler reaches every front door or fails a test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

OPENAPI_PACKAGE = "functions.api"
OPENAPI_FILE = "openapi.json"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_TEMPLATE_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The operation extension that marks an admin operation (the sweep): functions.api.openapi
# sets it, and only admins' grants may include such a route.
ADMIN_EXTENSION = "x-ads-admin"


@dataclass(frozen=True)
class Route:
    """One method on one resource, in API Gateway's terms."""

    path: str  # the resource template, e.g. "/labs/{lab_id}"
    method: str  # upper case, e.g. "GET"
    path_parameters: tuple[str, ...]
    admin: bool = False  # an admin operation (ADMIN_EXTENSION)


def openapi_document() -> dict[str, Any]:
    """The committed OpenAPI document of the REST API."""
    text = resources.files(OPENAPI_PACKAGE).joinpath(OPENAPI_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def routes() -> tuple[Route, ...]:
    """Every route of the document, in its order (paths, then methods as written)."""
    found: list[Route] = []
    for path, operations in openapi_document()["paths"].items():
        for method in operations:
            if method not in _METHODS:
                continue  # "parameters", "summary"... of the path item, not methods
            parameters = tuple(_TEMPLATE_PARAMETER.findall(path))
            admin = bool(operations[method].get(ADMIN_EXTENSION))
            found.append(Route(path, method.upper(), parameters, admin))
    return tuple(found)


def invoke_routes(*, include_admin: bool = True) -> tuple[tuple[str, str], ...]:
    """Every route as ``(method, path)`` for an ``execute-api:Invoke`` resource: each path
    parameter becomes ``*`` (it is one segment, generated at run time). Without
    ``include_admin``, the admin operations are left out."""
    return tuple(
        (route.method, _TEMPLATE_PARAMETER.sub("*", route.path))
        for route in routes()
        if include_admin or not route.admin
    )


def admin_routes() -> tuple[tuple[str, str], ...]:
    """The admin operations as ``(method, path)``."""
    return tuple((r.method, r.path) for r in routes() if r.admin)


def resources_in_order() -> tuple[str, ...]:
    """The resource templates, each once, in document order."""
    return tuple(dict.fromkeys(route.path for route in routes()))


def methods_by_resource() -> dict[str, frozenset[str]]:
    """The methods each resource declares (any other is refused, as API Gateway does)."""
    methods: dict[str, set[str]] = {}
    for route in routes():
        methods.setdefault(route.path, set()).add(route.method)
    return {path: frozenset(names) for path, names in methods.items()}


def resource_pattern(resource: str) -> re.Pattern[str]:
    """A regex matching the paths of ``resource``, one named group per path parameter
    (a parameter is one path segment, as in API Gateway)."""
    pattern = ""
    position = 0
    for parameter in _TEMPLATE_PARAMETER.finditer(resource):
        pattern += re.escape(resource[position : parameter.start()])
        pattern += f"(?P<{parameter.group(1)}>[^/]+)"
        position = parameter.end()
    pattern += re.escape(resource[position:])
    return re.compile(f"^{pattern}$")
