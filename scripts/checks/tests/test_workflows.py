"""The deploy pipeline's rules: the repository's workflows pass, and each broken copy fails
with an error that says why."""

import copy
import unittest

from checks.workflows import ROOT, check, load

WORKFLOWS = load(ROOT / ".github" / "workflows")


def deploy(w):
    return w["jobs"]["deploy"]


def unpin(w):
    step = next(s for s in deploy(w)["steps"] if "google-github-actions/auth" in s.get("uses", ""))
    step["uses"] = "google-github-actions/auth@v3"


# name -> (what breaks the copy, words its error must hold)
BROKEN_COPIES = {
    "deploy on workflow_run (fork branches named main)": (
        lambda w: w.__setitem__("on", {"workflow_run": {"workflows": ["ci"], "types": ["completed"],
                                                        "branches": ["main"]}}), "workflow_run"),
    "deploy on a pull request": (
        lambda w: deploy(w).__setitem__("if", "github.ref == 'refs/heads/main'"), "github.event_name"),
    "deploy before the tests": (lambda w: deploy(w).pop("needs"), "need the tests"),
    "deploy outside the production environment": (lambda w: deploy(w).pop("environment"), "environment"),
    "cancellable deploy": (lambda w: deploy(w).pop("concurrency"), "cancelled halfway"),
    "action pinned by tag": (unpin, "full commit SHA"),
    "job without a timeout": (lambda w: w["jobs"]["test"].pop("timeout-minutes"), "timeout-minutes"),
    "workflow-wide permissions": (
        lambda w: w.__setitem__("permissions", {"contents": "write"}), "grant no permissions"),
    "a long-lived Pulumi token in the deploy": (
        lambda w: next(s for s in deploy(w)["steps"] if s.get("name") == "scripts/deploy")["env"].__setitem__(
            "PULUMI_ACCESS_TOKEN", "${{ secrets.PULUMI_ACCESS_TOKEN }}"), "reads no secret (PULUMI_ACCESS_TOKEN)"),
    "a smoke-test token for an audience read does not accept": (
        lambda w: next(s for s in deploy(w)["steps"] if s.get("id") == "smoke-token")["with"].__setitem__(
            "id_token_audience", "https://read.example"), "none of read's customAudiences"),
    "checkout that keeps the token": (
        lambda w: w["jobs"]["test"]["steps"][0]["with"].pop("persist-credentials"), "persist-credentials"),
}


class Workflows(unittest.TestCase):
    def test_the_repository_workflows_pass(self):
        self.assertTrue(WORKFLOWS)
        for path, workflow, text in WORKFLOWS:
            with self.subTest(workflow=path.name):
                self.assertEqual(check(path, workflow, text), [])

    def test_each_broken_copy_fails_saying_why(self):
        path, workflow, text = next(w for w in WORKFLOWS if "deploy" in (w[1].get("jobs") or {}))
        for name, (change, expected) in BROKEN_COPIES.items():
            with self.subTest(name):
                broken = copy.deepcopy(workflow)
                change(broken)
                errors = check(path, broken, text)
                self.assertTrue(any(expected in e for e in errors), errors)


if __name__ == "__main__":
    unittest.main()
