"""What every lab request needs: its dependencies and who is asking.

The logic gets the lab repository, a Step Functions client and the configuration in a
:class:`DeploymentContext`, never from event shapes or the environment. A lab exists for
its owner and for the admins; for anyone else it is absent (404), so lab ids reveal
nothing. A cohort's lab is also there for the member it is assigned to, for what a
member may do (read it, run its actions, power and renew it: ``assigned=True``); what
only its owner may do (destroy, redeploy) is refused to the member with a 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ads import identity
from ads.config import AdsConfig
from ads.errors import AdsError, LabNotFoundError
from ads.lab.lab_id import is_valid_lab_id
from ads.lab_record import LabRecord
from ads.lifecycle_events import LifecyclePublisher
from ads.records import LabRepository


class MissingIdentityError(AdsError):
    code = "missing_identity"
    http_status = 403

    def __init__(self) -> None:
        super().__init__(
            "the request carries no caller identity; call the API with IAM (SigV4) credentials"
        )


@dataclass(frozen=True)
class DeploymentContext:
    """What the deployment logic needs from the outside world."""

    repository: LabRepository
    stepfunctions: Any  # a boto3 Step Functions client
    config: AdsConfig
    # A boto3 EventBridge client for lifecycle events (a cohort's); built when needed.
    events: Any = None

    @property
    def publisher(self) -> LifecyclePublisher:
        """The lifecycle events' publisher (publishes nothing without a bus name)."""
        events = self.events
        if events is None and self.config.event_bus_name:
            import boto3

            events = boto3.client("events", region_name=self.config.region)
        return LifecyclePublisher(events, self.config.event_bus_name)

    @classmethod
    def from_config(cls, config: AdsConfig) -> DeploymentContext:
        """The real dependencies: the labs table and Step Functions in the configured region."""
        import boto3

        return cls(
            repository=LabRepository.from_name(config.table_name, config.region),
            stepfunctions=boto3.client("stepfunctions", region_name=config.region),
            config=config,
        )


def is_admin(caller: str, config: AdsConfig) -> bool:
    return any(identity.principal_matches(caller, p) for p in config.admin_principals)


def require_caller(caller: str) -> str:
    if not caller:
        raise MissingIdentityError()
    return caller


class OwnerOnlyError(AdsError):
    """A cohort member asked for what only the lab's owner (or an admin) may do."""

    code = "owner_only"
    http_status = 403

    def __init__(self, lab_id: str, owner: str) -> None:
        super().__init__(
            f"lab {lab_id!r} is assigned to you, and only its owner ({owner}) or an admin "
            "may do this; allowed to you: read it, run its actions, stop, start, restart "
            "and renew it",
            lab_id=lab_id,
        )


def is_assignee(caller: str, record: LabRecord) -> bool:
    """Whether ``caller`` is the member the lab is assigned to (or a session of that role)."""
    return bool(record.assignee) and identity.principal_matches(caller, str(record.assignee))


def readable_record(
    ctx: DeploymentContext, lab_id: str, caller: str, *, assigned: bool = False
) -> LabRecord:
    """The lab when ``caller`` may see it; otherwise it does not exist for them (404).

    The member a lab is assigned to sees it too: with ``assigned`` (what a member may do)
    they get the record, without it they get :class:`OwnerOnlyError` (403).
    """
    require_caller(caller)
    record = ctx.repository.get(lab_id) if is_valid_lab_id(lab_id) else None
    if record is None:
        raise LabNotFoundError(lab_id)
    if identity.principal_matches(caller, record.owner) or is_admin(caller, ctx.config):
        return record
    if is_assignee(caller, record):
        if assigned:
            return record
        raise OwnerOnlyError(lab_id, record.owner)
    raise LabNotFoundError(lab_id)
