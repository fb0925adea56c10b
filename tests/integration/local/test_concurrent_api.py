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


def test_given_a_post_held_in_its_handler_when_another_is_answered_then_each_acts_as_its_caller(
    tmp_path: Path, monkeypatch
):
    # The held POST reads its caller after the other request was resolved from start to
    # end: served one at a time, the second could not be answered meanwhile; with the
    # resolver's state shared, the held one would make its lab as the second's caller.
    from functions.api import request_input

    release = threading.Event()
    held, second_done = threading.Event(), threading.Event()
    real_key = request_input.idempotency_key

    def idempotency_key(event):
        key = real_key(event)
        if key == "key-0":
            held.set()
            second_done.wait(30)
        return key

    monkeypatch.setattr(request_input, "idempotency_key", idempotency_key)
    with LocalControlPlane(tmp_path / "plane", records_file=tmp_path / "records.sqlite3") as plane:
        plane.override_handler("create_vm", lambda real: lambda event, context: release.wait(60))
        (first, _, first_caller), (second, _, second_caller) = _request(0), _request(1)
        answers: dict[str, dict] = {}

        def post(name: str, event: dict) -> None:
            answers[name] = plane.invoke_api(event)
            if name == "second":
                second_done.set()

        try:
            first_thread = threading.Thread(target=post, args=("first", first))
            first_thread.start()
            assert held.wait(30)
            second_thread = threading.Thread(target=post, args=("second", second))
            second_thread.start()

            assert second_done.wait(20), (
                "the second request was not answered while the first was held"
            )
            assert "first" not in answers
            first_thread.join(30)
            second_thread.join(30)

            repository = plane.repository()
            for name, caller, slug in (
                ("first", first_caller, "concurrent-lab-0"),
                ("second", second_caller, "concurrent-lab-1"),
            ):
                assert answers[name]["statusCode"] == 202, answers[name]["body"][:300]
                lab_id = json.loads(answers[name]["body"])["lab_id"]
                assert lab_id.startswith(slug + "-"), (name, lab_id)
                assert repository.require(lab_id).owner == caller, name
        finally:
            second_done.set()
            release.set()
