"""`ads renew LAB DURATION` against the fake API: POST /labs/{id}/lease with the duration,
the new expiry printed; a lease beyond the maximum exits 2 naming it; a destroyed lab 4."""

from __future__ import annotations

import json

import pytest

from ads.api_models import LeaseRenewed
from ads.cli import exit_codes
from ads.cli.main import main
from tests.integration.cli.fake_api import FakeAdsApi


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_given_a_lab_when_renewed_then_its_new_expiry_is_printed(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")
    renewed = LeaseRenewed.model_validate(
        {
            "lab_id": lab["lab_id"],
            "status": "READY",
            "lease": {"requested": "4h", "expires_at": "2026-01-01T14:00:00.000Z"},
        }
    ).model_dump(mode="json")
    api.canned[("POST", f"/labs/{lab['lab_id']}/lease")] = (200, renewed)

    code, out, _ = _run(capsys, "renew", lab["lab_id"], "4h", "--endpoint", api.url)

    assert code == exit_codes.OK
    assert "now expires 2026-01-01 14:00:00" in out
    code, out, _ = _run(capsys, "renew", lab["lab_id"], "4h", "--endpoint", api.url, "--json")
    assert json.loads(out) == renewed


def test_given_a_lease_beyond_the_maximum_when_renewed_then_exit_2_naming_it(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("READY")
    api.canned[("POST", f"/labs/{lab['lab_id']}/lease")] = (
        403,
        {
            "error": "lease_refused",
            "message": "duration: found '9d', beyond the maximum lease of 7d; allowed: a "
            "duration up to 7d",
        },
    )

    code, _, err = _run(capsys, "renew", lab["lab_id"], "9d", "--endpoint", api.url)

    assert code == exit_codes.INVALID_INPUT
    assert "maximum lease of 7d" in err


def test_given_a_destroyed_lab_when_renewed_then_exit_4(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = api.add_lab("DESTROYED")
    api.canned[("POST", f"/labs/{lab['lab_id']}/lease")] = (
        409,
        {"error": "illegal_state_change", "message": f"lab {lab['lab_id']!r} is DESTROYED"},
    )

    code, _, err = _run(capsys, "renew", lab["lab_id"], "1h", "--endpoint", api.url)

    assert code == exit_codes.CONFLICT
    assert "DESTROYED" in err


def test_given_a_lease_and_working_hours_when_deploying_then_the_request_carries_them(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(
        capsys,
        "deploy",
        "events/labs/hello-web",
        "--lease",
        "2m",
        "--schedule",
        "Mon-Fri 08:00-20:00 Asia/Kolkata",
        "--endpoint",
        api.url,
    )

    assert code == exit_codes.OK, err
    (post,) = [r for r in api.received if r.method == "POST" and r.path == "/labs"]
    assert post.body["lease"] == "2m"
    assert post.body["schedule"] == "Mon-Fri 08:00-20:00 Asia/Kolkata"
