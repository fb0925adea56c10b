"""`ads deploy --reuse-image`, `ads images` and `ads images rm` against the fake API: the
request asks for the image, the list shows each image and the storage cost, a removal
prints what went, an unknown image exits 3 and one still being made 4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ads.cli import exit_codes
from ads.cli.main import main
from ads.image_requests import ImageList
from tests.integration.cli.fake_api import FakeAdsApi

IMAGE_ID = "img-0123456789abcdef0123456789abcdef"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _images() -> dict:
    return ImageList.model_validate(
        {
            "images": [
                {
                    "image_id": IMAGE_ID,
                    "image_state": "available",
                    "image_owner": "arn:aws:iam::1:user/a",
                    "provider": "ec2",
                    "source_lab_id": "slow-01",
                    "lab_name": "Slow Build",
                    "revision": "0123456789abcdef0123456789abcdef01234567",
                    "base_image": "/aws/service/canonical/ubuntu#x86_64",
                    "provider_image_id": "ami-1",
                    "snapshot_ids": ["snap-1"],
                    "storage_monthly_cost_usd": 0.4,
                    "created_at": "2026-01-01T10:00:00.000Z",
                    "used_by": ["slow-02", "slow-03"],
                },
                {
                    "image_id": "img-ffffffffffffffffffffffffffffffff",
                    "image_state": "failed",
                    "image_owner": "arn:aws:iam::1:user/a",
                    "provider": "ec2",
                    "source_lab_id": "slow-04",
                    "revision": "none",
                    "base_image": "/aws/service/canonical/ubuntu#x86_64",
                    "created_at": "2026-01-01T09:00:00.000Z",
                    "failure": "ImageFailed: image ami-2 failed: out of capacity",
                },
            ],
            "storage_monthly_cost_usd": 0.4,
        }
    ).model_dump(mode="json")


@pytest.mark.parametrize(("flag", "asked"), [(("--reuse-image",), True), ((), None)])
def test_given_reuse_image_or_not_when_deployed_then_the_request_says_so(
    api: FakeAdsApi,
    labspec_path: Path,
    capsys: pytest.CaptureFixture[str],
    flag: tuple[str, ...],
    asked: bool | None,
) -> None:
    code, _, err = _run(capsys, "deploy", str(labspec_path), "--endpoint", api.url, *flag)

    assert code == exit_codes.OK, err
    assert api.received[-1].body.get("reuse_image") is asked


def test_given_images_when_listed_then_each_shows_with_its_state_and_the_failures_and_cost(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.canned[("GET", "/images")] = (200, _images())

    code, out, _ = _run(capsys, "images", "--endpoint", api.url)

    assert code == exit_codes.OK
    row = next(line for line in out.splitlines() if line.startswith(IMAGE_ID))
    assert "available" in row and "slow-01" in row and "0123456789ab" in row and "$0.40" in row
    assert "img-ffffffffffffffffffffffffffffffff: ImageFailed: image ami-2 failed" in out
    assert out.rstrip().endswith("storage: $0.40 a month")
    code, out, _ = _run(capsys, "images", "--endpoint", api.url, "--json")
    assert json.loads(out) == _images()


def test_given_an_image_when_removed_then_what_went_is_printed(
    api: FakeAdsApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.canned[("DELETE", f"/images/{IMAGE_ID}")] = (
        200,
        {"image_id": IMAGE_ID, "removed": True, "provider_image_id": "ami-1",
         "snapshot_ids": ["snap-1", "snap-2"]},
    )  # fmt: skip

    code, out, _ = _run(capsys, "images", "rm", IMAGE_ID, "--endpoint", api.url)

    assert code == exit_codes.OK
    assert out.strip() == f"removed {IMAGE_ID} (ami-1; snapshots: snap-1, snap-2)"


@pytest.mark.parametrize(
    ("status", "error", "exit_code"),
    [(404, "image_not_found", exit_codes.NOT_FOUND), (409, "image_busy", exit_codes.CONFLICT)],
)
def test_given_an_image_that_cannot_be_removed_when_removed_then_the_exit_code_says_why(
    api: FakeAdsApi,
    capsys: pytest.CaptureFixture[str],
    status: int,
    error: str,
    exit_code: int,
) -> None:
    message = f"image {IMAGE_ID!r}: {error}"
    api.canned[("DELETE", f"/images/{IMAGE_ID}")] = (status, {"error": error, "message": message})

    code, _, err = _run(capsys, "images", "rm", IMAGE_ID, "--endpoint", api.url)

    assert code == exit_code
    assert error in err
