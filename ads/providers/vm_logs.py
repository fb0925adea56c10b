"""Reading a lab's logs from its VM: what the agent's ``logs`` command answers.

Both providers run the same agent command on the VM (``python3 -m ads_agent logs``,
:mod:`ads_agent.run_logs`): the ``local`` provider in the lab's sandbox as the lab's
uid, the ``ec2`` provider through SSM Run Command. The agent bounds its answer (16,000
bytes of output by default) below the 24,000 characters of standard output
GetCommandInvocation returns, so one command's output is always one whole document;
longer output is paged by byte offset.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from ads.providers.base import StepError

DEFAULT_MAX_BYTES = 16_000
# What the agent may answer per call and still fit SSM's 24,000 characters of output.
MAX_MAX_BYTES = 20_000
UNKNOWN_RUN_EXIT = 3


class LogsRequest(BaseModel):
    step: str | None = None
    action: str | None = None
    offset: int = Field(default=0, ge=0)
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1, le=MAX_MAX_BYTES)

    def agent_arguments(self) -> list[str]:
        arguments = ["logs", "--offset", str(self.offset), "--max-bytes", str(self.max_bytes)]
        if self.action is not None:
            arguments += ["--action", self.action]
        elif self.step is not None:
            arguments += ["--step", self.step]
        return arguments


class LogsNotReady(StepError):
    """The VM has not answered the logs command yet (SSM still delivering it)."""


class LogsUnreadable(StepError):
    """The VM answered, but not with the agent's logs document; the message says why."""


class UnknownLogs(Exception):
    """No run of that step or action is kept on the VM; ``known`` names those that are."""

    def __init__(self, message: str, known: list[str]) -> None:
        super().__init__(message)
        self.known = known


def parse_agent_answer(exit_code: int | None, stdout: str, where: str) -> dict[str, Any]:
    """The agent's logs document from its exit code and standard output."""
    text = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    try:
        document = json.loads(text) if text else None
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise LogsUnreadable(
            f"{where}: the agent's logs command answered exit {exit_code} without its "
            f"document: {stdout.strip()[-300:] or 'no output'}"
        )
    if exit_code == UNKNOWN_RUN_EXIT:
        raise UnknownLogs(str(document.get("error")), [str(k) for k in document.get("known", [])])
    if exit_code != 0:
        raise LogsUnreadable(f"{where}: the agent's logs command exited {exit_code}")
    return document
