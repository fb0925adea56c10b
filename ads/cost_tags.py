"""Cost-allocation tags: what every AWS resource a lab creates carries besides its id.

Activated as cost-allocation tags in the Billing console, they let Cost Explorer and the
Cost and Usage Report split the bill per lab, lab name, owner and course (see
docs/operations.md). They are decided once, when the lab is requested, and kept in its
plan (``cost_tags``), so every step that creates a resource tags it the same way.

AWS's tag rules: a key of at most 128 characters, a value of at most 256, both made of
letters, digits, spaces and ``_ . : / = + - @`` (the EC2, ELB and Cost Explorer rules
agree on this set); keys starting with ``aws:`` are reserved. Lab names and owners come
from users, so their values are sanitised here; a course is checked where the request is
validated (:mod:`ads.api_models`) and sanitised again for safety.
"""

from __future__ import annotations

import re
import unicodedata

from ads.config import LAB_ID_TAG

LAB_NAME_TAG = "ads:lab-name"
OWNER_TAG = "ads:owner"
COURSE_TAG = "ads:course"
COST_TAG_KEYS = (LAB_ID_TAG, LAB_NAME_TAG, OWNER_TAG, COURSE_TAG)
MAX_TAG_VALUE = 256
# Letters and digits of any script, spaces, and the punctuation AWS allows in tags.
TAG_VALUE_PATTERN = r"^[\w\s.:/=+\-@]*$"
_NOT_ALLOWED = re.compile(r"[^\w .:/=+\-@]")
_SPACES = re.compile(r"\s+")


def tag_value(value: str) -> str:
    """``value`` as a tag value AWS accepts: other characters become ``_``, runs of white
    space one space, at most 256 characters (never an error: a tag must not stop a lab)."""
    text = unicodedata.normalize("NFC", value or "")
    text = _SPACES.sub(" ", text).strip()
    # \\w also matches "_" and digits of every script; anything else is replaced.
    text = "".join(
        ch if not _NOT_ALLOWED.match(ch) and unicodedata.category(ch)[0] != "C" else "_"
        for ch in text
    )
    return text[:MAX_TAG_VALUE]


def cost_tags(lab_id: str, lab_name: str, owner: str, course: str | None) -> dict[str, str]:
    """The cost-allocation tags of a lab's resources (the course only when asked)."""
    tags = {
        LAB_ID_TAG: tag_value(lab_id),
        LAB_NAME_TAG: tag_value(lab_name) or tag_value(lab_id),
        OWNER_TAG: tag_value(owner),
    }
    if course and tag_value(course):
        tags[COURSE_TAG] = tag_value(course)
    return tags


def tag_list(cost: dict[str, str] | None, lab_id: str) -> list[dict[str, str]]:
    """The cost tags as ``[{"Key", "Value"}]`` (the lab id always among them), for the
    EC2 and ELB APIs; a plan made before cost tags existed gives the lab id only."""
    tags = {LAB_ID_TAG: lab_id, **{k: v for k, v in (cost or {}).items() if k in COST_TAG_KEYS}}
    tags[LAB_ID_TAG] = lab_id
    return [{"Key": k, "Value": v} for k, v in tags.items()]
