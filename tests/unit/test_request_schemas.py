"""The API Gateway request models (draft 4) accept the sample requests and refuse bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from ads.api_models import DeploymentRequest, PlanRequest
from cdk_app.request_schemas import draft4_schema

EVENTS = Path(__file__).resolve().parents[2] / "events" / "api"
# Samples whose body is well-formed JSON that fits the model (what is wrong with some of
# them, a bad labspec or source, is for the Lambda to say).
ACCEPTED = {
    "post_labs": DeploymentRequest,
    "post_labs_without_source": DeploymentRequest,
    "post_labs_bad_labspec": DeploymentRequest,
    "post_labs_bad_source": DeploymentRequest,
    "post_plans": PlanRequest,
    "post_plans_bad_labspec": PlanRequest,
}


def _body(name: str) -> dict:
    return json.loads(json.loads((EVENTS / f"{name}.json").read_text())["body"])


def _validator(model) -> jsonschema.Draft4Validator:
    schema = draft4_schema(model)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


@pytest.mark.parametrize(("name", "model"), sorted(ACCEPTED.items()))
def test_given_a_sample_request_when_validated_with_the_draft4_model_then_it_is_accepted(
    name, model
):
    errors = list(_validator(model).iter_errors(_body(name)))

    assert errors == []


def test_given_the_bad_options_sample_when_validated_then_the_model_refuses_it():
    errors = list(_validator(DeploymentRequest).iter_errors(_body("post_labs_bad_options")))

    messages = " | ".join(error.message for error in errors)
    assert "'latest'" in messages  # os_policy outside the enum
    assert "colour" in messages  # a field the model does not have


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"labspec": "not an object"},
        {"labspec": {}, "source": {"svn": "https://example.org/repo"}},
        {"labspec": {}, "options": {"region": "Mars"}},
        {"labspec": {}, "lab_id": "chosen-by-me"},
    ],
)
def test_given_a_body_that_does_not_fit_when_validated_then_the_model_refuses_it(body):
    assert list(_validator(DeploymentRequest).iter_errors(body))


@pytest.mark.parametrize("model", [DeploymentRequest, PlanRequest])
def test_given_a_model_when_converted_then_no_keyword_of_a_later_draft_is_left(model):
    text = json.dumps(draft4_schema(model))

    for keyword in ('"$defs"', '"$ref"', '"const"', '"prefixItems"', '"examples"'):
        assert keyword not in text
