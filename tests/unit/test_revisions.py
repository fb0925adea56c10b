"""The revision history a lab record keeps, and the agent's outcome line as providers read it."""

from __future__ import annotations

import json

from ads.lab_record import ALLOWED_FROM, LabStatus
from ads.providers.vm_update import RESULT_PREFIX, parse_update_result
from ads.revisions import REVISIONS_KEPT, RevisionEntry, first_deploy, with_revision


def _entry(n: int, outcome: str = "updated") -> RevisionEntry:
    return RevisionEntry(ref=f"v{n}", sha=f"{n:040d}", requested_by="me", at="t", outcome=outcome)


def test_given_a_long_history_when_an_update_is_added_then_the_oldest_are_dropped():
    history: list = []
    for n in range(REVISIONS_KEPT + 5):
        history = with_revision(history, _entry(n))
    assert len(history) == REVISIONS_KEPT and history[-1]["ref"] == f"v{REVISIONS_KEPT + 4}"


def test_given_a_history_without_the_first_deploy_when_its_sha_is_known_then_it_leads():
    history = with_revision([], _entry(2))
    backfilled = first_deploy(history, ref="main", sha="a" * 40, requested_by="me", at="t0")
    assert [e["outcome"] for e in backfilled] == ["deployed", "updated"]
    assert first_deploy(backfilled, ref="main", sha="b" * 40, requested_by="me", at="t") == (
        backfilled
    )
    assert first_deploy(history, ref="main", sha=None, requested_by="me", at="t") == history


def test_given_a_long_cause_when_recorded_then_it_is_bounded():
    entry = _entry(1, "rolled_back").model_copy(update={"cause": "x" * 10_000})
    assert len(with_revision([], entry)[0]["cause"]) == 2000


def test_given_agent_output_when_parsed_then_the_last_outcome_line_counts():
    first = RESULT_PREFIX + json.dumps({"outcome": "rolled_back"})
    last = RESULT_PREFIX + json.dumps({"outcome": "updated"})
    assert parse_update_result(f"building\n{first}\nmore\n{last}\n") == {"outcome": "updated"}
    assert parse_update_result("no outcome here\n") is None
    assert parse_update_result(RESULT_PREFIX + "{broken\n") is None


def test_given_the_lifecycle_when_read_then_only_a_ready_lab_updates_and_an_update_ends_ready_failed_or_destroying():
    assert ALLOWED_FROM[LabStatus.UPDATING] == (LabStatus.READY,)
    for status in (LabStatus.READY, LabStatus.FAILED, LabStatus.DESTROYING):
        assert LabStatus.UPDATING in ALLOWED_FROM[status], status
