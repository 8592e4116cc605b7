"""The documentation a reader navigates: every relative link and anchor resolves (GitHub's heading slugs), the
workflows' references to a page's heading name one that exists, and the README stays a short front page."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tests.support.project import PROJECT

PAGES = sorted([PROJECT / "README.md", PROJECT / "migrations" / "README.md", *(PROJECT / "docs").rglob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+?)\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
REFERENCE = re.compile(r"\(((?:README|docs/[a-z-]+)\.md|README): \"([^\"]+)\"\)")  # in workflow comments


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but hyphens and spaces dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor of a page, a repeated heading's as GitHub numbers them (-1, -2, …)."""
    seen: Counter[str] = Counter()
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        slug = github_slug(heading)
        found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto: — not ours to check offline
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target} (no such heading)")
    return broken


def test_every_relative_link_and_anchor_resolves() -> None:
    assert len(PAGES) >= 5
    broken = {page.relative_to(PROJECT).as_posix(): broken_links(page) for page in PAGES}
    assert {page: links for page, links in broken.items() if links} == {}


def test_the_slug_rule_matches_githubs() -> None:
    assert github_slug("Each file as `psql -f` would run it") == "each-file-as-psql--f-would-run-it"
    assert github_slug("On-call: alarms, metrics, dashboard") == "on-call-alarms-metrics-dashboard"
    assert github_slug("Restore from a pre-migration snapshot") == "restore-from-a-pre-migration-snapshot"


def test_the_workflows_name_headings_that_exist() -> None:
    references = [
        (workflow.name, page, heading)
        for workflow in sorted((PROJECT / ".github" / "workflows").glob("*.yml"))
        for page, heading in REFERENCE.findall(workflow.read_text())
    ]
    assert references, "deploy.yml points at the pipeline-mode section"
    for workflow, page, heading in references:
        target = PROJECT / (page if page.endswith(".md") else f"{page}.md")
        assert github_slug(heading) in anchors(target), f"{workflow}: {page} has no heading {heading!r}"


def test_the_readme_is_a_short_front_page() -> None:
    readme = (PROJECT / "README.md").read_text()
    assert len(readme.encode()) < 15_000
    assert "make run" in readme and "make test" in readme
    linked = {target.partition("#")[0] for target in LINK.findall(readme)}
    assert {f"docs/{page.name}" for page in (PROJECT / "docs").glob("*.md")} <= linked
