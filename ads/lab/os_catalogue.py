"""Operating systems ADS can deploy, their end-of-life dates, and the OS policy.

A release is *supported* when ADS knows the public SSM parameter that resolves its
current AMI and its end of life is still ahead of ``today``. Releases that labs ask for
but ADS no longer offers are listed too, so a refusal or a substitution can say why
("Ubuntu 12.04 reached end of life on 2017-04-28").

The OS policy decides what happens when a labspec asks for something unsupported:

- ``exact``: refuse.
- ``same-major``: a supported release with the same major version (prefer LTS).
- ``nearest-lts``: the oldest supported LTS not older than the request; when the request
  is newer than every supported LTS, the newest one.

Every release also says how the SSM agent gets onto its VMs (``ssm_agent``): ADS drives a
VM only through SSM Run Command, so a release whose AMI neither ships the agent nor can
install it at boot could never leave Wait Until Running.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from ads.errors import FieldProblem, LabspecError

Arch = Literal["x86_64", "arm64"]
OsPolicy = Literal["exact", "same-major", "nearest-lts"]
# "shipped": the AMI runs the agent from its first boot (Ubuntu's snap, Amazon Linux's
# package). "user-data": the AMI has none (Debian); the launch installs it at boot from
# the region's SSM agent bucket.
SsmAgentSource = Literal["shipped", "user-data"]
SSM_AGENT_SOURCES: tuple[SsmAgentSource, ...] = ("shipped", "user-data")

ARCHITECTURES: tuple[Arch, ...] = ("x86_64", "arm64")
OS_POLICIES: tuple[OsPolicy, ...] = ("exact", "same-major", "nearest-lts")
DEFAULT_OS_POLICY: OsPolicy = "nearest-lts"

OS_PATH = "lab.runtime_requirements.platform.os"
OS_VERSION_PATH = "lab.runtime_requirements.platform.osVersion"


@dataclass(frozen=True)
class OsRelease:
    family: str
    version: str
    eol: date
    lts: bool
    # How the SSM agent gets onto a VM of this release; no default, so no entry lacks it.
    ssm_agent: SsmAgentSource
    # Architecture -> public SSM parameter. Empty: ADS does not offer this release.
    ssm_parameters: Mapping[str, str] = field(default_factory=dict)
    codename: str = ""

    @property
    def display_name(self) -> str:
        suffix = " LTS" if self.lts and self.family == "ubuntu" else ""
        return f"{FAMILY_NAMES[self.family]} {self.version}{suffix}"

    @property
    def major(self) -> str:
        return self.version.split(".")[0]

    def is_supported(self, today: date) -> bool:
        return bool(self.ssm_parameters) and today < self.eol

    def ssm_parameter(self, arch: Arch) -> str:
        return self.ssm_parameters[arch]

    def unsupported_reason(self, today: date) -> str:
        name = f"{FAMILY_NAMES[self.family]} {self.version}"
        if today >= self.eol:
            return f"{name} reached end of life on {self.eol.isoformat()}"
        return f"{name} is not offered by ADS"


def _ubuntu(version: str, gp: str) -> dict[str, str]:
    return {
        arch: f"/aws/service/canonical/ubuntu/server/{version}/stable/current/{deb_arch}/hvm/ebs-{gp}/ami-id"
        for arch, deb_arch in (("x86_64", "amd64"), ("arm64", "arm64"))
    }


def _debian(major: str) -> dict[str, str]:
    return {
        arch: f"/aws/service/debian/release/{major}/latest/{deb_arch}"
        for arch, deb_arch in (("x86_64", "amd64"), ("arm64", "arm64"))
    }


_AL2023 = {
    arch: f"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}"
    for arch in ("x86_64", "arm64")
}

FAMILY_NAMES: dict[str, str] = {
    "ubuntu": "Ubuntu",
    "debian": "Debian",
    "amazonlinux": "Amazon Linux",
}

_SHIPPED: SsmAgentSource = "shipped"
_AT_BOOT: SsmAgentSource = "user-data"

RELEASES: tuple[OsRelease, ...] = (
    # Canonical's AMIs carry the agent as a snap from 16.04 on; older ones had none.
    OsRelease("ubuntu", "12.04", date(2017, 4, 28), True, _AT_BOOT, codename="precise"),
    OsRelease("ubuntu", "14.04", date(2019, 4, 25), True, _AT_BOOT, codename="trusty"),
    OsRelease("ubuntu", "16.04", date(2021, 4, 30), True, _SHIPPED, codename="xenial"),
    OsRelease("ubuntu", "18.04", date(2023, 5, 31), True, _SHIPPED, codename="bionic"),
    OsRelease("ubuntu", "20.04", date(2025, 5, 31), True, _SHIPPED, codename="focal"),
    OsRelease("ubuntu", "22.04", date(2027, 6, 1), True, _SHIPPED, _ubuntu("22.04", "gp2"), "jammy"),
    OsRelease("ubuntu", "24.04", date(2029, 5, 31), True, _SHIPPED, _ubuntu("24.04", "gp3"), "noble"),
    # The Debian cloud team's AMIs ship no SSM agent.
    OsRelease("debian", "7", date(2018, 5, 31), True, _AT_BOOT, codename="wheezy"),
    OsRelease("debian", "8", date(2020, 6, 30), True, _AT_BOOT, codename="jessie"),
    OsRelease("debian", "9", date(2022, 6, 30), True, _AT_BOOT, codename="stretch"),
    OsRelease("debian", "10", date(2024, 6, 30), True, _AT_BOOT, codename="buster"),
    OsRelease("debian", "11", date(2026, 8, 31), True, _AT_BOOT, codename="bullseye"),
    OsRelease("debian", "12", date(2028, 6, 30), True, _AT_BOOT, _debian("12"), "bookworm"),
    OsRelease("debian", "13", date(2030, 6, 30), True, _AT_BOOT, _debian("13"), "trixie"),
    OsRelease("amazonlinux", "2", date(2026, 6, 30), True, _SHIPPED),
    OsRelease("amazonlinux", "2023", date(2029, 6, 30), True, _SHIPPED, _AL2023),
)  # fmt: skip

# Spellings seen in labspecs and in AWS naming; the value is (family, implied version).
_FAMILY_ALIASES: dict[str, tuple[str, str | None]] = {
    "ubuntu": ("ubuntu", None),
    "ubuntu server": ("ubuntu", None),
    "debian": ("debian", None),
    "debian gnu/linux": ("debian", None),
    "amazon linux": ("amazonlinux", None),
    "amazonlinux": ("amazonlinux", None),
    "amazon": ("amazonlinux", None),
    "amzn": ("amazonlinux", None),
    "al2023": ("amazonlinux", "2023"),
    "amazon linux 2023": ("amazonlinux", "2023"),
    "amzn2023": ("amazonlinux", "2023"),
    "al2": ("amazonlinux", "2"),
    "amzn2": ("amazonlinux", "2"),
    "amazon linux 2": ("amazonlinux", "2"),
}

_ARCH_ALIASES: dict[str, tuple[Arch, bool]] = {
    # value: (architecture ADS uses, whether that is a substitution worth noting)
    "x86_64": ("x86_64", False),
    "x86-64": ("x86_64", False),
    "x64": ("x86_64", False),
    "amd64": ("x86_64", False),
    "i386": ("x86_64", True),
    "i486": ("x86_64", True),
    "i586": ("x86_64", True),
    "i686": ("x86_64", True),
    "x86": ("x86_64", True),
    "arm64": ("arm64", False),
    "aarch64": ("arm64", False),
    "armv8": ("arm64", False),
    "armhf": ("arm64", True),
    "armv7": ("arm64", True),
    "armv7l": ("arm64", True),
}


def normalise_family(raw: str) -> tuple[str, str | None] | None:
    """``"Amazon Linux"`` -> ``("amazonlinux", None)``; None for a family ADS does not know."""
    key = re.sub(r"[\s_-]+", " ", raw.strip().lower())
    return _FAMILY_ALIASES.get(key) or _FAMILY_ALIASES.get(key.replace(" ", ""))


def normalise_version(family: str, raw: str) -> str:
    """Canonical version string: ``"12"`` -> ``"12.04"`` for Ubuntu, ``"12.5"`` -> ``"12"`` for Debian."""
    text = raw.strip().lower()
    text = re.sub(r"\s*lts$", "", text).removeprefix("v")
    for release in RELEASES:
        if release.family == family and text == release.codename:
            return release.version
    if family == "ubuntu":
        match = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\.\d+)?", text)
        if match:
            # A bare major means its April release, which is the LTS one for even years.
            minor = int(match.group(2)) if match.group(2) else 4
            return f"{int(match.group(1))}.{minor:02d}"
    elif family in ("debian", "amazonlinux"):
        # Point releases (Debian 12.5, AL 2023.6.20241010) are the same release.
        match = re.fullmatch(r"(\d+)(?:\.[\w.]*)?", text)
        if match:
            return str(int(match.group(1)))
    return text


def normalise_arch(raw: str) -> tuple[Arch, bool]:
    """``("x86_64", True)`` for ``"i386"``: the bool says the architecture was substituted."""
    key = raw.strip().lower()
    if key not in _ARCH_ALIASES:
        raise ValueError(raw)
    return _ARCH_ALIASES[key]


def arch_spellings() -> str:
    return ", ".join(_ARCH_ALIASES)


def _version_key(version: str) -> tuple[int, ...] | None:
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        return None
    return tuple(int(part) for part in version.split("."))


def find_release(family: str, version: str) -> OsRelease | None:
    for release in RELEASES:
        if release.family == family and release.version == version:
            return release
    return None


def supported_releases(today: date, family: str | None = None) -> list[OsRelease]:
    found = [
        r for r in RELEASES if r.is_supported(today) and (family is None or r.family == family)
    ]
    return sorted(found, key=lambda r: (r.family, _version_key(r.version) or ()))


def describe_supported(today: date, family: str | None = None) -> str:
    """``"ubuntu 22.04, 24.04; debian 12, 13; amazonlinux 2023"``."""
    parts = []
    families = [family] if family else list(FAMILY_NAMES)
    for name in families:
        versions = [r.version for r in supported_releases(today, name)]
        if versions:
            parts.append(f"{name} {', '.join(versions)}")
    return "; ".join(parts) or "none"


@dataclass(frozen=True)
class OsResolution:
    release: OsRelease
    requested_family: str
    requested_version: str | None
    substituted: bool
    policy: OsPolicy
    notes: tuple[str, ...] = ()


def _quote(value: str | None) -> str:
    return "nothing" if value is None else repr(value)


def resolve_os(
    requested_family: str | None,
    requested_version: str | None,
    policy: OsPolicy,
    today: date,
    *,
    os_path: str = OS_PATH,
    version_path: str = OS_VERSION_PATH,
) -> OsResolution:
    """Apply the OS policy to what a labspec asks for; raise LabspecError when it cannot."""
    if policy not in OS_POLICIES:
        raise LabspecError(FieldProblem("os_policy", repr(policy), ", ".join(OS_POLICIES)))
    notes: list[str] = []
    if not requested_family or not requested_family.strip():
        if policy == "exact":
            raise LabspecError(
                FieldProblem(os_path, "nothing", f"one of: {describe_supported(today)}")
            )
        requested_family = "ubuntu"
        notes.append("the labspec names no operating system; planned on Ubuntu")
    known = normalise_family(requested_family)
    if known is None or not supported_releases(today, known[0]):
        raise LabspecError(
            FieldProblem(
                os_path,
                f"{requested_family!r} (no supported release)",
                f"one of: {describe_supported(today)}",
            )
        )
    family, implied_version = known
    raw_version = (requested_version or "").strip() or implied_version
    candidates = supported_releases(today, family)
    lts_candidates = [r for r in candidates if r.lts] or candidates
    allowed_here = f"{family} {', '.join(r.version for r in candidates)}"

    if raw_version is None:
        if policy == "exact":
            raise LabspecError(FieldProblem(version_path, "nothing", allowed_here))
        chosen = lts_candidates[0]
        notes.append(
            f"the labspec names no {FAMILY_NAMES[family]} version; planned on "
            f"{chosen.display_name}, the oldest supported LTS"
        )
        return OsResolution(chosen, family, None, False, policy, tuple(notes))

    version = normalise_version(family, raw_version)
    release = find_release(family, version)
    if release is not None and release.is_supported(today):
        return OsResolution(release, family, version, False, policy, tuple(notes))

    wanted_key = _version_key(version)
    if wanted_key is None:
        raise LabspecError(
            FieldProblem(
                version_path,
                f"{raw_version!r} (not a {FAMILY_NAMES[family]} version number)",
                allowed_here,
            )
        )
    reason = (
        release.unsupported_reason(today)
        if release
        else f"{FAMILY_NAMES[family]} {version} is not offered by ADS"
    )
    if policy == "exact":
        raise LabspecError(
            FieldProblem(
                version_path,
                f"{raw_version!r} ({reason})",
                f"{allowed_here} (policy exact; same-major or nearest-lts would substitute)",
            )
        )
    if policy == "same-major":
        same = [r for r in candidates if r.major == version.split(".")[0]]
        if not same:
            raise LabspecError(
                FieldProblem(
                    version_path,
                    f"{raw_version!r} ({reason}; no supported release of the same major version)",
                    f"{allowed_here} (policy same-major; nearest-lts would substitute)",
                )
            )
        chosen = sorted(same, key=lambda r: (r.lts, _version_key(r.version)))[-1]
    else:
        newer = [r for r in lts_candidates if (_version_key(r.version) or ()) >= wanted_key]
        chosen = newer[0] if newer else lts_candidates[-1]
    notes.append(f"{reason}; planned on {chosen.display_name} instead (OS policy {policy})")
    return OsResolution(chosen, family, version, True, policy, tuple(notes))
