"""Links and anchors: what resolves, what does not, and GitHub's anchor rules."""

import unittest

from checks.links import ROOT, anchors, broken_links, markdown_files

README = ROOT / "README.md"


def problems(planted):
    """What broken_links says of the README with one more line."""
    return [why for _, why in broken_links(README, README.read_text() + "\n" + planted + "\n")]


class Links(unittest.TestCase):
    def test_a_link_to_a_missing_file_is_refused(self):
        self.assertTrue(any("no file docs/nowhere.md" in why for why in problems("[gone](docs/nowhere.md)")))

    def test_an_anchor_no_heading_makes_is_refused_here_and_in_another_file(self):
        for planted in ("[gone](#no-such-heading)", "[gone](docs/deploy.md#no-such-heading)"):
            with self.subTest(planted=planted):
                self.assertTrue(any("no heading makes the anchor" in why for why in problems(planted)))

    def test_links_that_resolve_and_web_links_pass(self):
        for planted in ("[ok](docs/deploy.md)", "[ok](https://example.com/x#y)", "[ok](mailto:a@b.c)"):
            with self.subTest(planted=planted):
                self.assertEqual(problems(planted), [])

    def test_links_inside_fenced_code_are_not_links(self):
        self.assertEqual(problems("```\n[gone](docs/nowhere.md)\n```"), [])

    def test_anchors_follow_github_lowercase_punctuation_dropped_repeats_numbered(self):
        text = "# Quick start\n## `scripts/dev`: the pipeline\n## Repeat\n## Repeat\n```\n# not a heading\n```\n"
        self.assertEqual(anchors(text), {"quick-start", "scriptsdev-the-pipeline", "repeat", "repeat-1"})

    def test_the_project_docs_resolve(self):
        for path in markdown_files():
            with self.subTest(path=str(path.relative_to(ROOT))):
                self.assertEqual(list(broken_links(path, path.read_text())), [])


if __name__ == "__main__":
    unittest.main()
