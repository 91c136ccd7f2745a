"""The docs' gcloud commands: how they are found in the Markdown, and that the real gcloud
refuses a malformed one and lets a well-formed one through to its credential check."""

import os
import shutil
import time
import unittest

from checks.gcloud_docs import COMMAND_VALUES, SUBSTITUTED, check_commands, extract, parse_only_reason
from checks.links import ROOT

DOC = ROOT / "docs" / "planted.md"
GCLOUD = shutil.which("gcloud") is not None
# CI installs gcloud for the end-to-end tests, so there a missing gcloud fails rather than skips.
needs_gcloud = unittest.skipUnless(GCLOUD or os.environ.get("CI"), "gcloud is not installed")

# The line docs/deploy.md had: gcloud splits a dict flag's value on its commas.
COMMA_CONDITION = (
    "--condition=\"title=pipeline-roles-only,expression=api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', "
    "[]).hasOnly(['roles/cloudsql.client', 'roles/eventarc.serviceAgent'])\"")
# The same condition with gcloud's alternate delimiter (gcloud topic escaping).
DELIMITED_CONDITION = (
    "--condition=\"^:^title=pipeline-roles-only:expression=api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', "
    "[]).hasOnly(['roles/cloudsql.client', 'roles/eventarc.serviceAgent'])\"")
BINDING = "gcloud projects add-iam-policy-binding $PROJECT --role roles/resourcemanager.projectIamAdmin \\\n" \
          "  --member serviceAccount:$DEPLOYER \\\n  {}\n"


def markdown(*blocks, language="sh"):
    return "\n".join(f"Text.\n\n```{language}\nPROJECT=my-project DEPLOYER=d@my-project.iam.gserviceaccount.com\n"
                     f"{block}```\n" for block in blocks)


def commands(text):
    found, problems = extract(DOC, text)
    return [c.args for c in found], problems


class Extraction(unittest.TestCase):
    def test_continuations_join_and_variables_take_the_docs_values(self):
        found, problems = commands(markdown(BINDING.format("--condition=None")))
        self.assertEqual(problems, [])
        self.assertEqual(found, [["projects", "add-iam-policy-binding", "my-project", "--role",
                                  "roles/resourcemanager.projectIamAdmin", "--member",
                                  "serviceAccount:d@my-project.iam.gserviceaccount.com", "--condition=None"]])

    def test_commands_in_loops_substitutions_and_chains_are_found(self):
        block = ("NUMBER=$(gcloud projects describe $PROJECT --format 'value(projectNumber)')\n"
                 "read -r REPO_ID OWNER_ID < <(gcloud auth print-access-token | python3 -c 'print(1, 2)')\n"
                 "for role in run.admin \\\n    pubsub.admin; do  # a comment: gcloud nothing\n"
                 "  gcloud projects add-iam-policy-binding $PROJECT --role roles/$role --member user:$REPO_ID\n"
                 "done\n"
                 "gcloud auth login && curl -H \"Bearer $(gcloud auth print-identity-token)\" x || gcloud info\n"
                 "cat > condition.yaml <<'EOF'\ngcloud inside a here-document\nEOF\n"
                 "gcloud iam x --n $NUMBER --o \"$(date)\"\n")
        found, problems = commands(markdown(block))
        self.assertEqual(problems, [])
        self.assertEqual(found, [
            ["projects", "describe", "my-project", "--format", "value(projectNumber)"],
            ["auth", "print-access-token"],
            ["projects", "add-iam-policy-binding", "my-project", "--role", "roles/run.admin", "--member",
             f"user:{COMMAND_VALUES['REPO_ID']}"],
            ["auth", "login"], ["auth", "print-identity-token"], ["info"],
            ["iam", "x", "--n", COMMAND_VALUES["NUMBER"], "--o", SUBSTITUTED],
        ])

    def test_a_variable_without_a_value_is_refused_not_emptied(self):
        _, problems = commands(markdown("gcloud projects describe $NO_SUCH_VARIABLE\n"))
        self.assertTrue(any("$NO_SUCH_VARIABLE has no value" in p for p in problems), problems)

    def test_a_gcloud_command_outside_a_shell_block_is_refused(self):
        _, problems = commands(markdown("gcloud projects describe my-project\n", language="text"))
        self.assertTrue(any("```text block" in p for p in problems), problems)

    def test_blocks_of_other_languages_are_not_shell(self):
        self.assertEqual(commands("```mermaid\nP -->|gcloud pubsub topics publish| T\n```\n"), ([], []))

    def test_interactive_and_installing_commands_are_only_parsed(self):
        for args in (["auth", "login"], ["auth", "application-default", "login", "--no-browser"], ["init"],
                     ["components", "install", "alpha"]):
            self.assertIsNotNone(parse_only_reason(args), args)
        self.assertIsNone(parse_only_reason(["auth", "print-access-token"]))


@needs_gcloud
class RealGcloud(unittest.TestCase):
    def problems(self, *blocks):
        found, problems = extract(DOC, markdown(*blocks))
        self.assertEqual(problems, [])
        return check_commands(found)

    def test_a_malformed_command_fails_on_its_arguments_and_a_well_formed_one_passes(self):
        failed = self.problems(BINDING.format(COMMA_CONDITION))
        self.assertEqual(len(failed), 1, failed)
        self.assertIn("argument --condition: valid keys are", failed[0])
        self.assertIn("docs/planted.md:", failed[0])
        self.assertEqual(self.problems(BINDING.format(DELIMITED_CONDITION)), [])

    def test_a_flag_gcloud_does_not_know_fails(self):
        failed = self.problems("gcloud iam service-accounts create pipeline-deployer --project $PROJECT --no-such-flag\n")
        self.assertTrue(failed and "unrecognized arguments: --no-such-flag" in failed[0], failed)

    def test_parsed_only_commands_are_parsed_and_never_wait_for_a_person(self):
        started = time.monotonic()
        self.assertEqual(self.problems("gcloud auth login && gcloud auth application-default login\n"), [])
        self.assertLess(time.monotonic() - started, 30)
        failed = self.problems("gcloud auth login --no-such-flag\n")
        self.assertTrue(failed and "unrecognized arguments: --no-such-flag" in failed[0], failed)


if __name__ == "__main__":
    unittest.main()
