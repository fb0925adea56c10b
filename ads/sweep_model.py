"""What the sweep looks at and what it reports: the inventory a provider offers, the findings.

A provider's sweep inventory (:mod:`ads.providers.ec2_sweep`, :mod:`ads.providers.local_sweep`)
lists the VMs and per-lab resources ADS made and removes the ones it is told to; the
sweep (:mod:`ads.sweep`) decides which, from the lab records. Every finding names its
kind, the resource, the lab, why it was found and what was (or would be) done.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

FindingKind = Literal[
    "instance", "security-group", "target-group", "sandbox", "process", "record", "lease", "image"
]
# "planned": a report (nothing done); "done": applied; "error": applied and refused;
# "skipped": applied, and the lab had moved on meanwhile (its transition won).
Outcome = Literal["planned", "done", "error", "skipped"]


@dataclass(frozen=True)
class ManagedVm:
    """One VM tagged as ADS's: its id, the lab its tag names, when it was made."""

    kind: FindingKind
    vm_id: str
    lab_id: str | None
    launched_at: datetime | None
    state: str = ""


@dataclass(frozen=True)
class LabResource:
    """One per-lab resource besides the VM (a security group, a target group, a process)."""

    kind: FindingKind
    resource: str
    lab_id: str | None


class SweepInventory(Protocol):
    """What a provider lets the sweep see and remove."""

    def managed_vms(self) -> Iterable[ManagedVm]: ...

    def terminate(self, vms: list[ManagedVm]) -> Mapping[str, str | None]:
        """Remove ``vms``; by vm id, None when it is removed (or going), else the error."""
        ...

    def lab_resources(self, live_lab_ids: set[str]) -> Iterable[LabResource]:
        """The per-lab resources to look at (``live_lab_ids``: labs whose VMs are kept)."""
        ...

    def remove(self, resource: LabResource) -> None: ...


class SweepFinding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: FindingKind
    resource: str
    lab_id: str | None = None
    reason: str
    action: str = Field(description="what the sweep does about it: terminate, delete, fail...")
    outcome: Outcome = "planned"
    error: str | None = None


class SweepReport(BaseModel):
    """One sweep: what it found and, when applied, what it did."""

    model_config = ConfigDict(extra="forbid")

    applied: bool
    started_at: str
    findings: list[SweepFinding] = Field(default_factory=list)
    # Looked at and left alone: VMs of live labs, young VMs, running executions.
    kept: int = 0
    kept_young: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)

    def add(self, finding: SweepFinding) -> SweepFinding:
        self.findings.append(finding)
        return finding
