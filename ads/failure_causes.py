"""The text a person reads when a lab failed: its cause as the record and the Fail state keep it.

Step Functions hands a caught error over as ``{Error, Cause}``, where a Lambda's Cause is
its raw JSON error document; the record keeps the message inside it instead.
"""

from __future__ import annotations

import json
from typing import Any

from ads.providers.base import InitStatus

# Step Functions refuses a Fail state Cause longer than this.
FAIL_CAUSE_LIMIT = 32768


def describe_init_failure(status: InitStatus) -> str:
    parts = [
        "install script "
        + (f"exited with status {status.exit_code}" if status.exit_code is not None else "failed")
    ]
    if status.failing_command:
        parts.append(f"failing command: {status.failing_command}")
    if status.detail and status.detail not in parts[0]:
        parts.append(status.detail)
    message = "; ".join(parts)
    if status.output_tail:
        message += f"\noutput tail:\n{status.output_tail}"
    return message


def _lambda_error_at(text: str, index: int) -> tuple[dict[str, Any] | None, int]:
    """The Lambda error document starting at ``index`` and where it ends, if there is one."""
    try:
        parsed, end = json.JSONDecoder().raw_decode(text, index)
    except ValueError:
        return None, index
    if isinstance(parsed, dict) and parsed.get("errorMessage") is not None:
        return parsed, end
    return None, index


def _plain_messages(text: str) -> str:
    """``text`` with every embedded Lambda error document replaced by its message (the
    workflow appends a failed destroy's raw error after the step's own)."""
    parts: list[str] = []
    position = 0
    index = text.find("{")
    while index != -1:
        parsed, end = _lambda_error_at(text, index)
        if parsed is None:
            index = text.find("{", index + 1)
            continue
        parts.append(text[position:index] + str(parsed["errorMessage"]))
        position = end
        index = text.find("{", end)
    parts.append(text[position:])
    return "".join(parts)


def failure_cause(failed_step: str, error: dict[str, Any] | None) -> str:
    """ "<failed_step> failed: <error type>: <cause>" from a Step Functions error object."""
    error = error or {}
    error_type = str(error.get("Error") or "Error")
    raw = error.get("Cause")
    cause = "" if raw is None else str(raw)
    # A Lambda's error arrives as a JSON document; its message is what a person reads.
    parsed, _ = _lambda_error_at(cause, 0) if cause.startswith("{") else (None, 0)
    if parsed is not None:
        error_type = str(parsed.get("errorType") or error_type)
    cause = _plain_messages(cause)
    return f"{failed_step} failed: {error_type}: {cause or 'no cause given'}"
