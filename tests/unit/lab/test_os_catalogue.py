"""The OS catalogue: names, versions, end-of-life dates, SSM parameters and the OS policy."""

from __future__ import annotations

from datetime import date

import pytest

from ads.errors import LabspecError
from ads.lab import os_catalogue
from ads.lab.os_catalogue import (
    describe_supported,
    find_release,
    normalise_arch,
    normalise_family,
    normalise_version,
    resolve_os,
    supported_releases,
)
from tests.unit.lab.specs import TODAY


@pytest.mark.parametrize(
    ("raw", "family"),
    [
        ("ubuntu", "ubuntu"),
        ("Ubuntu", "ubuntu"),
        (" UBUNTU ", "ubuntu"),
        ("debian", "debian"),
        ("amazon linux", "amazonlinux"),
        ("Amazon Linux", "amazonlinux"),
        ("amazonlinux", "amazonlinux"),
        ("amazon-linux", "amazonlinux"),
        ("al2023", "amazonlinux"),
        ("amzn", "amazonlinux"),
    ],
)
def test_given_a_family_alias_when_normalised_then_the_canonical_family_is_returned(raw, family):
    assert normalise_family(raw)[0] == family


@pytest.mark.parametrize("raw", ["centos", "windows", "Windows Server", "redhat", ""])
def test_given_a_family_ads_does_not_know_when_normalised_then_none_is_returned(raw):
    assert normalise_family(raw) is None


@pytest.mark.parametrize(
    ("family", "raw", "version"),
    [
        ("ubuntu", "12", "12.04"),
        ("ubuntu", "14", "14.04"),
        ("ubuntu", "14.04", "14.04"),
        ("ubuntu", "14.04.6", "14.04"),
        ("ubuntu", "22.04 LTS", "22.04"),
        ("ubuntu", "22.4", "22.04"),
        ("ubuntu", "jammy", "22.04"),
        ("ubuntu", "Noble", "24.04"),
        ("debian", "12", "12"),
        ("debian", "12.5", "12"),
        ("debian", "bookworm", "12"),
        ("amazonlinux", "2023.6.20241010", "2023"),
        ("centos", "6.5", "6.5"),
    ],
)
def test_given_a_version_spelling_when_normalised_then_the_catalogue_version_is_returned(
    family, raw, version
):
    assert normalise_version(family, raw) == version


@pytest.mark.parametrize(
    ("raw", "arch", "substituted"),
    [
        ("i386", "x86_64", True),
        ("x64", "x86_64", False),
        ("x86_64", "x86_64", False),
        ("AMD64", "x86_64", False),
        ("aarch64", "arm64", False),
        ("arm64", "arm64", False),
    ],
)
def test_given_an_arch_spelling_when_normalised_then_ads_arch_and_substitution_are_known(
    raw, arch, substituted
):
    assert normalise_arch(raw) == (arch, substituted)


def test_given_an_unknown_arch_when_normalised_then_value_error_is_raised():
    with pytest.raises(ValueError):
        normalise_arch("sparc")


def test_given_today_then_the_supported_releases_are_the_five_with_ami_parameters():
    supported = [(r.family, r.version) for r in supported_releases(TODAY)]
    assert supported == [
        ("amazonlinux", "2023"),
        ("debian", "12"),
        ("debian", "13"),
        ("ubuntu", "22.04"),
        ("ubuntu", "24.04"),
    ]
    assert describe_supported(TODAY) == "ubuntu 22.04, 24.04; debian 12, 13; amazonlinux 2023"


@pytest.mark.parametrize(
    ("family", "version", "x86", "arm"),
    [
        (
            "ubuntu",
            "22.04",
            "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id",
            "/aws/service/canonical/ubuntu/server/22.04/stable/current/arm64/hvm/ebs-gp2/ami-id",
        ),
        (
            "ubuntu",
            "24.04",
            "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id",
            "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id",
        ),
        (
            "debian",
            "12",
            "/aws/service/debian/release/12/latest/amd64",
            "/aws/service/debian/release/12/latest/arm64",
        ),
        (
            "debian",
            "13",
            "/aws/service/debian/release/13/latest/amd64",
            "/aws/service/debian/release/13/latest/arm64",
        ),
        (
            "amazonlinux",
            "2023",
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
        ),
    ],
)
def test_given_a_supported_release_then_each_arch_has_its_public_ssm_parameter(
    family, version, x86, arm
):
    release = find_release(family, version)
    assert release.ssm_parameter("x86_64") == x86
    assert release.ssm_parameter("arm64") == arm


@pytest.mark.parametrize(
    ("family", "version", "eol"),
    [
        ("ubuntu", "22.04", date(2027, 6, 1)),
        ("ubuntu", "24.04", date(2029, 5, 31)),
        ("debian", "12", date(2028, 6, 30)),
        ("debian", "13", date(2030, 6, 30)),
        ("amazonlinux", "2023", date(2029, 6, 30)),
        ("ubuntu", "12.04", date(2017, 4, 28)),
    ],
)
def test_given_a_release_then_its_end_of_life_date_is_known(family, version, eol):
    assert find_release(family, version).eol == eol


def test_given_a_day_after_ubuntu_22_04_end_of_life_then_it_is_no_longer_supported():
    release = find_release("ubuntu", "22.04")
    assert release.is_supported(date(2027, 5, 31))
    assert not release.is_supported(date(2027, 6, 1))
    assert [r.version for r in supported_releases(date(2027, 6, 1), "ubuntu")] == ["24.04"]


def test_given_ubuntu_12_when_planned_nearest_lts_then_ubuntu_22_04_is_substituted():
    result = resolve_os("ubuntu", "12", "nearest-lts", TODAY)
    assert (result.release.family, result.release.version) == ("ubuntu", "22.04")
    assert result.substituted and result.requested_version == "12.04"
    assert result.notes == (
        "Ubuntu 12.04 reached end of life on 2017-04-28; planned on Ubuntu 22.04 LTS instead "
        "(OS policy nearest-lts)",
    )


def test_given_ubuntu_22_04_has_ended_when_ubuntu_14_is_planned_then_24_04_is_the_nearest_lts():
    result = resolve_os("ubuntu", "14.04", "nearest-lts", date(2027, 7, 1))
    assert result.release.version == "24.04"


def test_given_a_newer_ubuntu_than_any_supported_when_planned_nearest_lts_then_newest_lts_is_used():
    result = resolve_os("ubuntu", "26.10", "nearest-lts", TODAY)
    assert result.release.version == "24.04"
    assert "Ubuntu 26.10 is not offered by ADS" in result.notes[0]


def test_given_a_non_lts_ubuntu_between_supported_ones_when_nearest_lts_then_next_lts_is_used():
    assert resolve_os("ubuntu", "23.10", "nearest-lts", TODAY).release.version == "24.04"


def test_given_a_supported_release_when_planned_with_any_policy_then_it_is_kept_unchanged():
    for policy in os_catalogue.OS_POLICIES:
        result = resolve_os("Debian", "13", policy, TODAY)
        assert (result.release.version, result.substituted, result.notes) == ("13", False, ())


def test_given_ubuntu_12_when_planned_exact_then_it_is_refused_with_the_end_of_life_date():
    with pytest.raises(LabspecError) as caught:
        resolve_os("ubuntu", "12", "exact", TODAY)
    (problem,) = caught.value.problems
    assert problem.path == "lab.runtime_requirements.platform.osVersion"
    assert "Ubuntu 12.04 reached end of life on 2017-04-28" in problem.found
    assert problem.allowed.startswith("ubuntu 22.04, 24.04")


def test_given_ubuntu_24_10_when_planned_same_major_then_24_04_is_used():
    result = resolve_os("ubuntu", "24.10", "same-major", TODAY)
    assert (result.release.version, result.substituted) == ("24.04", True)


def test_given_ubuntu_12_when_planned_same_major_then_it_is_refused():
    with pytest.raises(LabspecError) as caught:
        resolve_os("ubuntu", "12", "same-major", TODAY)
    assert "no supported release of the same major version" in caught.value.problems[0].found


def test_given_debian_11_after_its_lts_when_planned_nearest_lts_then_debian_12_is_used():
    result = resolve_os("debian", "bullseye", "nearest-lts", TODAY)
    assert result.release.version == "12"
    assert "Debian 11 reached end of life on 2026-08-31" in result.notes[0]


def test_given_al2023_alias_without_version_when_planned_then_amazon_linux_2023_is_used():
    result = resolve_os("al2023", None, "exact", TODAY)
    assert (result.release.family, result.release.version, result.substituted) == (
        "amazonlinux",
        "2023",
        False,
    )


def test_given_no_version_when_planned_nearest_lts_then_oldest_supported_lts_with_a_note():
    result = resolve_os("ubuntu", "", "nearest-lts", TODAY)
    assert result.release.version == "22.04"
    assert result.requested_version is None and not result.substituted
    assert "no Ubuntu version" in result.notes[0]


def test_given_no_version_when_planned_exact_then_it_is_refused():
    with pytest.raises(LabspecError) as caught:
        resolve_os("ubuntu", None, "exact", TODAY)
    assert caught.value.problems[0].found == "nothing"


def test_given_no_os_when_planned_nearest_lts_then_ubuntu_is_assumed_with_a_note():
    result = resolve_os(None, None, "nearest-lts", TODAY)
    assert result.release.family == "ubuntu"
    assert any("names no operating system" in note for note in result.notes)


@pytest.mark.parametrize("family", ["centos", "windows", "CentOS", "gentoo"])
def test_given_an_unsupported_family_when_planned_then_it_is_refused_listing_what_is_supported(
    family,
):
    with pytest.raises(LabspecError) as caught:
        resolve_os(family, "6.5", "nearest-lts", TODAY)
    (problem,) = caught.value.problems
    assert problem.path == "lab.runtime_requirements.platform.os"
    assert repr(family) in problem.found
    assert problem.allowed == "one of: ubuntu 22.04, 24.04; debian 12, 13; amazonlinux 2023"


def test_given_a_version_that_is_not_a_number_when_planned_then_it_is_refused():
    with pytest.raises(LabspecError) as caught:
        resolve_os("ubuntu", "latest-and-greatest", "nearest-lts", TODAY)
    assert "not a Ubuntu version number" in caught.value.problems[0].found


def test_given_an_unknown_policy_when_planned_then_it_is_refused():
    with pytest.raises(LabspecError):
        resolve_os("ubuntu", "22.04", "newest", TODAY)


@pytest.mark.parametrize("policy", os_catalogue.OS_POLICIES)
@pytest.mark.parametrize(
    ("family", "version"),
    [("CentOS", "6.5"), ("Windows", "2012"), ("windows server", None), ("Fedora", "38")],
)
def test_given_a_family_without_supported_releases_under_any_policy_then_it_is_refused(
    policy, family, version
):
    with pytest.raises(LabspecError) as caught:
        resolve_os(family, version, policy, TODAY)
    (problem,) = caught.value.problems
    assert (problem.path, problem.found) == (
        "lab.runtime_requirements.platform.os",
        f"{family!r} (no supported release)",
    )
    assert problem.allowed == "one of: ubuntu 22.04, 24.04; debian 12, 13; amazonlinux 2023"


def test_given_ubuntu_14_when_planned_same_major_then_it_is_refused_naming_nearest_lts():
    with pytest.raises(LabspecError) as caught:
        resolve_os("ubuntu", "14", "same-major", TODAY)
    (problem,) = caught.value.problems
    assert problem.path == "lab.runtime_requirements.platform.osVersion"
    assert "Ubuntu 14.04 reached end of life on 2019-04-25" in problem.found
    assert problem.allowed == (
        "ubuntu 22.04, 24.04 (policy same-major; nearest-lts would substitute)"
    )
