"""The sample events embed the hello-web labspec: they must stay the lab's own labspec,
so a change to the sample lab cannot leave requests behind that describe another lab."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HELLO_WEB = json.loads((ROOT / "events/labs/hello-web/scripts/labspec.json").read_text())
# Events whose labspec is deliberately wrong (they test the refusal).
DELIBERATELY_DIFFERENT = {"post_labs_bad_labspec.json", "lab_deployment_requested_bad_labspec.json"}


def _payload(event: dict[str, Any]) -> Any:
    if isinstance(event.get("detail"), dict):
        return event["detail"]
    body = event.get("body")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return None  # the malformed-body samples
    return None


def _embedded_hello_web() -> list[Path]:
    found = []
    for path in sorted((ROOT / "events").glob("**/*.json")):
        if "labs" in path.relative_to(ROOT / "events").parts[:1]:
            continue
        payload = _payload(json.loads(path.read_text()))
        labspec = payload.get("labspec") if isinstance(payload, dict) else None
        if isinstance(labspec, dict) and "hello-web" in json.dumps(labspec.get("lab", {}))[:200]:
            found.append(path)
    return found


def test_given_the_sample_events_when_read_then_several_embed_the_hello_web_labspec():
    assert len(_embedded_hello_web()) >= 5


@pytest.mark.parametrize("path", _embedded_hello_web(), ids=lambda p: p.name)
def test_given_a_sample_event_embedding_hello_web_when_compared_then_it_is_the_lab_s_labspec(
    path: Path,
):
    labspec = _payload(json.loads(path.read_text()))["labspec"]

    if path.name in DELIBERATELY_DIFFERENT:
        assert labspec != HELLO_WEB
    else:
        assert labspec == HELLO_WEB, f"{path.relative_to(ROOT)} holds an old hello-web labspec"
