"""What the local plane counts while it runs: Lambda invocations and AWS API calls, per lab.

The benchmark prices a deployment from these counts (and the state transitions it reads
from the execution history).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Invocation:
    function: str
    lab_id: str
    duration_ms: float
    error_type: str | None
    cold: bool


@dataclass
class LabUsage:
    """What one lab's workflow runs cost in Lambda invocations and AWS API calls."""

    lab_id: str
    invocations: list[Invocation] = field(default_factory=list)
    api_calls: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def invocations_by_function(self) -> Counter[str]:
        return Counter(i.function for i in self.invocations)

    @property
    def lambda_ms(self) -> float:
        return sum(i.duration_ms for i in self.invocations)


@dataclass(frozen=True)
class TransitionCount:
    """State transitions of one execution, as Step Functions Standard bills them:
    every state entered, and every retry of a task."""

    states_entered: int
    retries: int

    @property
    def billed(self) -> int:
        return self.states_entered + self.retries


class UsageLedger:
    """Invocations and API calls, attributed to the lab the invocation worked for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._labs: dict[str, LabUsage] = {}

    def _lab(self, lab_id: str) -> LabUsage:
        if lab_id not in self._labs:
            self._labs[lab_id] = LabUsage(lab_id)
        return self._labs[lab_id]

    def add_invocation(self, invocation: Invocation) -> None:
        with self._lock:
            self._lab(invocation.lab_id).invocations.append(invocation)

    def add_api_call(self, lab_id: str, service: str, operation: str) -> None:
        with self._lock:
            self._lab(lab_id).api_calls[(service, operation)] += 1

    def for_lab(self, lab_id: str) -> LabUsage:
        with self._lock:
            usage = self._labs.get(lab_id) or LabUsage(lab_id)
            return LabUsage(lab_id, list(usage.invocations), Counter(usage.api_calls))

    def all_labs(self) -> list[str]:
        with self._lock:
            return list(self._labs)


class InvocationScope(threading.local):
    """The handler invocation running on this thread (API calls are attributed to it).

    ``internal`` marks calls the plane makes for its own bookkeeping (reading back a
    record to persist it): they are neither counted nor persisted again.
    """

    def __init__(self) -> None:
        self.lab_id: str | None = None
        self.ledger: UsageLedger | None = None
        self.internal = False


scope = InvocationScope()
