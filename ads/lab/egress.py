"""Does a lab need the internet? Checked at plan time when the lab network has no egress.

With ``network_egress`` ``none`` the lab subnets are isolated: the VMs reach SSM and S3
through VPC endpoints and nothing else, so ``apt-get install``, ``pip install`` or a
``git clone`` from a public host fail after minutes of retries on the VM. The planner
refuses such a lab at once, naming the command, instead.

The check reads the commands the deployment runs (the plan's steps) for the package
managers and downloaders Virtual Labs specs use. It is a heuristic on shell text: a
command that fetches through a script of its own is not seen, and docs/aws.md says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from ads.errors import FieldProblem
from ads.lab.labspec_model import BUILD, BUILD_STEP_NAMES, RUNTIME, Labspec

NetworkEgress = Literal["nat", "none"]
NETWORK_EGRESS = ("nat", "none")

# The option word may follow flags: `apt-get -y install`, `pip3 --quiet install`.
_FLAGS = r"(?:\s+-\S+)*"
_FETCHERS = re.compile(
    "|".join(
        (
            rf"\b(?:apt-get|apt|aptitude){_FLAGS}\s+(?:install|update|upgrade|dist-upgrade|"
            r"full-upgrade|build-dep|source|download)\b",
            r"\badd-apt-repository\b",
            rf"\b(?:yum|dnf|microdnf|zypper|apk){_FLAGS}\s+(?:install|update|upgrade|"
            r"makecache|add|groupinstall|localinstall)\b",
            rf"\b(?:pip|pip2|pip3|pip3\.\d+){_FLAGS}\s+(?:install|download)\b",
            r"\beasy_install\b",
            rf"\b(?:npm|yarn|pnpm){_FLAGS}\s+(?:install|i|ci|add)\b",
            r"\bnpx\s",
            rf"\b(?:gem|cargo|composer|bundle|snap|ansible-galaxy){_FLAGS}\s+(?:install|require)\b",
            rf"\bgo{_FLAGS}\s+(?:get|install)\b",
            rf"\bgit{_FLAGS}\s+(?:clone|fetch|pull|submodule\s+update|ls-remote)\b",
        )
    )
)
_DOWNLOADERS = re.compile(r"\b(?:curl|wget)\b")
_URL_HOST = re.compile(r"\b(?:https?|ftp)://(\[[^\]]+\]|[^/\s:'\"]+)", re.IGNORECASE)
_LOCAL_HOSTS = re.compile(r"^(?:localhost|127(?:\.\d+){3}|0\.0\.0\.0|\[::1\])$", re.IGNORECASE)

NO_EGRESS_ALLOWED = (
    "commands that need no internet: this control plane's lab network has no egress "
    "(network_egress none); package installs, downloads and git fetches need "
    "network_egress nat"
)


def needs_internet(command: str) -> bool:
    """True when the shell command fetches from the internet (as far as its text shows)."""
    if _FETCHERS.search(command):
        return True
    if _DOWNLOADERS.search(command):
        # `curl http://localhost/` checks the lab itself; any other URL leaves the VM.
        hosts = _URL_HOST.findall(command)
        return any(not _LOCAL_HOSTS.match(host) for host in hosts)
    return False


def deploy_commands(labspec: Labspec) -> list[tuple[str, list[str]]]:
    """The commands a deployment runs, in deploy order, each list with its labspec path."""
    build, runtime = labspec.build, labspec.runtime
    return [
        (f"{BUILD}.installer", list(build.installer)),
        *(
            (f"{BUILD}.build_steps.{name}", build.build_steps.get(name, []))
            for name in BUILD_STEP_NAMES
        ),
        (f"{RUNTIME}.installer", list(runtime.installer)),
        *(
            (f"{RUNTIME}.lab_actions.{name}", runtime.lab_actions.get(name, []))
            for name in ("init", "start")
        ),
    ]


def internet_problems(steps: Iterable[tuple[str, list[str]]]) -> list[FieldProblem]:
    """One problem per command that needs the internet; ``steps`` are (path, commands)."""
    problems: list[FieldProblem] = []
    for path, commands in steps:
        for index, command in enumerate(commands):
            if needs_internet(command):
                shown = command if len(command) <= 80 else command[:77] + "..."
                problems.append(FieldProblem(f"{path}[{index}]", repr(shown), NO_EGRESS_ALLOWED))
    return problems


def git_source_problem(git_url: str | None) -> FieldProblem | None:
    """A git source is cloned by the VM: without egress only an s3:// source can be used."""
    if not git_url:
        return None
    shown = git_url if len(git_url) <= 80 else git_url[:77] + "..."
    return FieldProblem(
        "source.git",
        repr(shown),
        "an s3:// source: this control plane's lab network has no egress (network_egress "
        "none), so the VM cannot clone a git repository; pack the sources as an archive in S3 "
        "or deploy with network_egress nat",
    )
