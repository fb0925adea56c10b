"""The sweep's part for lab images: ADS's images whose key no deploy used for N days.

An image costs its snapshots every month it is kept (:mod:`ads.image_costs`); one whose
labspec, revision and base image nobody deploys any more is storage for nothing. Its last
use is ``last_used_at`` (Create VM records it before it launches from the image), else
``available_at``, else ``created_at``. Past ``ADS_IMAGE_UNUSED_DAYS`` (default 30; 0
never) the sweep reports it and, applied, takes it for removal (``deleting``, only if no
deploy used it since it was read, so a deploy and the removal exclude each other), then
removes it through the same code as ``DELETE /images``: the provider deregisters the AMI
and deletes its snapshots (locally: the snapshot file), and the item is forgotten only
once that worked. An image EC2 is still making (``pending``) or one being made
(``creating``, unless stale) is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from ads.lab.accrual import parse_time
from ads.lab_images import LabImage, LabImages
from ads.sweep_model import SweepFinding

ACTION = "deregister the image and delete its snapshots"


class UnusedImages:
    """The images of ``images`` unused for ``unused_days``, removed through ``provider``."""

    def __init__(
        self, images: LabImages, provider: Any, provider_name: str, *, unused_days: int
    ) -> None:
        self._images = images
        self._provider = provider
        self._provider_name = provider_name
        self._unused_days = unused_days

    def findings(self, now: datetime) -> Iterator[tuple[LabImage, SweepFinding]]:
        if self._unused_days <= 0:
            return
        cutoff = now - timedelta(days=self._unused_days)
        for image in self._images.list():
            if image.image_state == "pending":
                continue
            if image.image_state == "creating" and not self._images.stale(image):
                continue
            last = image.last_used_at or image.available_at or image.created_at
            if parse_time(last) > cutoff:
                continue
            what = "last used" if image.last_used_at else "made"
            yield (
                image,
                SweepFinding(
                    kind="image",
                    resource=image.provider_image_id or image.image_id,
                    lab_id=image.source_lab_id,
                    reason=f"image {image.image_id} was {what} at {last}: no deploy started "
                    f"from it for {self._unused_days} days (ADS_IMAGE_UNUSED_DAYS)",
                    action=ACTION,
                ),
            )

    def remove(self, image: LabImage) -> str | None:
        """None when removed, ``skipped`` when a deploy used it meanwhile, else the error."""
        from ads.image_requests import delete_with_storage

        if image.image_state != "deleting" and not self._images.take_for_removal(image):
            return "skipped"
        try:
            delete_with_storage(self._images, image, self._provider, self._provider_name)
        except Exception as exc:  # reported; the image stays "deleting" and the next sweep retries
            return f"{type(exc).__name__}: {exc}"
        return None
