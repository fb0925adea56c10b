"""Concurrent API requests on the local plane: each is answered for itself.

Powertools' REST resolver keeps the event being resolved in class-level state; requests
resolved at once in one process used to read each other's body, headers and caller. The
deploy workflow is parked at Create VM, so only the requests run.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ads.cli.lab_cmds import load_labspec
from ads.local.api_auth import LOCAL_ACCOUNT_ID, Caller
from ads.local.http_api import build_proxy_event
from ads.local.runtime import LocalControlPlane

REPO = Path(__file__).resolve().parents[3]
REQUESTS = 12


def _request(index: int) -> tuple[dict, str, str]:
    labspec = load_labspec(str(REPO / "events" / "labs" / "hello-web"))
    labspec["lab"]["description"]["name"] = f"Concurrent Lab {index}"
    body = json.dumps({"labspec": labspec, "options": {}}).encode()
    principal = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:user/user{index}"
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Idempotency-Key", f"key-{index}"),
    ]
    event = build_proxy_event("POST", "/labs", headers, body, caller=Caller(principal, admin=False))
    return event, f"concurrent-lab-{index}", principal


def test_given_posts_resolved_at_once_when_they_answer_then_each_lab_is_its_own_request(
    tmp_path: Path,
):
    release = threading.Event()
    with LocalControlPlane(tmp_path / "plane", records_file=tmp_path / "records.sqlite3") as plane:
        plane.override_handler("create_vm", lambda real: lambda event, context: release.wait(60))
        requests = [_request(i) for i in range(REQUESTS)]
        gate = threading.Barrier(REQUESTS)

        def post(index: int) -> dict:
            gate.wait()
            return plane.invoke_api(requests[index][0])

        try:
            with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
                answers = list(pool.map(post, range(REQUESTS)))

            statuses = [a["statusCode"] for a in answers]
            assert statuses == [202] * REQUESTS, [a["body"][:200] for a in answers]
            repository = plane.repository()
            for answer, (_, slug, principal) in zip(answers, requests, strict=True):
                lab_id = json.loads(answer["body"])["lab_id"]
                assert lab_id.startswith(slug + "-"), (lab_id, slug)
                assert repository.require(lab_id).owner == principal
            # Each key made exactly one lab: a repeat of request 0 replays it.
            again = json.loads(plane.invoke_api(requests[0][0])["body"])
            assert again["idempotent_replay"] is True
            assert again["lab_id"] == json.loads(answers[0]["body"])["lab_id"]
        finally:
            release.set()
