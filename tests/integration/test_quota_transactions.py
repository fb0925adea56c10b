"""How AWS answers the quota transaction, pinned with botocore's Stubber: a cancelled
TransactWriteItems names a reason per item (moto checks none of this)."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ads.errors import IllegalTransitionError
from ads.quota_usage import QuotaBusyError, QuotaUsage
from ads.quotas import QuotaExceededError, QuotaLimits

OWNER = "arn:aws:iam::123456789012:user/alice"
ITEM = {"lab_id": "hello-web-01abc", "owner": OWNER, "created_at": "2026-11-01T00:00:00.000Z"}
HOURLY = Decimal("0.011277")


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    table = boto3.resource("dynamodb", region_name="us-east-1").Table("ads-labs")
    sleeps: list[float] = []
    usage = QuotaUsage(table, lambda: "2026-11-01T00:00:00.000Z", sleeps.append)
    with Stubber(table.meta.client) as stubber:
        yield usage, stubber, sleeps
        stubber.assert_no_pending_responses()


def _cancelled(stubber: Stubber, *codes: str) -> None:
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        service_message="Transaction cancelled, please refer cancellation reasons for "
        f"specific reasons [{', '.join(codes)}]",
        http_status_code=400,
        response_meta={},
        modeled_fields={
            "CancellationReasons": [
                {"Code": c, "Message": "The conditional request failed"}
                if c == "ConditionalCheckFailed"
                else {"Code": c}
                for c in codes
            ]
        },
    )


def _usage_read(stubber: Stubber, labs: int, hourly: str) -> None:
    stubber.add_response(
        "get_item",
        {
            "Item": {
                "lab_id": {"S": f"quota#{OWNER}"},
                "labs": {"N": str(labs)},
                "hourly_usd": {"N": hourly},
            }
        },
        {"TableName": "ads-labs", "Key": {"lab_id": f"quota#{OWNER}"}, "ConsistentRead": True},
    )


def test_given_the_usage_condition_fails_when_recording_then_429_with_the_use_read_back(stubbed):
    usage, stubber, _ = stubbed
    _cancelled(stubber, "None", "ConditionalCheckFailed")
    _usage_read(stubber, 2, "0.022554")

    with pytest.raises(QuotaExceededError) as refused:
        usage.create_counted(ITEM, OWNER, HOURLY, QuotaLimits(max_labs=2))

    assert refused.value.details["use"] == 2 and refused.value.details["limit"] == 2


def test_given_the_record_exists_when_recording_then_an_illegal_transition(stubbed):
    usage, stubber, _ = stubbed
    _cancelled(stubber, "ConditionalCheckFailed", "None")

    with pytest.raises(IllegalTransitionError):
        usage.create_counted(ITEM, OWNER, HOURLY, QuotaLimits(max_labs=2))


def test_given_a_conflicting_transaction_when_recording_then_it_is_tried_again(stubbed):
    usage, stubber, sleeps = stubbed
    _cancelled(stubber, "None", "TransactionConflict")
    stubber.add_response("transact_write_items", {}, {"TransactItems": ANY})

    usage.create_counted(ITEM, OWNER, HOURLY, QuotaLimits(max_labs=2))

    assert sleeps == [0.05]


def test_given_conflicts_every_time_when_recording_then_503_busy_and_nothing_else_tried(stubbed):
    usage, stubber, sleeps = stubbed
    for _ in range(4):
        _cancelled(stubber, "TransactionConflict", "None")

    with pytest.raises(QuotaBusyError) as busy:
        usage.create_counted(ITEM, OWNER, HOURLY, QuotaLimits(max_labs=2))

    assert busy.value.http_status == 503
    assert len(sleeps) == 4


def test_given_a_lab_released_between_refusal_and_read_when_recording_then_asked_again(stubbed):
    usage, stubber, _ = stubbed
    _cancelled(stubber, "None", "ConditionalCheckFailed")
    _usage_read(stubber, 1, "0.011277")  # someone's lab ended meanwhile: it fits now
    stubber.add_response("transact_write_items", {}, {"TransactItems": ANY})

    usage.create_counted(ITEM, OWNER, HOURLY, QuotaLimits(max_labs=2))


def test_given_a_validation_error_when_recording_then_it_is_not_mistaken_for_a_quota(stubbed):
    from botocore.exceptions import ClientError

    usage, stubber, _ = stubbed
    _cancelled(stubber, "ValidationError", "None")

    with pytest.raises(ClientError):
        usage.create_counted(ITEM, OWNER, HOURLY, QuotaLimits(max_labs=2))


def test_given_a_lab_released_already_when_released_again_then_no_count_down(stubbed):
    usage, stubber, _ = stubbed
    stubber.add_client_error(
        "update_item",
        service_error_code="ConditionalCheckFailedException",
        service_message="The conditional request failed",
        http_status_code=400,
    )

    assert usage.release(OWNER, ITEM["lab_id"], HOURLY) is False
