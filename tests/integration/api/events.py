"""One way to load the sample events in ``events/`` for tests (the same files the docs use)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[3] / "events"
# The lab id the sample API events carry; tests swap in the id of a lab they created.
SAMPLE_LAB_ID = "hello-web-01jd5k3q8v2m6x9t4r7p0wz1ab"

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"
ADMIN_ROLE = "arn:aws:iam::123456789012:role/ads-admin"
ADMIN_SESSION = "arn:aws:sts::123456789012:assumed-role/ads-admin/oncall"


def load_event(
    name: str,
    *,
    lab_id: str | None = None,
    caller: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: Any = None,
) -> dict[str, Any]:
    """``name`` is ``api/post_labs`` or ``ci/lab_deployment_requested`` (no .json)."""
    text = (EVENTS / f"{name}.json").read_text()
    if lab_id:
        text = text.replace(SAMPLE_LAB_ID, lab_id)
    event = json.loads(text)
    if caller is not None:
        event["requestContext"]["identity"]["userArn"] = caller
    if headers:
        event["headers"] = {**(event.get("headers") or {}), **headers}
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    if query is not None:
        event["queryStringParameters"] = query or None
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def labspec() -> dict[str, Any]:
    return json.loads((EVENTS / "labs" / "hello-web" / "scripts" / "labspec.json").read_text())
