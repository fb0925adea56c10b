"""The documentation has no dead link, and the README stays a first page.

README.md is read on GitHub; docs/*.md on GitHub and as the mkdocs site, so a link into
docs/ must name a heading as both spell its anchor (GitHub's rule below, mkdocs' through
the ``toc`` extension it uses). ``make docs`` builds the site with ``--strict``; these
checks run in the unit tier so that moving a section never leaves a link behind.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

import markdown
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
README_MAX_LINES = 300

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+).+?\1")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """Lines outside fenced code, inline code blanked out, with their numbers."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, _INLINE_CODE.sub("", line)))
    return lines


def _links(path: Path) -> list[tuple[int, str]]:
    return [
        (number, target)
        for number, line in _prose_lines(path.read_text(encoding="utf-8"))
        for target in _LINK.findall(line)
    ]


def _unique(slugs: list[str], separator: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for slug in slugs:
        if slug in seen:
            seen[slug] += 1
            out.add(f"{slug}{separator}{seen[slug]}")
        else:
            seen[slug] = 0
            out.add(slug)
    return out


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


@cache
def github_anchors(path: Path) -> frozenset[str]:
    lines, fenced, slugs = path.read_text(encoding="utf-8").splitlines(), False, []
    for line in lines:
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := _HEADING.match(line)):
            slugs.append(github_slug(match.group(2)))
    return frozenset(_unique(slugs, "-"))


@cache
def mkdocs_anchors(path: Path) -> frozenset[str]:
    md = markdown.Markdown(extensions=["toc", "tables", "fenced_code"])
    md.convert(path.read_text(encoding="utf-8"))
    ids: set[str] = set()

    def walk(tokens: list[dict]) -> None:
        for token in tokens:
            ids.add(token["id"])
            walk(token["children"])

    walk(md.toc_tokens)
    return frozenset(ids)


def _problem(page: Path, target: str) -> str | None:
    if _SCHEME.match(target) or target.startswith("//"):
        return None  # a web address: not this repository's to keep
    path_part, _, anchor = target.partition("#")
    resolved = (page.parent / path_part).resolve() if path_part else page
    if not resolved.exists():
        return f"{target}: no such file {os.path.relpath(resolved, ROOT)}"
    in_site = page.parent == DOCS
    if in_site and not resolved.is_relative_to(DOCS):
        return f"{target}: leaves docs/, which the mkdocs site cannot follow"
    if not anchor:
        return None
    if resolved.suffix != ".md":
        return f"{target}: an anchor into a file that is not Markdown"
    if anchor not in github_anchors(resolved):
        return f"{target}: no heading of {resolved.name} has the GitHub anchor #{anchor}"
    if resolved.is_relative_to(DOCS) and anchor not in mkdocs_anchors(resolved):
        return f"{target}: no heading of {resolved.name} has the mkdocs anchor #{anchor}"
    return None


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_given_a_page_when_its_relative_links_are_followed_then_each_names_a_file_and_heading(
    page: Path,
):
    problems = [
        f"{page.relative_to(ROOT)}:{number}: {problem}"
        for number, target in _links(page)
        if (problem := _problem(page, target))
    ]

    assert problems == []


def test_given_the_readme_when_counted_then_it_is_at_most_300_lines():
    lines = README.read_text(encoding="utf-8").count("\n")

    assert lines <= README_MAX_LINES


def test_given_the_docs_folder_when_listed_then_mkdocs_nav_names_every_page():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    named = set(re.findall(r"^\s*-\s*(?:[^:\n]+:\s*)?([\w./-]+\.md)\s*$", config, re.MULTILINE))

    assert named == {p.name for p in DOCS.glob("*.md")}


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("`ads local up | status | down`", "ads-local-up--status--down"),
        ("Labspecs and `ads plan`", "labspecs-and-ads-plan"),
        ("The tests/aws tier (a real account)", "the-testsaws-tier-a-real-account"),
        ("Opening a lab in a browser: `lab_access`", "opening-a-lab-in-a-browser-lab_access"),
    ],
)
def test_given_a_heading_when_slugged_the_github_way_then_it_matches_githubs_anchor(
    heading: str, anchor: str
):
    assert github_slug(heading) == anchor


def test_given_a_link_to_a_missing_heading_when_checked_then_it_is_reported(tmp_path: Path):
    target = DOCS / "local.md"

    assert _problem(target, "#no-such-heading-anywhere") is not None
    assert _problem(target, "no-such-page.md") is not None
    assert _problem(README, "docs/local.md") is None
