"""One route table: the OpenAPI document, and everything that must serve exactly it."""

from __future__ import annotations

import re

import pytest

from ads import api_routes


def _documented() -> set[tuple[str, str]]:
    return {(route.method, route.path) for route in api_routes.routes()}


def _registered(resolver) -> set[tuple[str, str]]:
    return {
        # The resolver writes path parameters as <name>; API Gateway and OpenAPI as {name}.
        (route.method, re.sub(r"<(\w+)>", r"{\1}", route.path))
        for route in (*resolver._static_routes, *resolver._dynamic_routes)
    }


def test_given_the_handlers_resolver_when_its_routes_are_listed_then_they_are_exactly_the_documents():
    from functions.api.handler import app

    assert _registered(app) == _documented()


def test_given_the_declared_routes_when_listed_then_the_handler_serves_each_under_the_same_name():
    # The operation ids of the document come from the declarations' names.
    from functions.api import handler, openapi

    served = {
        (route.method, route.path): route.func.__name__
        for route in (*handler.app._static_routes, *handler.app._dynamic_routes)
    }
    declared = {
        (route.method, route.path): route.func.__name__
        for route in (*openapi.declared._static_routes, *openapi.declared._dynamic_routes)
    }

    assert served == declared


def test_given_the_document_when_read_then_each_route_names_the_path_parameters_it_declares():
    document = api_routes.openapi_document()

    for route in api_routes.routes():
        operation = document["paths"][route.path][route.method.lower()]
        declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        assert set(route.path_parameters) == declared, route


def test_given_the_cdk_route_table_when_built_then_it_is_the_documents_and_bodies_are_for_its_routes():
    from cdk_app.api_construct import REQUEST_BODIES, ROUTES

    document = api_routes.openapi_document()

    assert {(method, path) for path, method, _ in ROUTES} == _documented()
    assert len(ROUTES) == len(_documented())
    for path, method in REQUEST_BODIES:
        assert "requestBody" in document["paths"][path][method.lower()], (method, path)


def test_given_the_local_front_when_it_matches_paths_then_it_serves_every_documented_route_only():
    from ads.local.http_api import ROUTE_METHODS, match_route

    for method, path in _documented():
        concrete = re.sub(r"\{(\w+)\}", lambda m: f"{m.group(1)}-value", path)
        resource, parameters = match_route(concrete)
        assert resource == path
        assert parameters == {name: f"{name}-value" for name in re.findall(r"\{(\w+)\}", path)}
        assert method in ROUTE_METHODS[resource]
    assert {(m, path) for path, methods in ROUTE_METHODS.items() for m in methods} == _documented()
    assert match_route("/laboratories") is None
    assert match_route("/labs/a/b") is None


def test_given_a_document_with_another_route_when_read_then_the_table_follows_it(monkeypatch):
    document = {
        "paths": {
            "/labs/{lab_id}/vms/{role}": {
                "parameters": [],
                "get": {},
                "post": {},
            }
        }
    }
    monkeypatch.setattr(api_routes, "openapi_document", lambda: document)
    api_routes.routes.cache_clear()
    try:
        assert api_routes.routes() == (
            api_routes.Route("/labs/{lab_id}/vms/{role}", "GET", ("lab_id", "role")),
            api_routes.Route("/labs/{lab_id}/vms/{role}", "POST", ("lab_id", "role")),
        )
        pattern = api_routes.resource_pattern("/labs/{lab_id}/vms/{role}")
        assert pattern.match("/labs/l-1/vms/web").groupdict() == {"lab_id": "l-1", "role": "web"}
        assert pattern.match("/labs/l-1/vms/web/x") is None
        assert pattern.match("/labsXl-1/vms/web") is None
    finally:
        api_routes.routes.cache_clear()


@pytest.mark.parametrize("resource", ["/labs/{lab_id}", "/labs/{lab_id}/history"])
def test_given_a_resource_when_its_pattern_is_built_then_a_parameter_is_one_path_segment(resource):
    pattern = api_routes.resource_pattern(resource)

    assert pattern.match(resource.replace("{lab_id}", "lab-1"))
    assert not pattern.match(resource.replace("{lab_id}", "lab/1"))
