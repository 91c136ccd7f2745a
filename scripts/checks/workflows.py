"""Checks the GitHub Actions workflows against the rules of this repository's deploy pipeline.

zizmor (run beside this in scripts/test) audits the workflows for the known classes of
weakness; these are the project's own rules, which a generic linter cannot know:

- no workflow_run or pull_request_target trigger: both run with the base repository's
  secrets on behalf of code from a pull request (a fork's branch named main included);
- every action is pinned to a full commit SHA, its version in a comment beside it;
- every job has timeout-minutes and its own permissions, and the workflow grants none;
- checkout never leaves the token in .git (persist-credentials: false);
- the only job that can reach production (id-token: write, or secrets) runs after the
  tests, only on a push to main, in the production environment, never cancelled halfway,
  and reads no secret: its credentials come from Workload Identity Federation alone
  (a secret, such as a Pulumi access token, is long-lived and outlives any condition);
- an identity token the deploy mints for read names an audience read accepts: one of the
  `customAudiences` of pulumi/Pulumi.yaml's read service (else the smoke test that ends
  every deploy is refused, 401, after a good `up`).

  scripts/check-workflows [WORKFLOW_DIR]    check (default: .github/workflows)

It runs with the Python of .venv, found by itself (scripts/test installs PyYAML there).
"""

import re
import sys
from pathlib import Path

from checks import arguments, help_asked, report

ROOT = Path(__file__).resolve().parents[2]

try:
    import yaml
except ImportError:
    # Run as it is: PyYAML lives in the project's .venv, so go on with its Python.
    import os

    venv = ROOT / ".venv"
    if (venv / "bin" / "python").exists() and Path(sys.prefix).resolve() != venv.resolve():
        os.execv(venv / "bin" / "python", [str(venv / "bin" / "python"), sys.argv[0], *sys.argv[1:]])
    sys.exit("error: PyYAML is not installed; scripts/bootstrap installs it into .venv, which this "
             "script then uses by itself")

FORBIDDEN_TRIGGERS = {
    "workflow_run": "its branches filter matches the head branch of the triggering run, so a fork's branch "
                    "named main would deploy with production credentials",
    "pull_request_target": "it runs with the base repository's secrets on behalf of a pull request",
}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+)*\b")
PUSH_TO_MAIN = ("github.event_name == 'push'", "github.ref == 'refs/heads/main'")


def triggers(workflow):
    # PyYAML reads the bare key `on` as the boolean True.
    on = workflow.get("on", workflow.get(True)) or {}
    if isinstance(on, str):
        return {on}
    return set(on)


def reaches_production(job):
    permissions = job.get("permissions") or {}
    return permissions.get("id-token") == "write" or "secrets." in yaml.safe_dump(job)


def read_audiences():
    """The custom audiences pulumi/Pulumi.yaml gives the read service."""
    program = yaml.safe_load((ROOT / "pulumi" / "Pulumi.yaml").read_text())
    for resource in (program.get("resources") or {}).values():
        props = resource.get("properties") or {}
        if resource.get("type") == "gcp:cloudrunv2:Service" and props.get("name") == "read":
            return set(props.get("customAudiences") or [])
    return set()


def check(path, workflow, text):
    errors = []

    def error(message):
        errors.append(f"{path}: {message}")

    for trigger in sorted(triggers(workflow) & set(FORBIDDEN_TRIGGERS)):
        error(f"on.{trigger}: {FORBIDDEN_TRIGGERS[trigger]}")
    if workflow.get("permissions") not in ({}, None) or "permissions" not in workflow:
        error("the workflow must grant no permissions (permissions: {}); each job asks for its own")

    comments = {}
    for line in text.splitlines():
        match = re.match(r"\s*-?\s*uses:\s*(\S+)(.*)$", line)
        if match:
            comments[match.group(1)] = match.group(2)

    for name, job in (workflow.get("jobs") or {}).items():
        where = f"jobs.{name}"
        if "timeout-minutes" not in job:
            error(f"{where}: set timeout-minutes (the default is six hours)")
        if "permissions" not in job:
            error(f"{where}: give the job its own permissions")
        for index, step in enumerate(job.get("steps") or []):
            uses = step.get("uses")
            if not uses or uses.startswith("./"):
                continue
            if not PINNED.match(uses):
                error(f"{where}.steps[{index}]: {uses} must be pinned to a full commit SHA (a tag can be moved)")
            elif not VERSION_COMMENT.search(comments.get(uses, "")):
                error(f"{where}.steps[{index}]: {uses} needs its version in a comment (# vX.Y.Z)")
            if uses.startswith("actions/checkout@") and (step.get("with") or {}).get("persist-credentials") is not False:
                error(f"{where}.steps[{index}]: checkout must set persist-credentials: false")
        if reaches_production(job):
            condition = str(job.get("if", ""))
            for clause in PUSH_TO_MAIN:
                if clause not in condition:
                    error(f"{where}: can reach production, so its `if` must require {clause}")
            if not job.get("needs"):
                error(f"{where}: can reach production, so it must need the tests (needs: test)")
            environment = job.get("environment")
            environment = environment.get("name") if isinstance(environment, dict) else environment
            if environment != "production":
                error(f"{where}: can reach production, so it must run in the production environment")
            if (job.get("concurrency") or {}).get("cancel-in-progress") is not False:
                error(f"{where}: a deploy must not be cancelled halfway (concurrency.cancel-in-progress: false)")
            for index, step in enumerate(job.get("steps") or []):
                audience = (step.get("with") or {}).get("id_token_audience")
                if audience is not None and audience not in read_audiences():
                    error(f"{where}.steps[{index}]: id_token_audience {audience!r} is none of read's customAudiences "
                          f"in pulumi/Pulumi.yaml ({sorted(read_audiences())}): read would refuse the token")
            for secret in sorted(set(re.findall(r"secrets\.(\w+)", yaml.safe_dump(job)))):
                error(f"{where}: can reach production, so it reads no secret ({secret}): a long-lived credential; "
                      "its credentials come from Workload Identity Federation (docs/deploy.md)")
    return errors


def load(directory):
    files = sorted(Path(directory).glob("*.y*ml"))
    return [(path, yaml.safe_load(path.read_text()), path.read_text()) for path in files]


def main():
    if help_asked(__doc__):
        return 0
    directory = (arguments() or [ROOT / ".github" / "workflows"])[0]
    workflows = load(directory)
    if not workflows:
        sys.exit(f"no workflows in {directory}")
    errors = [e for path, workflow, text in workflows for e in check(path, workflow, text)]
    return report([f"error: {e}" for e in errors], f"{len(errors)} problem(s) in {directory}",
                  f"{directory}: {len(workflows)} workflow(s): triggers, pins, timeouts, permissions and the deploy "
                  "gate check out")


if __name__ == "__main__":
    sys.exit(main())
