"""Lean reads of lab records against moto: the API's view of a lab and its pages of
summaries ask DynamoDB only for what they show, and show exactly what a whole read
would. (moto answers what it is asked, so the request is checked as sent.)"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ads import lab_queries, lab_record
from ads.config import AdsConfig
from ads.deployment_context import DeploymentContext
from ads.lab.plan import plan_from_labspec_source
from ads.lab_queries import get_lab, list_labs
from ads.lab_record import LabStatus
from ads.labs_table import create_table
from ads.record_projection import LAB_SUMMARY, LAB_VIEW
from ads.records import LabRepository
from tests.integration.steps.conftest import HELLO_WEB

REGION = "us-east-1"
ALICE = "arn:aws:iam::123456789012:user/alice"
ADMIN = "arn:aws:iam::123456789012:role/ads-admin"


class WholeReads(LabRepository):
    """The same table read whole, whatever a reader asks for: the expected answers."""

    def projected(self, attributes: Iterable[str]) -> LabRepository:
        return self


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION), "labs")
        yield boto3.resource("dynamodb", region_name=REGION).Table("labs")


@pytest.fixture
def sent(table: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every DynamoDB request as sent on the wire: (operation, body)."""
    requests: list[tuple[str, dict[str, Any]]] = []

    def keep(params: dict[str, Any], model: Any, **_: Any) -> None:
        requests.append((model.name, json.loads(params["body"] or b"{}")))

    table.meta.client.meta.events.register("before-call.dynamodb.*", keep)
    return requests


def _lab(repository: LabRepository, lab_id: str) -> None:
    source = HELLO_WEB.read_text()
    plan = plan_from_labspec_source(source).model_dump(mode="json")
    repository.create(
        repository.new_record(
            lab_id, ALICE, lab_name="hello-web", plan=plan, labspec=json.loads(source)
        )
    )
    for status in ("PROVISIONING", "INITIALIZING", "HEALTH_CHECKING", "READY"):
        repository.transition(
            lab_id, status, vm_id="local-1", agent_port=41000, endpoint="http://127.0.0.1:41000"
        )


def _names(body: dict[str, Any]) -> set[str]:
    names = body.get("ExpressionAttributeNames", {})
    return {
        names.get(part.strip(), part.strip()) for part in body["ProjectionExpression"].split(",")
    }


def _contexts(table: Any) -> tuple[DeploymentContext, DeploymentContext]:
    config = AdsConfig(region=REGION, table_name="labs", admin_principals=(ADMIN,))
    lean = DeploymentContext(repository=LabRepository(table), stepfunctions=None, config=config)
    whole = DeploymentContext(repository=WholeReads(table), stepfunctions=None, config=config)
    return lean, whole


def test_given_a_ready_lab_when_its_owner_reads_it_then_the_labspec_is_not_read_and_the_view_is_the_whole_reads(
    table: Any, sent: list[tuple[str, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    lean, whole = _contexts(table)
    _lab(lean.repository, "hello-web-01jview")
    sent.clear()
    # Both reads accrue the lab's cost up to one instant: the two views differ in nothing
    # else, whatever time passes between them.
    instant = lab_record.utc_now()
    monkeypatch.setattr(lab_queries, "utc_now", lambda: instant)

    view = get_lab(lean, "hello-web-01jview", caller=ALICE)

    (operation, body), *_ = sent
    assert operation == "GetItem"
    assert _names(body) == set(LAB_VIEW)
    assert "labspec" not in _names(body)
    assert view == get_lab(whole, "hello-web-01jview", caller=ALICE)
    assert view["cost"] and view["accrued_cost"] is not None and view["status"] == "READY"


@pytest.mark.parametrize("caller", [ALICE, ADMIN], ids=["owner", "admin"])
def test_given_pages_of_labs_when_listed_then_only_summary_attributes_are_read_and_the_pages_are_the_whole_reads(
    table: Any, sent: list[tuple[str, dict[str, Any]]], caller: str
) -> None:
    lean, whole = _contexts(table)
    for i in range(3):
        _lab(lean.repository, f"hello-web-01jlist{i}")
    lean.repository.transition("hello-web-01jlist1", LabStatus.DESTROYING)
    sent.clear()

    first = list_labs(lean, caller=caller, limit=2)
    second = list_labs(lean, caller=caller, limit=2, next_token=first["next_token"])

    reads = [body for operation, body in sent if operation in {"Query", "Scan"}]
    assert reads and all(_names(body) == set(LAB_SUMMARY) for body in reads)
    assert not {"labspec", "plan", "status_history"} & set(LAB_SUMMARY)
    assert first == list_labs(whole, caller=caller, limit=2)
    assert second == list_labs(whole, caller=caller, limit=2, next_token=first["next_token"])
    listed = [lab["lab_id"] for lab in first["labs"] + second["labs"]]
    assert sorted(listed) == [f"hello-web-01jlist{i}" for i in range(3)]
