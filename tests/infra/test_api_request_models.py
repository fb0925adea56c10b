"""API Gateway validates request bodies with models derived from ads.api_models."""

from __future__ import annotations

import json

from ads.api_routes import openapi_document
from cdk_app.api_construct import BAD_BODY_TEMPLATE, REQUEST_BODIES
from cdk_app.request_schemas import DRAFT_4, draft4_schema
from tests.infra.template_queries import of_type


def _methods(template):
    resources = {
        logical_id: r["Properties"]
        for logical_id, r in of_type(template, "AWS::ApiGateway::Resource").items()
    }

    def path_of(ref):
        if "Fn::GetAtt" in ref:
            return ""
        parent = resources[ref["Ref"]]
        return f"{path_of(parent['ParentId'])}/{parent['PathPart']}"

    return {
        (path_of(m["Properties"]["ResourceId"]), m["Properties"]["HttpMethod"]): m["Properties"]
        for m in of_type(template, "AWS::ApiGateway::Method").values()
    }


def test_given_the_api_when_synthesized_then_each_post_route_validates_its_body_with_its_model(
    synthesis,
):
    template = synthesis.template
    models = of_type(template, "AWS::ApiGateway::Model")
    (validator,) = of_type(template, "AWS::ApiGateway::RequestValidator").values()
    assert validator["Properties"]["ValidateRequestBody"] is True
    methods = _methods(template)

    # The routes whose operation declares a body in the API's OpenAPI document; a POST
    # without one (stop, start, restart) carries no model.
    with_body = {
        (path, method.upper())
        for path, operations in openapi_document()["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict) and "requestBody" in operation
    }
    assert with_body == set(REQUEST_BODIES)
    for route in methods:
        if route not in with_body:
            assert "RequestModels" not in methods[route], route
    for route, model in REQUEST_BODIES.items():
        method = methods[route]
        (model_ref,) = method["RequestModels"].values()
        assert list(method["RequestModels"]) == ["application/json"]
        schema = models[model_ref["Ref"]]["Properties"]
        assert schema["Name"] == model.__name__
        assert schema["ContentType"] == "application/json"
        assert schema["Schema"] == draft4_schema(model)
        assert schema["Schema"]["$schema"] == DRAFT_4
        assert "RequestValidatorId" in method


def test_given_the_api_when_synthesized_then_only_post_routes_carry_a_body_model(synthesis):
    for route, method in _methods(synthesis.template).items():
        if route[1] != "POST":
            assert "RequestModels" not in method, route


def test_given_a_refused_body_when_api_gateway_answers_then_it_uses_the_ads_error_shape(
    synthesis,
):
    (response,) = [
        r["Properties"]
        for r in of_type(synthesis.template, "AWS::ApiGateway::GatewayResponse").values()
        if r["Properties"]["ResponseType"] == "BAD_REQUEST_BODY"
    ]
    assert response["StatusCode"] == "400"
    assert response["ResponseTemplates"] == {"application/json": BAD_BODY_TEMPLATE}
    # API Gateway substitutes without escaping: the body must stay JSON whatever the
    # validator says (its strings carry double quotes; messageString comes quoted).
    answered = BAD_BODY_TEMPLATE.replace(
        "$context.error.messageString", json.dumps("Invalid request body")
    ).replace(
        "$context.error.validationErrorString",
        '[object has missing required properties (["labspec"])]',
    )
    assert json.loads(answered)["error"] == "invalid_input"
