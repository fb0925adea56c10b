"""`ads deploy GIT_URL[@REF]` / `PATH[@REF]` and `ads plan` of the same: the labspec is
read from the repository at that ref, and the deploy's source is that repository at
that ref; repositories are made by the test (file:// URLs and plain paths)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ads.cli import exit_codes
from ads.cli.main import main
from ads.cli.repo_labspec import split_ref
from tests.integration.cli.fake_api import FakeAdsApi

HELLO_WEB_LABSPEC = Path("events/labs/hello-web/scripts/labspec.json")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@ads.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@ads.invalid",
    "PATH": "/usr/bin:/bin",
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """v1: a labspec named 'Hello Web v1'; then main drops scripts/labspec.json."""
    repo = tmp_path / "lab"
    (repo / "scripts").mkdir(parents=True)
    labspec = json.loads(HELLO_WEB_LABSPEC.read_text())
    labspec["lab"]["description"]["name"] = "Hello Web v1"
    (repo / "scripts" / "labspec.json").write_text(json.dumps(labspec))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v1")
    git(repo, "tag", "v1")
    git(repo, "rm", "-q", "scripts/labspec.json")
    (repo / "README").write_text("no labspec here\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "no labspec")
    return repo


@pytest.mark.parametrize("form", ["file", "path"])
def test_given_a_repository_at_a_tag_when_deployed_then_its_labspec_and_source_are_that_ref(
    api: FakeAdsApi, repo: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    where = f"file://{repo}" if form == "file" else str(repo)

    code, _, err = run(capsys, "deploy", f"{where}@v1", "--endpoint", api.url)

    assert code == exit_codes.OK, err
    post = api.received[-1]
    assert post.body["labspec"]["lab"]["description"]["name"] == "Hello Web v1"
    assert post.body["source"] == {"git": str(repo) if form == "path" else where, "ref": "v1"}


def test_given_a_commit_sha_over_file_url_when_planned_then_the_labspec_of_that_commit_is_used(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sha = git(repo, "rev-parse", "v1")

    code, out, err = run(capsys, "plan", f"file://{repo}@{sha}")

    assert code == exit_codes.OK, err
    assert "Hello Web v1" in out


def test_given_a_repository_directory_without_ref_when_deployed_then_its_head_is_the_source(
    api: FakeAdsApi, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "checkout", "-q", "v1")

    code, _, err = run(capsys, "deploy", str(repo), "--endpoint", api.url)

    assert code == exit_codes.OK, err
    assert api.received[-1].body["source"] == {"git": str(repo)}


def test_given_an_explicit_source_when_deploying_a_repository_then_the_source_option_wins(
    api: FakeAdsApi, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "deploy", f"{repo}@v1", "--source", "git:https://example.org/x.git@v2",
        "--endpoint", api.url,
    )  # fmt: skip

    assert code == exit_codes.OK, err
    assert api.received[-1].body["source"] == {"git": "https://example.org/x.git", "ref": "v2"}


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("{repo}@main", "{repo}@main: no scripts/labspec.json at ref 'main'"),
        ("file://{repo}", "file://{repo}: no scripts/labspec.json at ref 'HEAD'"),
        ("{repo}@v9", "{repo}@v9: ref 'v9' not found in {repo}"),
        ("file://{repo}@v9", "file://{repo}@v9: ref 'v9' not found in file://{repo}"),
        ("file://{repo}/missing@v1", "file://{repo}/missing: not a git repository"),
        ("{plain}@v1", "{plain}: not a git repository"),
    ],
)
def test_given_an_unusable_repository_when_deployed_then_one_line_says_why_and_nothing_is_sent(
    api: FakeAdsApi,
    repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argument: str,
    message: str,
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    names = {"repo": repo, "plain": plain}

    code, out, err = run(capsys, "deploy", argument.format(**names), "--endpoint", api.url)

    assert code == exit_codes.INVALID_INPUT
    assert out == ""
    assert message.format(**names) in err
    assert len(err.strip().splitlines()) == 1
    assert not [r for r in api.received if r.method == "POST"]


def test_given_the_same_repository_when_planned_then_plan_reads_it_as_deploy_does(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "plan", f"{repo}@v1")
    assert code == exit_codes.OK, err
    assert "Hello Web v1" in out

    code, _, err = run(capsys, "plan", f"{repo}@main")
    assert code == exit_codes.INVALID_INPUT
    assert "no scripts/labspec.json at ref 'main'" in err


@pytest.mark.parametrize(
    ("argument", "split"),
    [
        ("https://example.org/lab.git@v1.2", ("https://example.org/lab.git", "v1.2")),
        ("https://user@example.org/lab.git", ("https://user@example.org/lab.git", None)),
        ("https://user@example.org/lab.git@main", ("https://user@example.org/lab.git", "main")),
        ("file:///srv/lab@feature/x", ("file:///srv/lab", "feature/x")),
        ("/srv/lab", ("/srv/lab", None)),
        ("/srv/lab@", ("/srv/lab@", None)),
    ],
)
def test_given_a_repository_argument_when_split_then_the_ref_is_what_follows_the_last_at(
    argument: str, split: tuple[str, str | None]
) -> None:
    assert split_ref(argument) == split
