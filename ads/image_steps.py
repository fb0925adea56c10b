"""The deploy workflow's lab image steps: which image a deploy starts from (Create VM),
what a VM started from one runs (Initialise VM), and keeping one after READY.

Keeping an image never fails or delays the lab: it runs after Mark Ready ("Keep Lab
Image", then "Wait For Lab Image" while the provider makes it), and any failure goes
to "Lab Image Not Kept", which records why on the image item and ends the execution
successfully. A deploy whose key has an image still being made builds as usual.
"""

from __future__ import annotations

from typing import Any

from ads.cost_tags import COST_TAG_KEYS
from ads.lab_images import (
    LabImage,
    LabImages,
    base_image_of,
    canonical_json,
    image_id_of,
    image_key,
    kept_revision,
    lookup_revision,
    per_vm_plan,
    reuse_enabled,
)
from ads.lab_record import LabRecord, LabStatus, iso, utc_now
from ads.observability import logger
from ads.providers.base import ComputeProvider
from ads.providers.ec2_images import monthly_cost
from ads.providers.images import ImageFailed, ImagePending, image_hooks
from ads.records import LabRepository
from ads.step_records import vm_of
from ads.step_results import KeepImageResult

FAILURE_LIMIT = 2000


def source_image(
    images: LabImages, record: LabRecord, provider: ComputeProvider
) -> LabImage | None:
    """The available image this deploy starts from, or None (build as usual)."""
    if not reuse_enabled(record) or image_hooks(provider) is None:
        return None
    revision = lookup_revision(record)
    if revision is None:
        return None
    image = images.get(image_key(record, revision, provider.name))
    if image is None or image.image_state != "available" or not image.provider_image_id:
        return None
    return image


def launch_plan(record: LabRecord, image: LabImage | None) -> dict[str, Any]:
    """The plan Create VM hands the provider: with ``from_image`` when there is one."""
    if image is None:
        return record.plan
    return {
        **record.plan,
        "from_image": {"image_id": image.image_id, "provider_image_id": image.provider_image_id},
    }


def should_keep(record: LabRecord, provider: ComputeProvider, started_from: str | None) -> bool:
    """Whether the workflow should try to keep an image once the lab is READY."""
    return started_from is None and reuse_enabled(record) and image_hooks(provider) is not None


def init_plan(record: LabRecord) -> dict[str, Any]:
    """The plan the agent runs: only the per-VM steps on a VM started from an image."""
    if record.vm_details.get("from_image"):
        return per_vm_plan(record.plan)
    return record.plan


def keep_image(
    lab_id: str, repository: LabRepository, provider: ComputeProvider
) -> KeepImageResult:
    """Start an image of the READY lab's VM, unless its key has one (or one on the way)."""
    record = repository.require(lab_id)
    hooks = image_hooks(provider)
    if hooks is None:
        return KeepImageResult(state="skipped", reason=f"provider {provider.name} keeps no images")
    if record.status != LabStatus.READY:
        return KeepImageResult(state="skipped", reason=f"lab is {record.status.value}")
    revision = kept_revision(record)
    if revision is None:
        return KeepImageResult(
            state="skipped", reason="the lab's revision is not a commit (archive source)"
        )
    key = image_key(record, revision, provider.name)
    now = iso(utc_now())
    image = LabImage(
        image_id=image_id_of(key),
        image_key=key,
        image_state="creating",
        image_owner=record.owner,
        provider=provider.name,
        source_lab_id=lab_id,
        lab_name=record.lab_name,
        revision=revision,
        base_image=base_image_of(record.plan),
        cost_tags={
            k: v for k, v in (record.plan.get("cost_tags") or {}).items() if k in COST_TAG_KEYS
        },
        created_at=now,
        updated_at=now,
    )
    images = repository.images
    if not images.claim(image):
        current = images.get(key)
        if current is not None and current.source_lab_id == lab_id:
            image = current  # a retried step: carry on with the image it claimed
        else:
            return KeepImageResult(
                image_id=image.image_id, state="exists", reason="the key has an image already"
            )
    if image.provider_image_id and image.image_state in ("pending", "available"):
        # A retried step whose image is on its way, or made already: nothing to start.
        return KeepImageResult(image_id=image.image_id, state=image.image_state)
    tags = {**image.cost_tags, "ads:image-key": key}
    made = hooks.create_image(lab_id, vm_of(record), image.image_id, tags)
    fields: dict[str, Any] = {
        "image_state": made.state if made.state in ("pending", "available") else "failed",
        "provider_image_id": made.provider_image_id,
        "snapshot_ids": made.snapshot_ids,
        "size_bytes": made.size_bytes,
        "storage_monthly_cost_usd": _cost(provider.name, made.size_bytes),
    }
    if made.state == "available":
        fields["available_at"] = iso(utc_now())
    images.update(key, **fields)
    logger.info("lab image started", image_id=image.image_id, state=made.state)
    return KeepImageResult(image_id=image.image_id, state=fields["image_state"])


def check_image(
    lab_id: str, repository: LabRepository, provider: ComputeProvider, image_id: str
) -> KeepImageResult:
    """Raise ImagePending until the provider reports the image available (ImageFailed if
    it failed): the state machine's Retry is the wait, MaxAttempts its deadline."""
    images = repository.images
    image = images.get_by_id(image_id)
    hooks = image_hooks(provider)
    if image is None or not image.provider_image_id or hooks is None:
        raise ImageFailed(f"image {image_id} has no record to follow", image_id=image_id)
    state = hooks.image_state(image.provider_image_id)
    if state.state in ("pending", "absent"):
        raise ImagePending(
            f"image {image_id} ({image.provider_image_id}) of lab {lab_id} is {state.state}",
            image_id=image_id,
        )
    if state.state == "failed":
        raise ImageFailed(
            f"image {image.provider_image_id} failed: {state.reason or 'no reason given'}",
            image_id=image_id,
        )
    images.update(
        image.image_key,
        image_state="available",
        available_at=iso(utc_now()),
        snapshot_ids=state.snapshot_ids or image.snapshot_ids,
        size_bytes=state.size_bytes,
        storage_monthly_cost_usd=_cost(image.provider, state.size_bytes),
    )
    return KeepImageResult(image_id=image_id, state="available")


def image_not_kept(
    lab_id: str,
    repository: LabRepository,
    provider: ComputeProvider,
    image_id: str | None,
    error: dict[str, Any],
) -> KeepImageResult:
    """Record why the image was not kept, on its item; the lab stays READY."""
    cause = f"{error.get('Error') or 'Error'}: {_cause_text(error.get('Cause'))}"[:FAILURE_LIMIT]
    logger.warning("lab image not kept", image_id=image_id, cause=cause)
    images = repository.images
    image = images.get_by_id(image_id) if image_id else None
    if image is None:
        image = _claimed_by(images, repository.require(lab_id), provider, lab_id)
    if image is not None and image.source_lab_id == lab_id:
        images.update(image.image_key, image_state="failed", failure=cause)
        return KeepImageResult(image_id=image.image_id, state="failed", reason=cause)
    return KeepImageResult(image_id=image_id, state="failed", reason=cause)


def _claimed_by(
    images: LabImages, record: LabRecord, provider: ComputeProvider, lab_id: str
) -> LabImage | None:
    """The image this lab claimed, found from its key (Keep Lab Image failed before it
    could answer with the image's id)."""
    revision = kept_revision(record)
    if revision is None:
        return None
    image = images.get(image_key(record, revision, provider.name))
    return image if image is not None and image.source_lab_id == lab_id else None


def _cause_text(cause: Any) -> str:
    """A Lambda error's Cause is its JSON error document: its message is what matters."""
    import json

    if isinstance(cause, str):
        try:
            document = json.loads(cause)
        except ValueError:
            return cause
        if isinstance(document, dict) and document.get("errorMessage"):
            return str(document["errorMessage"])
        return cause
    return canonical_json(cause) if cause is not None else "no cause given"


def _cost(provider: str, size_bytes: int | None) -> float | None:
    return monthly_cost(size_bytes) if provider == "ec2" else None
