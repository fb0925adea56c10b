"""The local provider's Run Command events: "EC2 Command Invocation Status-change
Notification", as SSM publishes it to EventBridge when a command ends on EC2.

The local plane installs a listener (:func:`install`); every install command the local
provider starts is then watched by a thread, as SSM's agent watches the command it runs
on a VM, and the listener gets the same event SSM would send, with the lab it belongs
to. The thread looks every 0.1 s (the install command's process cannot be waited for: it
lives on in the lab's sandbox, whose agent keeps running after the install ends). Without a listener (a provider used outside the plane)
nothing is watched: the workflow's own poll still finds the command's end.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

DETAIL_TYPE = "EC2 Command Invocation Status-change Notification"
Listener = Callable[[str, dict[str, Any]], None]
# The command's terminal status ("Success", "Failed"), None while it runs.
Ended = Callable[[], str | None]
# How often a watcher looks, and for how long at most (the longest command budget).
WATCH_INTERVAL_S = 0.1
WATCH_LIMIT_S = 7 * 24 * 3600.0

_listener: Listener | None = None
_lock = threading.Lock()


def install(listener: Listener) -> Callable[[], None]:
    """Deliver the events to ``listener(lab_id, event)``; returns the undo action."""
    global _listener
    with _lock:
        previous, _listener = _listener, listener

    def undo() -> None:
        global _listener
        with _lock:
            _listener = previous

    return undo


def command_event(
    instance_id: str, command_id: str, status: str, region: str = "us-east-1"
) -> dict[str, Any]:
    """The event SSM publishes for one command invocation whose status changed."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.ssm",
        "account": "123456789012",
        "time": now[:19] + "Z",
        "region": region,
        "resources": [f"arn:aws:ec2:{region}:123456789012:instance/{instance_id}"],
        "detail": {
            "command-id": command_id,
            "document-name": "AWS-RunShellScript",
            "instance-id": instance_id,
            "requested-date-time": now,
            "status": status,
        },
    }


def watch(lab_id: str, instance_id: str, command_id: str, ended: Ended) -> None:
    """Publish the command's event once ``ended()`` names its terminal status (when a
    listener is installed). ``ended`` answers None while the command runs."""
    if _listener is None:
        return
    thread = threading.Thread(
        target=_publish_when_done,
        args=(lab_id, instance_id, command_id, ended),
        name=f"ads-command-{command_id}",
        daemon=True,
    )
    thread.start()


def _publish_when_done(lab_id: str, instance_id: str, command_id: str, ended: Ended) -> None:
    deadline = time.monotonic() + WATCH_LIMIT_S
    status = ended()
    while status is None and _listener is not None and time.monotonic() < deadline:
        time.sleep(WATCH_INTERVAL_S)
        status = ended()
    listener = _listener
    if status is not None and listener is not None:
        listener(lab_id, command_event(instance_id, command_id, status))
