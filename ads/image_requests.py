"""``GET /images`` and ``DELETE /images/{image_id}``: a caller's lab images (an admin's:
all of them), and removing one with its storage (its owner or an admin).

Removing asks the provider to delete the image first (EC2: DeregisterImage, then
DeleteSnapshot of every snapshot it named; locally: the snapshot file) and forgets the
item only once that worked, so a failed removal can be asked again. An image EC2 is still
making cannot be removed yet (409).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ads import identity
from ads.deployment_context import DeploymentContext, is_admin, require_caller
from ads.errors import AdsError
from ads.lab_images import IMAGE_ID_PREFIX, KEY_HEX, ImageView, LabImage, LabImages, key_of
from ads.providers.images import ImageBusy, image_hooks

IMAGE_ID_PATTERN = rf"^{IMAGE_ID_PREFIX}[0-9a-f]{{{KEY_HEX}}}$"


class ImageNotFoundError(AdsError):
    code = "image_not_found"
    http_status = 404

    def __init__(self, image_id: str) -> None:
        super().__init__(
            f"image {image_id!r} not found; allowed: an id listed by GET /images "
            f"({IMAGE_ID_PREFIX} and {KEY_HEX} hexadecimal digits)",
            image_id=image_id,
        )


class ImageRemovalFailed(AdsError):
    code = "image_removal_failed"
    http_status = 502


class ImageList(BaseModel):
    images: list[ImageView]
    # What the listed images' storage costs a month (EC2 snapshots; local: none).
    storage_monthly_cost_usd: float


class ImageRemoved(BaseModel):
    image_id: str
    removed: bool
    provider_image_id: str | None = None
    snapshot_ids: list[str] = Field(default_factory=list)


def list_images(ctx: DeploymentContext, *, caller: str) -> dict[str, Any]:
    require_caller(caller)
    everyone = is_admin(caller, ctx.config)
    images = [
        image
        for image in ctx.repository.images.list()
        if everyone or identity.principal_matches(caller, image.image_owner)
    ]
    total = sum(image.storage_monthly_cost_usd or 0.0 for image in images)
    return ImageList(
        images=[ImageView.model_validate(image.public_view()) for image in images],
        storage_monthly_cost_usd=round(total, 4),
    ).model_dump(mode="json")


def remove_image(
    ctx: DeploymentContext, image_id: str, *, caller: str, provider: Any = None
) -> dict[str, Any]:
    require_caller(caller)
    image = _visible(ctx, image_id, caller)
    if image.image_state == "creating" and not ctx.repository.images.stale(image):
        raise ImageBusy(
            f"image {image_id} is being made by lab {image.source_lab_id}; remove it once "
            "GET /images shows it available or failed",
            image_id=image_id,
        )
    if image.provider_image_id and provider is None:
        from ads.providers import get_provider

        provider = get_provider(ctx.config)
    delete_with_storage(ctx.repository.images, image, provider, ctx.config.provider)
    return ImageRemoved(
        image_id=image_id,
        removed=True,
        provider_image_id=image.provider_image_id,
        snapshot_ids=image.snapshot_ids,
    ).model_dump(mode="json")


def delete_with_storage(
    images: LabImages, image: LabImage, provider: Any, provider_name: str
) -> None:
    """Ask the provider to remove ``image`` with its storage, then mark its item removed
    (only once that worked: a failed removal can be asked again; the item stays until its
    TTL so the cost report keeps what the image cost). Used by DELETE /images and
    by the sweep of unused images."""
    if image.provider_image_id:
        hooks = image_hooks(provider)
        if hooks is None:
            raise ImageRemovalFailed(
                f"provider {provider_name} cannot remove images of provider {image.provider}"
            )
        try:
            hooks.delete_image(image.provider_image_id, image.snapshot_ids)
        except AdsError:
            raise
        except Exception as exc:
            raise ImageRemovalFailed(
                f"removing {image.provider_image_id} failed: {exc}; nothing was forgotten, "
                "ask again",
                image_id=image.image_id,
            ) from exc
    images.forget(image.image_key)


def _visible(ctx: DeploymentContext, image_id: str, caller: str) -> LabImage:
    """The image when ``caller`` owns it or is an admin; otherwise it does not exist (404)."""
    image = ctx.repository.images.get_by_id(image_id) if key_of(image_id) else None
    if image is None:
        raise ImageNotFoundError(image_id)
    if identity.principal_matches(caller, image.image_owner) or is_admin(caller, ctx.config):
        return image
    raise ImageNotFoundError(image_id)
