"""Which labs a principal may call its own (ads/identity.py)."""

from __future__ import annotations

import pytest

from ads.identity import owner_group, principal_matches, role_prefix, session_role

ROLE = "arn:aws:iam::123456789012:role/ads-ci"
SESSION = "arn:aws:sts::123456789012:assumed-role/ads-ci/pipeline-42"
USER = "arn:aws:iam::123456789012:user/alice"


def test_given_a_session_when_asked_for_its_role_then_the_role_arn_is_given():
    assert session_role(SESSION) == ROLE
    assert session_role(USER) is None


@pytest.mark.parametrize(
    ("principal", "group"),
    [
        (ROLE, ROLE),
        (SESSION, ROLE),
        ("arn:aws:iam::123456789012:role/teams/ads-ci", ROLE),
        (USER, USER),
        ("arn:aws-cn:sts::123456789012:assumed-role/r/s", "arn:aws-cn:iam::123456789012:role/r"),
    ],
)
def test_given_a_principal_when_grouped_then_a_role_and_its_sessions_share_a_group(
    principal, group
):
    assert owner_group(principal) == group


def test_given_a_session_when_matched_then_it_owns_its_roles_labs_but_not_other_sessions():
    assert principal_matches(SESSION, ROLE)
    assert principal_matches(SESSION, "arn:aws:iam::123456789012:role/path/ads-ci")
    assert principal_matches(SESSION, SESSION)
    assert not principal_matches(SESSION, "arn:aws:sts::123456789012:assumed-role/ads-ci/other")
    assert not principal_matches(SESSION, "arn:aws:iam::210987654321:role/ads-ci")
    assert not principal_matches(SESSION, "arn:aws:iam::123456789012:role/ads-ci-admin")
    assert not principal_matches(ROLE, SESSION)
    assert not principal_matches(USER, ROLE)


def test_given_a_role_group_when_asked_for_its_prefix_then_any_path_of_that_account_matches():
    assert role_prefix(ROLE) == "arn:aws:iam::123456789012:role/"
    assert role_prefix(USER) is None
