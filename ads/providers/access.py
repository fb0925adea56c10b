"""What a provider offers so that students reach a lab's application (its lab access).

The workflow steps stay provider-neutral: a provider that implements
:class:`LabAccessHooks` is asked at Wait Until Running for the facts the access needs
(a public address, say), at Initialise VM (a lab of several VMs: Mark Ready) to open the
access and name the lab's URL, before READY and while the install runs, and
at Destroy VM, once the VM is gone, to remove what the access created.
A provider without them (``local``: the app already answers on 127.0.0.1) is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from ads.providers.base import VmInfo


@runtime_checkable
class LabAccessHooks(Protocol):
    def access_details(self, lab_id: str, vm: VmInfo, plan: Mapping[str, Any]) -> dict[str, Any]:
        """Facts to keep in the record's ``vm_details``; raises VmNotReady while missing."""
        ...

    def open_lab_access(self, lab_id: str, vm: VmInfo, plan: Mapping[str, Any]) -> str | None:
        """Make the lab reachable (idempotent); its application URL, or None (private)."""
        ...

    def close_lab_access(self, lab_id: str, plan: Mapping[str, Any]) -> None:
        """Remove what the access created (idempotent); called once the VM is gone."""
        ...


def access_hooks(provider: object) -> LabAccessHooks | None:
    return provider if isinstance(provider, LabAccessHooks) else None
