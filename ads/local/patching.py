"""Patches of a library's classes and modules at run time (moto, botocore, Powertools),
each with the action that undoes it, so a plane that stops leaves the process as it was.

No type of those libraries describes such a patch; this is the one place that sets one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

Undo = Callable[[], None]
_MISSING = object()


def patch(owner: Any, name: str, replacement: Any) -> Undo:
    """Set ``owner.name`` to ``replacement``; returns the undo. What goes back is what the
    owner itself held (a staticmethod stays one); an attribute it only inherited is
    removed again, so the inherited one shows through."""
    original = vars(owner).get(name, _MISSING)
    setattr(owner, name, replacement)

    def undo() -> None:
        if original is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, original)

    return undo


def undo_all(actions: Iterable[Undo]) -> Undo:
    """One undo for several: the last patch is undone first."""
    ordered = list(actions)

    def undo() -> None:
        for action in reversed(ordered):
            action()

    return undo
