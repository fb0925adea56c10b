"""A lab's revisions as its record keeps them: the update under way (``update_in_progress``)
and the history of what was deployed (``revisions``, newest last).

Each entry of the history is one deploy or update: the ref asked for, the commit it
resolved to, who asked, when, and its outcome: ``deployed`` (the first deploy),
``updated``, ``rolled_back`` (the update failed, the previous revision serves again),
``restore_failed`` (the lab was lost), ``interrupted`` (the control plane stopped during
it). The record keeps the last :data:`REVISIONS_KEPT` (a DynamoDB item holds 400 KB).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

REVISIONS_KEPT = 30
CAUSE_LIMIT = 2000
Outcome = Literal["deployed", "updated", "rolled_back", "restore_failed", "interrupted", "failed"]


class RunningUpdate(BaseModel):
    """What the RedeployLab steps share while the lab is UPDATING."""

    model_config = ConfigDict(extra="ignore")

    ref: str | None = None
    requested_by: str
    started_at: str
    # The plan of a new labspec (None: the lab keeps its plan) and that labspec.
    plan: dict[str, Any] | None = None
    labspec: dict[str, Any] | None = None
    previous_revision: str | None = None
    execution_id: str | None = None
    command_id: str | None = None


class RevisionEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ref: str | None = None
    sha: str | None = None
    requested_by: str
    at: str
    outcome: Outcome
    cause: str | None = None
    execution_id: str | None = None


def with_revision(history: list[dict[str, Any]], entry: RevisionEntry) -> list[dict[str, Any]]:
    """``history`` with ``entry`` appended, the oldest dropped beyond :data:`REVISIONS_KEPT`."""
    document = entry.model_dump(mode="json")
    if document["cause"]:
        document["cause"] = document["cause"][:CAUSE_LIMIT]
    return [*history, document][-REVISIONS_KEPT:]


def first_deploy(
    history: list[dict[str, Any]], *, ref: str | None, sha: str | None, requested_by: str, at: str
) -> list[dict[str, Any]]:
    """``history`` starting with the first deploy when it does not yet (records written
    before revisions were kept, or a deploy whose revision was not reported)."""
    if any(entry.get("outcome") == "deployed" for entry in history) or not sha:
        return history
    entry = RevisionEntry(ref=ref, sha=sha, requested_by=requested_by, at=at, outcome="deployed")
    return [entry.model_dump(mode="json"), *history][-REVISIONS_KEPT:]
