"""Checks that every relative link in the project's Markdown resolves: the file exists, and
the anchor (#...) names a heading of it, as GitHub makes anchors from headings.

  scripts/check-links [FILE...]     check (default: README.md, docs/*.md, and every README
                                    under shared/ and functions/)
"""

import re
import sys
from pathlib import Path

from checks import arguments, help_asked, report

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def markdown_files():
    return [ROOT / "README.md", *sorted(ROOT.glob("docs/**/*.md")), *sorted(ROOT.glob("shared/**/README.md")),
            *sorted(ROOT.glob("functions/**/README.md"))]


def prose_lines(text):
    """(number, line) outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def anchors(text):
    """The anchors GitHub gives a document's headings (lowercase, punctuation dropped,
    spaces to hyphens, -1, -2 ... for repeats)."""
    seen, found = {}, set()
    for _, line in prose_lines(text):
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower().replace("`", "")).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken_links(path, text, read=lambda p: p.read_text()):
    for number, line in prose_lines(text):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):
                continue  # http:, https:, mailto:
            file_part, _, anchor = target.partition("#")
            destination = (path.parent / file_part).resolve() if file_part else path
            if file_part and not destination.exists():
                shown = destination.relative_to(ROOT) if destination.is_relative_to(ROOT) else destination
                yield number, f"{target}: no file {shown}"
                continue
            if anchor and destination.suffix == ".md" and anchor not in anchors(read(destination)):
                yield number, f"{target}: no heading makes the anchor #{anchor}"


def main():
    if help_asked(__doc__):
        return 0
    files = [Path(a).resolve() for a in arguments()] or markdown_files()
    problems = [f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{number}: {why}"
                for path in files for number, why in broken_links(path, path.read_text())]
    return report(problems, f"{len(problems)} broken link(s)",
                  f"{len(files)} Markdown files: every relative link and anchor resolves")


if __name__ == "__main__":
    sys.exit(main())
