"""Lab images in the template: who may make, launch from and remove AMIs, each scoped by
the ads:managed tag where EC2 authorises per resource (the Keep Lab Image state's wiring
is pinned with every DeployLab placeholder in test_workflow.py)."""

from __future__ import annotations

import pytest

from tests.infra.template_queries import (
    ADS_FUNCTIONS,
    resources_of,
    statements_of_function,
    statements_with_action,
    text,
)

MANAGED = {"StringEquals": {"ec2:ResourceTag/ads:managed": "true"}}
TAGGED_AT_CREATION = {"StringEquals": {"aws:RequestTag/ads:managed": "true"}}


def _statements(synthesis, name):
    return statements_of_function(synthesis.template, name)


def _on(statements, kind):
    return [s for s in statements if any(f":{kind}/" in text(r) for r in resources_of(s))]


def _who_may(synthesis, action):
    return {
        name
        for name in ADS_FUNCTIONS
        if statements_with_action(_statements(synthesis, name), action)
    }


def test_given_keep_image_when_synthesized_then_create_image_needs_an_ads_instance_and_tags_the_image_and_snapshots(
    synthesis,
):
    statements = statements_with_action(_statements(synthesis, "keep_image"), "ec2:CreateImage")
    (on_instances,) = _on(statements, "instance")
    assert on_instances["Condition"] == MANAGED
    (on_new,) = _on(statements, "image")
    assert on_new["Condition"] == TAGGED_AT_CREATION
    assert _on([on_new], "snapshot") == [on_new]
    assert all(text(r) != "*" for s in statements for r in resources_of(s))


def test_given_keep_image_when_synthesized_then_it_may_tag_only_within_create_image(synthesis):
    (statement,) = statements_with_action(_statements(synthesis, "keep_image"), "ec2:CreateTags")
    assert statement["Condition"] == {"StringEquals": {"ec2:CreateAction": "CreateImage"}}
    assert {":image/" in text(r) or ":snapshot/" in text(r) for r in resources_of(statement)} == {
        True
    }


@pytest.mark.parametrize("function", ["api", "sweep"])
def test_given_the_api_or_the_sweep_when_synthesized_then_it_removes_only_ads_images_and_their_snapshots(
    synthesis, function
):
    statements = _statements(synthesis, function)
    assert statements_with_action(statements, "ec2:DescribeImages")
    (deregister,) = statements_with_action(statements, "ec2:DeregisterImage")
    assert deregister["Condition"] == MANAGED
    assert all(":image/" in text(r) for r in resources_of(deregister))
    (delete,) = statements_with_action(statements, "ec2:DeleteSnapshot")
    assert delete["Condition"] == MANAGED
    assert all(":snapshot/" in text(r) for r in resources_of(delete))


def test_given_create_vm_when_synthesized_then_it_launches_from_ads_image_snapshots_only(
    synthesis,
):
    statements = statements_with_action(_statements(synthesis, "create_vm"), "ec2:RunInstances")
    (on_snapshots,) = _on(statements, "snapshot")
    assert on_snapshots["Condition"] == MANAGED


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        ("ec2:CreateImage", {"keep_image"}),
        # the api for DELETE /images, the sweep for images unused for ADS_IMAGE_UNUSED_DAYS
        ("ec2:DeregisterImage", {"api", "sweep"}),
        ("ec2:DeleteSnapshot", {"api", "sweep"}),
    ],
)
def test_given_an_image_action_when_synthesized_then_only_its_function_may_call_it(
    synthesis, action, allowed
):
    assert _who_may(synthesis, action) == allowed
