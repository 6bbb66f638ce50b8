"""The README and docs/ explain the repository from a clone: every relative link they make
points to a file in the repository (and every `#anchor` to a heading of its page)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

from mss_settings.registry import ROOT

# [text](target) and [text](target "title"); images too. Reference definitions: [x]: target
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.MULTILINE)
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
CODE_SPAN = re.compile(r"(`+).+?\1")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:


def _prose_lines(text: str, *, blank_code: bool = True) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked (links shown
    as code are examples, not links)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(CODE_SPAN.sub("", line) if blank_code else line)
    return lines


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found: set[str] = set()
    for line in _prose_lines(text, blank_code=False):
        match = HEADING.match(line)
        if match is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(2).strip().lower()).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in found:
            n += 1
            candidate = f"{slug}-{n}"
        found.add(candidate)
    return found


def links(text: str) -> list[str]:
    prose = "\n".join(_prose_lines(text))
    return INLINE_LINK.findall(prose) + REFERENCE.findall(prose)


def repository_files(root: Path) -> set[str]:
    """What a clone holds once this tree is committed: tracked and not-ignored files."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return {name for name in listed if (root / name).is_file()}


def resolve(source: str, relative: str) -> str | None:
    """`relative` as seen from the page `source`, repo-relative; None outside the repo."""
    parts: list[str] = []
    for part in (PurePosixPath(source).parent / relative).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def broken_links(source: str, text: str, files: set[str], pages: dict[str, str]) -> list[str]:
    """The links of `source` (a repo-relative .md path) that lead nowhere in the repository.

    `pages` maps repo-relative .md paths to their text, for checking anchors.
    """
    directories = {str(parent) for name in files for parent in PurePosixPath(name).parents}
    problems = []
    for target in links(text):
        if EXTERNAL.match(target):
            continue
        path_part, _, fragment = target.partition("#")
        if not path_part:
            if fragment not in anchors(text):
                problems.append(f"{source}: {target} names no heading of this page")
            continue
        if path_part.startswith("/"):
            problems.append(f"{source}: {target} is an absolute path, not a repository link")
            continue
        resolved = resolve(source, path_part)
        if resolved is None or (resolved not in files and resolved not in directories):
            problems.append(f"{source}: {target} is not a file of the repository")
        elif fragment and resolved in pages and fragment not in anchors(pages[resolved]):
            problems.append(f"{source}: {target} names no heading of {resolved}")
    return problems


def _pages() -> dict[str, str]:
    sources = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return {str(path.relative_to(ROOT)): path.read_text(encoding="utf-8") for path in sources}


def test_every_relative_link_in_the_readme_and_docs_points_into_the_repository() -> None:
    pages = _pages()
    files = repository_files(ROOT)

    problems = [
        problem
        for source, text in pages.items()
        for problem in broken_links(source, text, files, pages)
    ]

    assert "docs/architecture.md" in pages
    assert sum(len(links(text)) for text in pages.values()) > 10  # the check is not vacuous
    assert not problems, "\n".join(problems)


def test_the_check_refuses_missing_files_outside_paths_and_unknown_anchors() -> None:
    files = {"docs/api.md", "docs/openapi/identity.json", "README.md"}
    pages = {"docs/api.md": "# API\n\n## OpenAPI documents\n", "README.md": "# Top\n"}
    text = "\n".join(
        [
            "[ok](api.md#openapi-documents) [dir](openapi/) [up](../README.md#top)",
            "[web](https://example.com/x.md) [self](#guide)",
            "## Guide",
            "`[in code](nowhere.md)`",
            "```",
            "[fenced](nowhere.md)",
            "```",
            "[gone](missing.md) [shared](/work/shared/API.md) [out](../../outside.md)",
            "[anchor](api.md#no-such-heading) [here](#nothing)",
            "[ref]: ../docs/gone.md",
        ]
    )

    problems = broken_links("docs/guide.md", text, files, pages)

    assert len(problems) == 6, problems
    for expected in (
        "missing.md",
        "/work/shared/API.md",
        "../../outside.md",
        "api.md#no-such-heading",
        "#nothing",
        "../docs/gone.md",
    ):
        assert any(f" {expected} " in problem for problem in problems), (expected, problems)


def test_anchors_follow_githubs_rules() -> None:
    text = "# Tenancy and RLS\n## `mss_service.Runtime`\n## Overview\n## Overview\n"

    assert anchors(text) == {"tenancy-and-rls", "mss_serviceruntime", "overview", "overview-1"}
