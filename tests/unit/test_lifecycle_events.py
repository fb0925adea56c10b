"""The lifecycle events: one table of detail-types, every one of them documented."""

from __future__ import annotations

from pathlib import Path

from ads.lifecycle_events import DETAIL_TYPES, EVENTS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_given_the_event_table_when_the_docs_are_read_then_every_detail_type_is_documented():
    documented = (DOCS / "api.md").read_text()
    missing = [name for name in EVENTS.values() if f"`{name}`" not in documented]
    assert missing == [], f"docs/api.md does not name {missing}"


def test_given_the_status_events_when_read_then_each_is_one_of_the_table():
    assert set(DETAIL_TYPES.values()) <= set(EVENTS.values())
    assert len(set(EVENTS.values())) == len(EVENTS), "two transitions share a detail-type"
