"""What a provider offers to keep a lab's initialised VM as an image and start from it.

The workflow stays provider-neutral: a provider that implements :class:`LabImageHooks`
is asked after Mark Ready to make an image of the READY lab's VM (``create_image``:
EC2 CreateImage, or a snapshot of the local sandbox), then how it is doing
(``image_state``: EC2 makes an AMI asynchronously), and, when an image is removed, to
delete it with its storage (``delete_image``). Starting from an image is Create VM's
business: the plan it passes carries ``from_image`` (see :mod:`ads.image_steps`).
A provider without the hooks keeps no images; a lab asking for one deploys as usual.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ads.errors import AdsError
from ads.providers.base import StepError, VmInfo

ProviderImageState = Literal["pending", "available", "failed", "absent"]


class ImagePending(StepError):
    """The provider is still making the image. Retried by the state machine."""


class ImageFailed(StepError):
    """The provider could not make the image (the lab stays READY)."""


class ImageBusy(AdsError):
    """The image cannot be removed yet: the provider is still making it."""

    code = "image_busy"
    http_status = 409


class ImageState(BaseModel):
    """An image as the provider reports it."""

    model_config = ConfigDict(extra="ignore")

    provider_image_id: str
    state: ProviderImageState
    snapshot_ids: list[str] = Field(default_factory=list)
    size_bytes: int | None = None
    reason: str = ""


@runtime_checkable
class LabImageHooks(Protocol):
    def create_image(
        self, lab_id: str, vm: VmInfo, image_id: str, tags: dict[str, str]
    ) -> ImageState:
        """Start making an image of ``vm`` named by ``image_id`` (idempotent on it)."""
        ...

    def image_state(self, provider_image_id: str) -> ImageState: ...

    def delete_image(self, provider_image_id: str, snapshot_ids: list[str]) -> None:
        """Remove the image and its storage; gone already is fine; ImageBusy while pending."""
        ...


def image_hooks(provider: object) -> LabImageHooks | None:
    return provider if isinstance(provider, LabImageHooks) else None
