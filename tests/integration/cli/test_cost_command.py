"""`ads cost` and a quota's refusal of `ads deploy`, through `ads.cli.main.main` against the
fake API over HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ads.cli import exit_codes
from ads.cli.main import main
from ads.cost_report import CostReport
from tests.integration.cli.fake_api import FakeAdsApi

ALICE = "arn:aws:iam::123456789012:user/alice"
BOB = "arn:aws:iam::123456789012:user/bob"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _line(lab_id: str, owner: str, running: float, stopped: float, **extra: Any) -> dict:
    compute = round(running * 0.0104, 4)
    storage = round((running + stopped) * 0.64 / 730, 4)
    return {
        "lab_id": lab_id,
        "lab_name": "Hello Web",
        "owner": owner,
        "status": "READY",
        "course": None,
        "hours_running": running,
        "hours_stopped": stopped,
        "compute_usd": compute,
        "storage_usd": storage,
        "total_usd": round(compute + storage, 4),
        **extra,
    }


def _serve_pages(
    api: FakeAdsApi, monkeypatch, pages: list[list[dict]], images: list[dict] | None = None
) -> None:
    """GET /costs answers ``pages`` one after the other, linked by next_token (the first
    page with ``images``, as the API sends them)."""
    route = api.route

    def costs(method, path, query, headers, body):
        if path != "/costs":
            return route(method, path, query, headers, body)
        index = int(query.get("next_token") or 0)
        answer = CostReport(
            as_of="2026-11-02T00:00:00.000Z",
            since=query.get("since"),
            labs=pages[index],
            images=(images or []) if index == 0 else [],
            owners=[],
            next_token=str(index + 1) if index + 1 < len(pages) else None,
        ).model_dump(mode="json")
        return 200, answer

    monkeypatch.setattr(api, "route", costs)


def test_given_two_pages_when_costs_are_asked_then_every_page_is_read_and_summed_per_owner(
    api: FakeAdsApi, capsys, monkeypatch
) -> None:
    _serve_pages(
        api,
        monkeypatch,
        [[_line("lab-a", ALICE, 6, 4), _line("lab-b", BOB, 2, 0)], [_line("lab-c", ALICE, 1, 0)]],
    )

    code, out, err = run(capsys, "cost", "--since", "2026-11-01", "--endpoint", api.url)

    assert code == exit_codes.OK, err
    queries = [r.query for r in api.received if r.path == "/costs"]
    assert queries == [{"since": "2026-11-01"}, {"since": "2026-11-01", "next_token": "1"}]
    header, *rows = out.splitlines()
    assert header.split() == [
        "LAB", "NAME", "OWNER", "HOURS", "RUNNING", "HOURS", "STOPPED",
        "COMPUTE", "$", "STORAGE", "$", "TOTAL", "$",
    ]  # fmt: skip
    assert rows[0].split()[:2] == ["lab-a", "Hello"]
    alice_total = next(r for r in rows if r.startswith("total (2 labs)"))
    assert alice_total.split()[4:] == [ALICE, "7.0", "4.0", "0.07", "0.01", "0.08"]
    assert "List prices" in out


def test_given_json_when_costs_are_asked_then_one_document_with_labs_and_owner_sums(
    api: FakeAdsApi, capsys, monkeypatch
) -> None:
    _serve_pages(api, monkeypatch, [[_line("lab-a", ALICE, 6, 4)], [_line("lab-b", ALICE, 1, 1)]])

    code, out, _ = run(capsys, "cost", "--owner", ALICE, "--json", "--endpoint", api.url)

    assert code == exit_codes.OK
    document = json.loads(out)
    assert [lab["lab_id"] for lab in document["labs"]] == ["lab-a", "lab-b"]
    [owner] = document["owners"]
    assert (owner["owner"], owner["labs"], owner["hours_stopped"]) == (ALICE, 2, 5.0)
    assert api.received[-1].query["owner"] == ALICE


def _image(image_id: str, owner: str, hours: float, monthly: float) -> dict:
    return {
        "image_id": image_id,
        "owner": owner,
        "lab_name": "Hello Web",
        "provider": "ec2",
        "provider_image_id": "ami-1",
        "snapshot_ids": ["snap-1"],
        "available_at": "2026-11-01T00:00:00.000Z",
        "hours_kept": hours,
        "storage_monthly_cost_usd": monthly,
        "storage_usd": round(hours * monthly / 730, 4),
    }


def test_given_kept_images_when_costs_are_asked_then_their_storage_is_shown_and_in_the_owner_total(
    api: FakeAdsApi, capsys, monkeypatch
) -> None:
    image = _image("img-" + "a" * 32, ALICE, 730, 0.4)
    _serve_pages(
        api, monkeypatch, [[_line("lab-a", ALICE, 6, 4)], [_line("lab-b", BOB, 1, 0)]], [image]
    )

    code, out, err = run(capsys, "cost", "--endpoint", api.url)
    json_code, document_text, _ = run(capsys, "cost", "--json", "--endpoint", api.url)

    assert code == exit_codes.OK, err
    assert any(
        r.split()[:1] == [image["image_id"]] and r.split()[-2:] == ["0.40", "0.40"]
        for r in out.splitlines()
    )
    lab_total = _line("lab-a", ALICE, 6, 4)["total_usd"]
    assert f"{ALICE}: 1 image(s), storage 0.40 $, total with labs {lab_total + 0.4:.2f} $" in out
    assert json_code == exit_codes.OK
    document = json.loads(document_text)
    assert [i["image_id"] for i in document["images"]] == [image["image_id"]]
    alice = next(o for o in document["owners"] if o["owner"] == ALICE)
    assert (alice["images"], alice["image_storage_usd"]) == (1, 0.4)
    assert alice["total_usd"] == pytest.approx(lab_total + 0.4)
    bob = next(o for o in document["owners"] if o["owner"] == BOB)
    assert (bob["images"], bob["image_storage_usd"]) == (0, 0)


def test_given_no_costs_when_asked_then_it_says_so(api: FakeAdsApi, capsys, monkeypatch) -> None:
    _serve_pages(api, monkeypatch, [[]])

    code, out, _ = run(capsys, "cost", "--endpoint", api.url)

    assert code == exit_codes.OK
    assert "No lab has cost anything" in out


def test_given_a_quota_when_a_deploy_is_refused_then_exit_7_with_the_quota_and_no_retry(
    api: FakeAdsApi, capsys, tmp_path
) -> None:
    refusal = {
        "error": "quota_exceeded",
        "message": f"quota labs_per_owner exceeded for {ALICE}: 1 labs held at once in use, "
        "this lab asks 1 more, the limit is 1; destroy a lab (or ask an admin for a higher "
        "limit) and request again",
        "details": {
            "quota": "labs_per_owner",
            "owner": ALICE,
            "use": 1,
            "requested": 1,
            "limit": 1,
        },
    }
    api.canned[("POST", "/labs")] = (429, refusal)
    labspec = tmp_path / "labspec.json"
    labspec.write_text(
        (
            __import__("pathlib").Path(__file__).resolve().parents[3]
            / "events/labs/hello-web/scripts/labspec.json"
        ).read_text()
    )

    code, _, err = run(capsys, "deploy", str(labspec), "--course", "CS 101", "--endpoint", api.url)

    assert code == exit_codes.QUOTA == 7
    assert "quota labs_per_owner exceeded" in err and "the limit is 1" in err
    posts = [r for r in api.received if r.method == "POST"]
    assert len(posts) == 1
    assert posts[0].body["course"] == "CS 101"
