"""Whether a deployment request's source and region can be used, as field problems.

Only the shape is checked here, and where a lab would run: what a local path may reach is
:mod:`ads.providers.local_sources`' policy, and whether a git host is reachable without
egress is :mod:`ads.lab.egress`' answer.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ads.api_models import DeploymentOptions, LabSource
from ads.config import AdsConfig
from ads.errors import FieldProblem
from ads.lab import egress
from ads.providers.local_sources import SourceReader, local_source_problem

# SSH remotes are refused by the request model (ads.api_models.is_ssh_remote).
_GIT_REMOTE = (re.compile(r"^https://[^\s/@]+(@[^\s/]+)?/\S+$"),)
_GIT_LOCAL = (re.compile(r"^file:///[^\n]+$"), re.compile(r"^/[^\n]*[^/\n]$"))
_GIT_REF = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/+@-]{1,255}$")
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+$")


def found(value: Any) -> str:
    """``value`` as a problem's "found": quoted, and short enough for one line."""
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _git_problems(
    git: str, config: AdsConfig, requester: SourceReader | None
) -> list[FieldProblem]:
    local = config.provider == "local"
    allowed = "an https:// URL"
    patterns = _GIT_REMOTE + (_GIT_LOCAL if local else ())
    if local:
        allowed += ", a file:// URL or an absolute path"
    else:
        allowed += " (file:// URLs and paths only with the local provider)"
    if len(git) > 2048 or not any(p.match(git) for p in patterns):
        return [FieldProblem("source.git", found(git), allowed)]
    if local and (refused := local_source_problem(git, config, requester)):
        return [FieldProblem("source.git", refused.found, refused.allowed)]
    return []


def _ref_problems(source: LabSource) -> list[FieldProblem]:
    if source.ref is None:
        return []
    if source.git is None:
        return [FieldProblem("source.ref", found(source.ref), "only with source.git")]
    if not _GIT_REF.match(source.ref):
        return [
            FieldProblem(
                "source.ref",
                found(source.ref),
                "a branch, tag or commit: letters, digits and ._/+@- , not starting with -",
            )
        ]
    return []


def source_problems(
    source: LabSource | None, config: AdsConfig, requester: SourceReader | None = None
) -> list[FieldProblem]:
    """What is wrong with a request's ``source`` (empty when it can be used).
    ``requester``: the OS user who asked, when the front door knows them (local sources
    are read with their rights)."""
    if source is None:
        return []
    problems: list[FieldProblem] = []
    one_of = "exactly one of source.git or source.s3"
    if source.git is None and source.s3 is None:
        problems.append(FieldProblem("source", "neither git nor s3", one_of))
    if source.git is not None and source.s3 is not None:
        problems.append(FieldProblem("source", "both git and s3", one_of))
    if source.git is not None:
        problems += _git_problems(source.git, config, requester)
    problems += _ref_problems(source)
    if source.s3 is not None and not _S3_URI.match(source.s3):
        problems.append(FieldProblem("source.s3", found(source.s3), "s3://bucket/key"))
    if config.network_egress == "none" and not problems:
        unreachable = egress.git_source_problem(source.git)
        if unreachable:
            problems.append(unreachable)
    return problems


def region_problems(options: DeploymentOptions | None, config: AdsConfig) -> list[FieldProblem]:
    """A deployment runs where the control plane runs (its Lambdas, subnets and security
    groups are there): a request for another region is refused, never planned as if."""
    asked = options.region if options else None
    if asked is None or asked == config.region:
        return []
    allowed = (
        f"{config.region!r}, the region this control plane deploys labs in "
        f"(deploy ADS in {asked} to run labs there)"
    )
    return [FieldProblem("options.region", found(asked), allowed)]


def what_if_region(plan_region: str, config: AdsConfig) -> str | None:
    """The note a dry-run plan carries when priced for a region its lab would not run in."""
    if plan_region == config.region:
        return None
    return (
        f"region {plan_region} is a what-if for the price only: this control plane deploys "
        f"labs in {config.region}"
    )
