"""What `ads deploy` reads before it sends anything: the labspec and the --source argument.

A mistake here costs no request: the labspec is checked with the same parser and words
as `ads plan`, the source is turned into the API's source object or refused in one line.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ads.api_models import SSH_NOT_SUPPORTED, is_ssh_remote
from ads.cli import exit_codes
from ads.cli.exit_codes import CommandError
from ads.cli.plan_cmd import UnreadableLabspec, read_labspec_argument
from ads.errors import InvalidInputError

LABSPEC_ALLOWED = (
    "a labspec.json file, a lab checkout directory holding scripts/labspec.json, - for stdin, "
    "or a repository: GIT_URL[@REF] (https://, file://) or PATH@REF, whose "
    "scripts/labspec.json at that ref is read"
)
SOURCE_ALLOWED = (
    "git:URL or git:URL@REF (an https:// URL; a branch, tag or commit), or s3://bucket/key"
)


def load_labspec(argument: str) -> dict[str, Any]:
    """The labspec document, checked here first so a mistake costs no request.

    Reading and messages are those of `ads plan`, so both commands report a broken
    labspec in the same words.
    """
    from ads.lab.labspec import parse_labspec

    try:
        source, name = read_labspec_argument(argument)
    except UnreadableLabspec as exc:
        raise CommandError(_one_line(str(exc)), exit_code=exit_codes.INVALID_INPUT) from None
    try:
        parse_labspec(source)
        document = json.loads(source)
    except InvalidInputError as exc:
        problems = " | ".join(str(p) for p in exc.problems) or exc.message
        raise CommandError(
            _one_line(f"invalid labspec {name}: {problems}"), exit_code=exit_codes.INVALID_INPUT
        ) from None
    except ValueError as exc:
        raise CommandError(
            f"invalid labspec {name}: $: found {exc}; allowed: a JSON object",
            exit_code=exit_codes.INVALID_INPUT,
        ) from None
    return document


def repository_source(argument: str) -> dict[str, str] | None:
    """The source a repository LABSPEC argument names (``GIT_URL[@REF]``, ``PATH[@REF]``,
    a repository's top-level directory), for a deploy given no --source."""
    from ads.cli.repo_labspec import RepositoryLabspecError, classify

    try:
        repository = classify(argument)
    except RepositoryLabspecError:
        return None  # load_labspec reported it already
    if repository is None:
        return None
    source = {"git": repository.git}
    if repository.ref:
        source["ref"] = repository.ref
    return source


def _one_line(message: str) -> str:
    return " ".join(message.split())


_REF = re.compile(r"^[^\s:@~^?*\[\\]+$")


def _looks_like_repository(url: str) -> bool:
    if "://" in url:
        rest = url.split("://", 1)[1]
        return "/" in rest.strip("/") or rest.startswith("/")
    # scp-like user@host:path, or a local path
    return ":" in url or url.startswith(("/", ".", "~"))


def parse_source(value: str | None) -> dict[str, str] | None:
    """`git:URL[@REF]` or `s3://bucket/key` as the API's source object."""
    if not value:
        return None
    if value.startswith("s3://"):
        bucket, _, key = value[len("s3://") :].partition("/")
        if bucket and key:
            return {"s3": value}
    elif value.startswith("git:"):
        url = value[len("git:") :]
        if is_ssh_remote(url):
            raise CommandError(
                f"--source: found {value!r}; allowed: {SOURCE_ALLOWED}; {SSH_NOT_SUPPORTED}",
                exit_code=exit_codes.INVALID_INPUT,
            )
        # A ref never contains ':' (git forbids it) while URLs before it often do, and
        # `https://user@host/repo` has an '@' that is not a ref separator.
        head, sep, ref = url.rpartition("@")
        if sep and _REF.match(ref) and _looks_like_repository(head):
            return {"git": head, "ref": ref}
        # A trailing '@' is a ref left out, not part of a URL: refuse it here.
        if url and not url.endswith("@"):
            return {"git": url}
    raise CommandError(
        f"--source: found {value!r}; allowed: {SOURCE_ALLOWED}", exit_code=exit_codes.INVALID_INPUT
    )
