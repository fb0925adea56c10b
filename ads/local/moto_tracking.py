"""moto without its instance tracking, so the local plane's memory returns after labs go.

moto's ``BaseModel.__new__`` appends every model object it makes to its class's
``instances_tracked`` list, for moto server's dashboard, and nothing removes them until
the emulation is reset. Every version of every DynamoDB item stays alive that way (moto
deep-copies an item on each UpdateItem: a lab record written 7 times kept 13 items, about
2,600 attribute values for the 213 it holds), and so does every execution, invocation and
event model: the plane grew by about 1.2 MiB per lab deployed and destroyed, for good.

The local plane has no dashboard. Its models are tracked no more, except S3's: moto's S3
reset disposes of the temporary files of the objects it tracks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ads.local.patching import patch

# moto's S3 backend walks its tracked keys and uploads on reset to close their files.
TRACKED_PREFIXES = ("moto.s3.",)


def _untracked_new(cls: type, *_args: Any, **_kwargs: Any) -> Any:
    # The arguments are __init__'s, as in moto's BaseModel.__new__.
    instance: Any = object.__new__(cls)
    if cls.__module__.startswith(TRACKED_PREFIXES):
        cls.instances_tracked.append(instance)  # type: ignore[attr-defined]
    return instance


def install() -> Callable[[], None]:
    """Stop tracking moto's model objects; returns the undo."""
    from moto.core.common_models import BaseModel
    from moto.core.model_instances import model_data

    undo = patch(BaseModel, "__new__", staticmethod(_untracked_new))
    # What was tracked before (a plane started earlier in this process) goes too.
    for models in model_data.values():
        for model in models.values():
            if not model.__module__.startswith(TRACKED_PREFIXES):
                model.instances_tracked = []  # type: ignore[attr-defined]
    return undo
