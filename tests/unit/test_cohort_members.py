"""A cohort's members: the request's list and the CLI's members file, checked strictly."""

from __future__ import annotations

import pytest

from ads.cohort_members import checked_members, parse_members_file
from ads.cohort_model import CohortMember
from ads.errors import InvalidInputError

USER = "arn:aws:iam::123456789012:user/asha"
SESSION = "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Students/ben@example.edu"


def test_given_a_members_file_when_parsed_then_names_comments_and_blank_lines_are_handled():
    text = f"# week 1\n\n{USER}   Asha Rao  # lead\n{SESSION}\n"

    members = parse_members_file(text)

    assert members == [
        CohortMember(principal=USER, name="Asha Rao"),
        CohortMember(principal=SESSION, name=None),
    ]


@pytest.mark.parametrize(
    ("text", "where", "found"),
    [
        (f"{USER}\nasha@example.edu\n", "members.txt:2", "asha@example.edu"),
        (f"{USER}\n{USER} again\n", "members.txt:2", "also line 1"),
        ("# nobody yet\n", "members.txt", "no member"),
    ],
)
def test_given_a_bad_members_file_when_parsed_then_the_line_and_value_are_named(text, where, found):
    with pytest.raises(InvalidInputError) as refused:
        parse_members_file(text, source="members.txt")

    (problem,) = refused.value.problems
    assert problem.path == where and found in problem.found


def test_given_more_members_than_allowed_and_a_duplicate_when_checked_then_both_are_named():
    members = [CohortMember(principal=p) for p in (USER, SESSION, USER)]

    with pytest.raises(InvalidInputError) as refused:
        checked_members(members, max_members=2)

    paths = [p.path for p in refused.value.problems]
    assert paths == ["members", "members[2].principal"]
