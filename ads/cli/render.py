"""Human output of the lab commands: tables, the lab record, its history, wait progress.

Everything here takes the API's JSON answers as plain dicts and tolerates missing
fields, so an older or newer API never makes the CLI crash while printing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO

from ads.cli.cluster_render import record_vm_lines
from ads.cli.plan_render import plan_lines

EMPTY = "-"


def text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return EMPTY
    return str(value)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return EMPTY
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_time(value: Any) -> str:
    """ISO timestamps as `YYYY-MM-DD HH:MM:SS` (UTC), anything else unchanged."""
    if not value:
        return EMPTY
    raw = str(value)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return raw
    return parsed.strftime("%Y-%m-%d %H:%M:%S")


def _one_line(value: str) -> str:
    # A row is one line; a multi-line cell (a failure cause) is shown in full elsewhere.
    lines = value.splitlines()
    return lines[0] + " ..." if len(lines) > 1 else value


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[_one_line(text(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    lines += ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines)


def _fields(pairs: Iterable[tuple[str, Any]]) -> list[str]:
    pairs = [(k, v) for k, v in pairs if v not in (None, "", [], {})]
    width = max((len(k) for k, _ in pairs), default=0)
    return [f"{(k + ':').ljust(width + 1)} {v}" for k, v in pairs]


# --- the deployment plan (its summary: ads.cli.plan_render) -----------------------------


def warning_lines(warnings: Any) -> list[str]:
    return [f"warning: {w}" for w in warnings or []]


# --- answers of the routes ---------------------------------------------------------------


def render_deploy_answer(answer: dict[str, Any], *, waiting: bool = False) -> str:
    lab_id = answer.get("lab_id")
    head = f"Lab {lab_id} is {text(answer.get('status'))}"
    if answer.get("idempotent_replay"):
        head += " (a request with this idempotency key was made before: this is that lab)"
    lines = [head]
    lines += plan_lines(answer.get("plan"))
    lines += warning_lines(answer.get("warnings") or (answer.get("plan") or {}).get("warnings"))
    lines += _fields([("Execution", answer.get("console_url") or answer.get("execution_arn"))])
    if not waiting:
        lines.append(f"Follow it with: ads show {lab_id}   (or deploy with --wait)")
    return "\n".join(lines)


def render_destroy_answer(answer: dict[str, Any]) -> str:
    lines = [f"Lab {answer.get('lab_id')} is {text(answer.get('status'))}"]
    lines += _fields([("Execution", answer.get("console_url") or answer.get("execution_arn"))])
    return "\n".join(lines)


# A lab in these statuses has no VM (or is losing it): its old address serves nothing.
_VM_GONE = ("FAILED", "DESTROYING", "DESTROYED")


def expiry(lease: Any) -> str:
    """When a lab's lease ends: a time (UTC), "never", or "-" when it has none."""
    if not isinstance(lease, dict) or not lease:
        return EMPTY
    if not lease.get("expires_at"):
        return "never"
    return format_time(lease["expires_at"])


def render_lab_list(labs: list[dict[str, Any]], next_token: str | None) -> str:
    if not labs:
        out = "No labs."
    else:
        # The lab's own page says more to a person than the agent's endpoint, when known.
        out = table(
            ["LAB ID", "NAME", "STATUS", "CREATED", "EXPIRES", "URL"],
            [
                (
                    lab.get("lab_id"),
                    lab.get("lab_name"),
                    lab.get("status"),
                    format_time(lab.get("created_at")),
                    None if lab.get("status") in _VM_GONE else expiry(lab.get("lease")),
                    None
                    if lab.get("status") in _VM_GONE
                    else lab.get("app_url") or lab.get("endpoint"),
                )
                for lab in labs
            ],
        )
    if next_token:
        out += f"\nMore labs: ads list --all-pages (or --next-token {next_token})"
    return out


def render_record(record: dict[str, Any]) -> str:
    vm = record.get("vm_id")
    if vm and record.get("provider"):
        vm = f"{vm} ({record['provider']})"
    agent = None
    if record.get("private_ip"):
        agent = f"{record['private_ip']}:{text(record.get('agent_port'))}"
    source = record.get("source")
    if isinstance(source, dict):
        if source.get("git"):
            source = source["git"] + (f" @ {source['ref']}" if source.get("ref") else "")
        elif source.get("s3"):
            source = source["s3"]
        else:
            source = None
    options = record.get("options")
    if isinstance(options, dict):
        options = ", ".join(f"{k}={v}" for k, v in options.items() if v not in (None, "")) or None
    lines = _fields(
        [
            ("Lab", record.get("lab_id")),
            ("Name", record.get("lab_name")),
            ("Status", record.get("status")),
            ("Owner", record.get("owner")),
            ("Created", format_time(record.get("created_at"))),
            ("Updated", format_time(record.get("updated_at"))),
            ("Requested by", record.get("requested_by")),
            ("Endpoint", record.get("endpoint")),
            ("App URL", record.get("app_url")),
            ("VM", vm),
            ("Agent", agent),
            ("Source", source),
            ("Options", options),
            ("Expires", expiry(record.get("lease"))),
            ("Working hours", (record.get("working_hours") or {}).get("spec")),
            ("Failed step", record.get("failed_step")),
            ("Cause", record.get("cause")),
            ("Execution", record.get("console_url") or record.get("execution_arn")),
            ("Destroy", record.get("destroy_console_url") or record.get("destroy_execution_arn")),
        ]
    )
    vms = record_vm_lines(record.get("vms"))
    if vms:
        lines += ["", "VMs:"] + [f"  {line}" for line in vms]
    plan = plan_lines(record.get("plan"), str(record.get("status") or ""))
    if plan:
        lines += ["", "Plan:"] + [f"  {line}" for line in plan]
        lines += [f"  {w}" for w in warning_lines((record.get("plan") or {}).get("warnings"))]
    history = record.get("status_history") or []
    if history:
        lines += ["", "Status history:"] + [f"  {line}" for line in status_history_lines(history)]
    return "\n".join(lines)


def status_history_lines(history: list[dict[str, Any]]) -> list[str]:
    return table(
        ["AT", "STATUS", "NOTE"],
        [(format_time(h.get("at")), h.get("status"), h.get("note")) for h in history],
    ).splitlines()


def error_text(error: Any) -> str | None:
    """A state's or execution's error: the API sends ``{error, cause}``; older ones a string."""
    if isinstance(error, dict):
        name, cause = error.get("error"), " ".join(str(error.get("cause") or "").split())
        if cause and len(cause) > 80:
            cause = cause[:77] + "..."
        return ": ".join(part for part in (name, cause) if part) or None
    return str(error) if error else None


def _state_duration(state: dict[str, Any]) -> str:
    if state.get("duration_ms") is not None:
        return format_duration(state["duration_ms"] / 1000)
    return "running" if state.get("entered") and not state.get("exited") else EMPTY


def _execution_duration(execution: dict[str, Any]) -> str:
    try:
        start = datetime.fromisoformat(str(execution["started"]).replace("Z", "+00:00"))
        stop = datetime.fromisoformat(str(execution["stopped"]).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return EMPTY
    return format_duration((stop - start).total_seconds())


def render_history(history: dict[str, Any]) -> str:
    lines = [f"Lab {history.get('lab_id')}", "", "Status history:"]
    lines += [f"  {line}" for line in status_history_lines(history.get("status_history") or [])]
    for execution in history.get("executions") or []:
        lines += [
            "",
            f"{str(execution.get('kind') or 'execution').capitalize()} execution: "
            f"{text(execution.get('status'))}, started {format_time(execution.get('started'))}, "
            f"took {_execution_duration(execution)}",
        ]
        if execution.get("console_url") or execution.get("execution_arn"):
            lines.append(f"  {execution.get('console_url') or execution.get('execution_arn')}")
        if error_text(execution.get("error")):
            lines.append(f"  error: {error_text(execution.get('error'))}")
        states = execution.get("states") or []
        if states:
            rows = [
                (
                    s.get("name"),
                    s.get("status"),
                    format_time(s.get("entered")),
                    _state_duration(s),
                    s.get("attempts"),
                    error_text(s.get("error")),
                )
                for s in states
            ]
            lines += [
                f"  {line}"
                for line in table(
                    ["STATE", "STATUS", "STARTED", "DURATION", "ATTEMPTS", "ERROR"], rows
                ).splitlines()
            ]
    return "\n".join(lines)


# --- progress while waiting ------------------------------------------------------------------


class ProgressDisplay:
    """Shows a lab's status while `--wait` polls.

    On a terminal: one spinner line rewritten in place, and a line kept per finished
    status. Elsewhere (CI logs, pipes): one line per status change, never a spinner,
    so logs stay readable.
    """

    SPINNER = "|/-\\"

    def __init__(
        self,
        stream: TextIO,
        lab_id: str,
        *,
        is_tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.lab_id = lab_id
        self.is_tty = stream.isatty() if is_tty is None else is_tty
        self.clock = clock
        self.started = clock()
        self.status: str | None = None
        self.status_since = self.started
        self._frame = 0

    def elapsed(self) -> float:
        return self.clock() - self.started

    def update(self, status: str) -> None:
        now = self.clock()
        if status != self.status:
            if self.is_tty and self.status is not None:
                self._write_line(
                    f"  {self.status} ({format_duration(now - self.status_since)})", newline=True
                )
            self.status = status
            self.status_since = now
            if not self.is_tty:
                self.stream.write(
                    f"[{format_duration(now - self.started):>7}] {self.lab_id} {status}\n"
                )
                self.stream.flush()
        if self.is_tty:
            self.tick()

    def tick(self) -> None:
        if not self.is_tty or self.status is None:
            return
        frame = self.SPINNER[self._frame % len(self.SPINNER)]
        self._frame += 1
        now = self.clock()
        self._write_line(
            f"{frame} {self.lab_id} {self.status} {format_duration(now - self.status_since)}"
            f" (total {format_duration(now - self.started)})",
            newline=False,
        )

    def finish(self, message: str) -> None:
        if self.is_tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(f"{message} after {format_duration(self.elapsed())}\n")
        self.stream.flush()

    def _write_line(self, line: str, *, newline: bool) -> None:
        # \r plus erase-to-end-of-line rewrites the spinner line in place.
        self.stream.write("\r\x1b[K" + line + ("\n" if newline else ""))
        self.stream.flush()
