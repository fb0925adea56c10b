"""A cohort's members: the list a request names, checked, and the members file of the CLI.

Every member is an IAM principal ARN (a user, a role, or a role's session); each appears
once; a cohort has at most ``ADS_COHORT_MAX_MEMBERS``. A bad entry is named by its index
in the request (``members[3].principal``) or its line in the file, with what was found.
"""

from __future__ import annotations

from ads import identity
from ads.cohort_model import MEMBER_ALLOWED, CohortMember
from ads.errors import FieldProblem, InvalidInputError
from ads.source_checks import found


def checked_members(members: list[CohortMember], max_members: int) -> list[CohortMember]:
    """``members`` when every one is a principal ARN, none repeats and they are at most
    ``max_members``; otherwise :class:`InvalidInputError` naming each bad entry."""
    problems: list[FieldProblem] = []
    if len(members) > max_members:
        problems.append(
            FieldProblem(
                "members",
                f"{len(members)} members",
                f"at most {max_members} (ADS_COHORT_MAX_MEMBERS); split the class in cohorts",
            )
        )
    first_at: dict[str, int] = {}
    for index, member in enumerate(members):
        path = f"members[{index}].principal"
        principal = member.principal.strip()
        if not identity.is_iam_principal(principal) or principal != member.principal:
            problems.append(FieldProblem(path, found(member.principal), MEMBER_ALLOWED))
        elif principal in first_at:
            problems.append(
                FieldProblem(
                    path,
                    f"{found(principal)} (also members[{first_at[principal]}])",
                    "each member once",
                )
            )
        else:
            first_at[principal] = index
    if problems:
        raise InvalidInputError(problems, subject="request")
    return members


def parse_members_file(text: str, *, source: str = "members file") -> list[CohortMember]:
    """The members of a file: one principal ARN a line, optionally followed by
    whitespace and a display name; blank lines and ``#`` comments are skipped.
    A bad line raises :class:`InvalidInputError` naming ``<source>:<line>``."""
    members: list[CohortMember] = []
    problems: list[FieldProblem] = []
    first_line: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 1)
        principal = parts[0]
        name = parts[1].strip() if len(parts) > 1 else None
        where = f"{source}:{number}"
        if not identity.is_iam_principal(principal):
            problems.append(FieldProblem(where, found(principal), MEMBER_ALLOWED))
            continue
        if principal in first_line:
            problems.append(
                FieldProblem(
                    where,
                    f"{found(principal)} (also line {first_line[principal]})",
                    "each member once",
                )
            )
            continue
        if name is not None and len(name) > 128:
            problems.append(FieldProblem(where, f"a name of {len(name)} characters", "at most 128"))
            continue
        first_line[principal] = number
        members.append(CohortMember(principal=principal, name=name or None))
    if not members and not problems:
        problems.append(
            FieldProblem(source, "no member", "one IAM principal ARN a line, # for comments")
        )
    if problems:
        raise InvalidInputError(problems, subject=source)
    return members
