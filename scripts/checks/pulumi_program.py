"""Checks the Pulumi YAML program offline, as strictly as the provider SDKs allow.

There is no Pulumi CLI and no GCP access here, so the program is checked against the typed
input and output classes that the pulumi-gcp and pulumi-docker-build Python SDKs carry:

- every resource type token exists;
- every property, nested ones included, exists on its input type; required ones are present;
- every ${...} reference resolves: to a config key, a variable, an invoke result's field, or a
  resource's output;
- the IAM wiring holds: the function the Eventarc trigger targets has no allUsers (or
  allAuthenticatedUsers) invoker and does not disable the invoker check, and the trigger's
  service account has run.invoker on it;
- the database password is a secret config value, not in the stack file, not an output;
- every resource's final name (explicit, or what autonaming makes of its logical name) obeys
  its resource type's naming rule;
- every resource and invoke pins the provider version that this check ran against;
- a fresh project works: the Eventarc and Pub/Sub service agents are created, the Eventarc
  agent's role is granted, and the trigger waits for it to propagate;
- least privilege: no project-wide roles beyond the few listed, token creation granted on
  the trigger's account only, secrets read at a pinned version;
- teardown completes: the SQL user and database are abandoned, not dropped;
- nothing is lost: the trigger's subscription gets a dead-letter topic that a subscription
  keeps, the roles Pub/Sub needs for it, and an ack deadline no shorter than ingest's timeout;
- images carry the git revision beside `latest`, share a registry build cache, and the
  registry has a cleanup policy;
- operations: ingest keeps delivery keys longer than the subscription keeps messages; a
  log-based metric counts the dead-letter line the Rust source really logs, and alerts at
  the first one; ingest's 5xx rate and the database disk are watched; the email channel is
  made only when alertEmail is set, added to every policy, and kept by them;
- CI's deployer can run it: it may neither enable APIs nor create service accounts, so the
  owner's setup in docs/deploy.md (the shell blocks of "Deploy from GitHub Actions") enables
  every API and creates every account the program declares, and each account is adopted
  (createIgnoreAlreadyExists);
- the functions' logins inside PostgreSQL: each service logs in as one of its function's two
  logins (slots A and B of shared/db/src/roles.rs) with the password the migrate job sets on
  that same login (same secret, same version), never as the owner; the job sets every login's
  password; each function's account may read its own logins' secrets only, and every account
  may read the secrets it is given; the services wait for the migrations;
- every shape: each combination of the indexes of the program's fn::select values (the
  database's connectivity, dbConnectivity; the functions' login slot, dbLoginSlot) is checked
  in full, as Pulumi would evaluate it (a null property is an unset one). Each index is a
  number config value (an integer one fails at runtime) within every selection's options, in
  the defaults and every stack file; one connectivity shape has no public IP; a
  private instance has ipv4Enabled false, and every service and job that opens its socket has
  Direct VPC egress into its network (PRIVATE_RANGES_ONLY, no connector); a public one gives
  none of them a vpcAccess (there is no network);
- the network program (PROGRAM_DIR/network, run by the owner for private stacks): the same
  type, property, reference, name and version checks, a custom-mode network and a subnet of
  /26 or more with the main program's default names and region, private services access (a
  VPC_PEERING range and a servicenetworking peering on it, abandoned on destroy), and its APIs
  enabled by the owner's commands in docs/deploy.md's "Private IP" section.

  scripts/check-pulumi [PROGRAM_DIR]      check (default: pulumi/, and pulumi/network/)

It runs with the Python of .venv, found by itself (scripts/bootstrap installs the SDKs there).
"""

import copy
import importlib
import importlib.metadata
import inspect
import itertools
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

from checks import arguments, help_asked, report
from checks.gcloud_docs import SHELL_LANGUAGES, fenced_blocks

ROOT = Path(__file__).resolve().parents[2]

try:
    import pulumi
    import yaml
    from pulumi._types import input_type_py_to_pulumi_names, resource_py_to_pulumi_names
except ImportError as missing:
    # --help needs none of it: answered at once, with or without .venv.
    if help_asked(__doc__):
        sys.exit(0)
    # Run as it is (python3 scripts/check-pulumi, or ./scripts/check-pulumi): the SDKs live in
    # the project's .venv, so go on with its Python when there is one.
    venv = ROOT / ".venv"
    if (venv / "bin" / "python").exists() and Path(sys.prefix).resolve() != venv.resolve():
        os.execv(venv / "bin" / "python", [str(venv / "bin" / "python"), sys.argv[0], *sys.argv[1:]])
    sys.exit(f"error: {missing}: the Pulumi SDKs are not installed; scripts/bootstrap installs them "
             "into .venv, which this script then uses by itself")

# Loading a module of an SDK runs its warnings about members the program may never use
# (pulumi_gcp.monitoring: getSecretVersion is deprecated); they are not findings of this check.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_(gcp|docker_build|command|random)\.")

PACKAGES = {"gcp": "pulumi_gcp", "docker-build": "pulumi_docker_build", "command": "pulumi_command",
            "random": "pulumi_random"}
DISTRIBUTIONS = {"gcp": "pulumi-gcp", "docker-build": "pulumi-docker-build", "command": "pulumi-command",
                 "random": "pulumi-random"}
REFERENCE = re.compile(r"\$\{([^}]*)\}")
PULUMI_BUILTINS = {"project", "stack", "cwd", "organization", "rootDirectory"}
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
TRIGGER_EVENT = "google.cloud.pubsub.topic.v1.messagePublished"

# Autonaming as pulumi-gcp's provider/resources.go sets it up: SetAutonaming(255, "-") gives
# every resource with a string `name` input "<logical name>-<7 hex digits>", case kept (so
# a camelCase logical name gives an invalid Cloud SQL instance id: pulumi-gcp issue 2164).
# These types override that: field, maximum length, transform.
AUTONAMING = {
    "gcp:cloudrunv2:Service": ("name", 50, str.lower),
    "gcp:serviceaccount:Account": ("accountId", 30, None),
    "gcp:secretmanager:Secret": ("secretId", 255, None),
}
# Required ids that are never autonamed.
NAME_FIELDS = {"gcp:artifactregistry:Repository": "repositoryId"}
AUTONAME_SUFFIX = "-1a2b3c4"
LOWER_DASHED = r"[a-z](?:[a-z0-9-]*[a-z0-9])?"
LOWER_DASHED_WORDS = "lowercase letters, digits and hyphens, starting with a letter, not ending with a hyphen"
PUBSUB_NAME = (r"(?!goog)[A-Za-z][A-Za-z0-9._~+%-]*", 3, 255,
               "3-255 characters: letters, digits, - _ . ~ + %, starting with a letter, not with 'goog'")
SQL_IDENTIFIER = (r"[A-Za-z_][A-Za-z0-9_]*", 1, 63, "a plain PostgreSQL identifier: letters, digits, underscores")
# GCP's naming rule per type: pattern, shortest, longest, the rule in words.
NAMING_RULES = {
    # The instance id and the project id (30 at most) with a colon: 98 characters at most.
    "gcp:sql:DatabaseInstance": (LOWER_DASHED, 1, 67, LOWER_DASHED_WORDS),
    "gcp:cloudrunv2:Service": (LOWER_DASHED, 1, 49, LOWER_DASHED_WORDS),
    "gcp:cloudrunv2:Job": (LOWER_DASHED, 1, 63, LOWER_DASHED_WORDS),
    "gcp:serviceaccount:Account": (LOWER_DASHED, 6, 30,
                                   "6-30 lowercase letters, digits and hyphens, starting with a letter"),
    "gcp:eventarc:Trigger": (LOWER_DASHED, 1, 63, LOWER_DASHED_WORDS),
    "gcp:artifactregistry:Repository": (LOWER_DASHED, 1, 63,
                                        "lowercase letters, digits and hyphens, starting with a letter"),
    "gcp:secretmanager:Secret": (r"[A-Za-z0-9_-]+", 1, 255, "letters, digits, hyphens and underscores"),
    "gcp:pubsub:Topic": PUBSUB_NAME,
    "gcp:pubsub:Subscription": PUBSUB_NAME,
    "gcp:sql:Database": SQL_IDENTIFIER,
    "gcp:sql:User": SQL_IDENTIFIER,
    "gcp:logging:Metric": (r"[A-Za-z0-9_.,+!*',()%/-]+", 1, 100,
                           "letters, digits and _ - . , + ! * ' ( ) % / (a slash makes a hierarchy)"),
    "gcp:logging:ProjectExclusion": (r"[A-Za-z0-9][A-Za-z0-9_.-]*", 1, 100,
                                     "letters, digits, underscores, hyphens and periods, starting with a letter or digit"),
    # Compute Engine's names (RFC 1035).
    "gcp:compute:Network": (LOWER_DASHED, 1, 63, LOWER_DASHED_WORDS),
    "gcp:compute:Subnetwork": (LOWER_DASHED, 1, 63, LOWER_DASHED_WORDS),
    "gcp:compute:GlobalAddress": (LOWER_DASHED, 1, 63, LOWER_DASHED_WORDS),
}
# The path of each HTTP function that reaches the database without a body, for its startup
# probe and its uptime check (and the routes file that must still serve it).
DATABASE_PATHS = {"read": ("/data", "functions/read/src/routes.rs")}
MONITORING_AGENT = "gcp-sa-monitoring-notification.iam.gserviceaccount.com"
PROJECT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
EXAMPLE_STACK = "example-stack.yaml"
# Stack files with a placeholder project id, never a real one (see check_secrets).
EXAMPLE_STACKS = (EXAMPLE_STACK, "example-private-stack.yaml")
NETWORK_PROGRAM = "network"
SELECT = "fn::select"
WHOLE_REFERENCE = re.compile(r"\$\{\s*([\w-]+)\s*\}")
PRIVATE_EGRESS = "PRIVATE_RANGES_ONLY"
# Direct VPC egress asks for a subnet of /26 or more (Cloud Run reserves addresses 16 at a time).
LARGEST_RUN_SUBNET_PREFIX = 26
# Private services access asks for a range of /24 or more.
LARGEST_PEERING_PREFIX = 24
NETWORK_PATH = re.compile(r"projects/[^/]+/global/networks/[^/]+")
# Cloud SQL for PostgreSQL's default max_connections by the tier's memory (GB at least -> n).
MAX_CONNECTIONS = ((120, 500), (60, 400), (30, 300), (15, 250), (7.5, 200), (6, 150), (3.75, 100))
SHARED_CORE = {"db-f1-micro": 25, "db-g1-small": 50}
RESERVED_CONNECTIONS = 3  # superuser_reserved_connections
CONNECTION_HEADROOM = 3  # the migration job's connection, and two for an operator


# What the operator's dashboard must show.
DASHBOARD_METRICS = {
    "run.googleapis.com/request_count": "deliveries, stored and 5xx",
    "logging.googleapis.com/user/${deadLetterMetric.name}": "dead letters",
    "run.googleapis.com/request_latencies": "latency percentiles",
    "run.googleapis.com/container/instance_count": "instance counts",
    "cloudsql.googleapis.com/database/cpu/utilization": "Cloud SQL CPU",
    "cloudsql.googleapis.com/database/postgresql/num_backends": "database connections",
    "cloudsql.googleapis.com/database/disk/utilization": "the database disk",
}


def max_connections(tier):
    if tier in SHARED_CORE:
        return SHARED_CORE[tier]
    match = re.fullmatch(r"db-custom-(\d+)-(\d+)", tier)
    if not match:
        return None
    memory = int(match.group(2)) / 1024
    return next((n for floor, n in MAX_CONNECTIONS if memory >= floor), None)

# Project-wide roles the program may grant, and to whom; anything else is a finding.
PROJECT_ROLES = {
    "roles/cloudsql.client": "the functions' own accounts, to open the Cloud SQL socket",
    "roles/eventarc.serviceAgent": "the Eventarc service agent, which a fresh project may lack",
}
PROJECT_ROLE_FINDINGS = {
    "roles/iam.serviceAccountTokenCreator": "project-wide it lets the member act as every account in the project; "
                                            "grant it on the trigger's account only (gcp:serviceaccount:IAMMember)",
    "roles/eventarc.eventReceiver": "direct Pub/Sub events do not need it; the trigger's account needs only run.invoker",
    "roles/owner": "never grant a basic role",
    "roles/editor": "never grant a basic role",
}


def snake(name):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def module_of(token):
    parts = token.split(":")
    if len(parts) == 2:
        package, module, name = parts[0], "index", parts[1]
    elif len(parts) == 3:
        package, module, name = parts
    else:
        raise LookupError(f"malformed type token {token!r}")
    if package not in PACKAGES:
        raise LookupError(f"unknown package {package!r} in {token!r}")
    path = PACKAGES[package] + ("" if module == "index" else "." + module)
    try:
        return importlib.import_module(path), name
    except ImportError:
        raise LookupError(f"unknown module {module!r} in {token!r}") from None


def resource_class(token):
    module, name = module_of(token)
    cls = getattr(module, name, None)
    if not (inspect.isclass(cls) and issubclass(cls, pulumi.CustomResource)):
        raise LookupError(f"unknown resource type {token!r}")
    return cls, getattr(module, name + "Args")


def input_fields(cls):
    """pulumi name -> (annotation text, required?) for an input type or Args class."""
    names = input_type_py_to_pulumi_names(cls)
    parameters = inspect.signature(cls.__init__).parameters
    fields = {}
    for py_name, pulumi_name in names.items():
        prop = getattr(cls, py_name, None)
        annotation = str(prop.fget.__annotations__.get("return", "")) if isinstance(prop, property) else ""
        parameter = parameters.get(py_name)
        required = parameter is not None and parameter.default is inspect.Parameter.empty
        fields[pulumi_name] = (annotation, required)
    return fields


def nested_class(annotation, module):
    """The input type a property holds (or holds a list of), or None for scalars and maps."""
    if "Mapping[" in annotation.split("Args")[0] and "Args" not in annotation.split("Mapping[")[0]:
        return None
    match = re.search(r"'(\w+Args)'|\.(\w+Args)\b", annotation)
    if not match:
        return None
    name = match.group(1) or match.group(2)
    for candidate in (module, importlib.import_module(module.__name__.split(".")[0])):
        inputs = getattr(candidate, "_inputs", None)
        if inputs is not None and hasattr(inputs, name):
            return getattr(inputs, name)
        if hasattr(candidate, name):
            return getattr(candidate, name)
    return None


def output_names(cls):
    return set(resource_py_to_pulumi_names(cls).values()) | {"id", "urn"}


def output_getters(cls):
    """pulumi name -> the annotation of its getter, for a resource or an output type."""
    getters = {}
    for klass in cls.__mro__:
        for attr, value in vars(klass).items():
            if isinstance(value, property) and attr not in getters.values():
                name = getattr(value.fget, "_pulumi_name", None) or attr
                getters.setdefault(name, str(value.fget.__annotations__.get("return", "")))
    return getters


def missing_output(cls, path):
    """The first step of path (names and [index]es) that cls's outputs do not have, or None."""
    module = importlib.import_module(cls.__module__.rsplit(".", 1)[0])
    current = cls
    for step in path:
        if step.isdigit():
            continue
        getters = output_getters(current)
        if step not in getters:
            return step
        match = re.search(r"outputs\.(\w+)", getters[step])
        if not match:
            return None  # a scalar or a map: nothing further to check
        current = getattr(getattr(module, "outputs", module), match.group(1), None)
        if current is None:
            return None
    return None


def invoke_result_fields(token):
    module, name = module_of(token)
    function = getattr(module, snake(name), None)
    if function is None:
        raise LookupError(f"unknown function {token!r}")
    result = inspect.signature(function).return_annotation
    if isinstance(result, str):
        result = getattr(module, result.strip("'\""), None)
    if result is None or result is inspect.Signature.empty:
        raise LookupError(f"cannot read the result type of {token!r}")
    names = set()
    for klass in result.__mro__:
        for attr, value in vars(klass).items():
            if isinstance(value, property):
                names.add(getattr(value.fget, "_pulumi_name", None) or attr)
    return names


def dockerignore_regex(pattern):
    """A .dockerignore pattern as Docker's matcher reads it (moby/patternmatcher): Go's
    filepath.Match per segment, `**` across segments, a leading `/` ignored."""
    pattern = pattern.strip("/")
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i)
            body = pattern[i + 1:end].replace("\\", "\\\\")
            out, i = out + "[" + ("^" + body[1:] if body.startswith("^") else body) + "]", end + 1
            continue
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out)


def build_context(dockerignore, files):
    """The files of `files` (paths relative to the context) that the build context holds."""
    rules = []
    for line in dockerignore.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        rules.append((exclude, dockerignore_regex(line.lstrip("!").strip())))

    def excluded(path):
        parts = path.split("/")
        candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        verdict = False
        for exclude, regex in rules:
            # A pattern that matches a folder matches everything in it.
            if any(regex.fullmatch(c) for c in candidates):
                verdict = exclude
        return verdict

    return {f for f in files if not excluded(f)}


# What a checkout may hold beside the sources, and the build must never see.
CONTEXT_INTRUDERS = ("gha-creds-0123456789abcdef.json", "shared/gha-creds-0123456789abcdef.json", ".state/dev/env",
                     ".venv/bin/python", "README.md", ".github/workflows/ci.yml", "pulumi/Pulumi.prod.yaml",
                     "target/release/read", "docs/deploy.md", ".git/config")


def dockerfile_sources(dockerfile):
    """The context paths a Dockerfile's COPY and ADD lines take (not those --from a stage)."""
    sources = []
    for line in dockerfile.replace("\\\n", " ").splitlines():
        words = line.split()
        if len(words) < 3 or words[0].upper() not in ("COPY", "ADD"):
            continue
        if any(w.startswith("--from") for w in words[1:]):
            continue
        sources.extend(w for w in words[1:-1] if not w.startswith("--"))
    return sources


# --- shapes: a program's fn::select values, evaluated for each index --------------------------

def selections(node):
    """Every fn::select in node, as (index expression, options)."""
    if isinstance(node, dict):
        if set(node) == {SELECT} and isinstance(node[SELECT], list) and len(node[SELECT]) == 2:
            yield node[SELECT][0], node[SELECT][1]
        for value in node.values():
            yield from selections(value)
    elif isinstance(node, list):
        for value in node:
            yield from selections(value)


def shape_index(program):
    """({config key: number of options}, problems) of the program's fn::select values, or None
    when there are none. Each selection must be indexed by a number config value, and every
    selection by one key must offer as many options as the others by that key."""
    found = list(selections(program))
    if not found:
        return None
    config = program.get("config") or {}
    problems, counts = [], {}
    for index, options in found:
        match = WHOLE_REFERENCE.fullmatch(str(index))
        key = match.group(1) if match and match.group(1) in config else None
        if key is None:
            problems.append(f"fn::select index {index!r} must be ${{<config key>}}: a stack setting chooses the shape")
            continue
        if not isinstance(options, list):
            problems.append(f"fn::select over ${{{key}}}: the options must be a list written out, so each shape can be "
                            "checked")
            continue
        counts.setdefault(key, set()).add(len(options))
    for key, found_counts in sorted(counts.items()):
        if len(found_counts) > 1:
            problems.append(f"fn::select over ${{{key}}}: every selection must offer as many shapes as the others "
                            f"(found {', '.join(str(c) for c in sorted(found_counts))} options)")
        declared = config.get(key) or {}
        if str(declared.get("type", "")).lower() != "number":
            problems.append(f"config.{key}: must be declared type: number: Pulumi YAML's fn::select takes its index "
                            f"only as a number, and an integer-typed config value fails every preview with \"index "
                            f"must be a number, not an integer\" (found type {declared.get('type')!r})")
    return {key: min(c) for key, c in sorted(counts.items())}, problems


def index_problem(key, count, value):
    """Why value cannot choose one of count shapes, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if isinstance(value, bool) or number is None or number != int(number) or not 0 <= number < count:
        return f"{key} {value!r} must be a whole number from 0 to {count - 1}"
    return None


def expand(node, chosen, shaped):
    """node as Pulumi evaluates it when each config key of `chosen` is its index: each fn::select
    on it replaced by the chosen option, a property whose value is null dropped (providers take
    null for unset), and a whole ${variable} of a `shaped` variable replaced by its value."""
    if isinstance(node, dict):
        match = WHOLE_REFERENCE.fullmatch(str(node[SELECT][0])) if set(node) == {SELECT} and \
            isinstance(node[SELECT], list) and len(node[SELECT]) == 2 else None
        if match and match.group(1) in chosen and isinstance(node[SELECT][1], list):
            options, index = node[SELECT][1], chosen[match.group(1)]
            return expand(options[index], chosen, shaped) if index < len(options) else None
        expanded = {k: expand(v, chosen, shaped) for k, v in node.items()}
        return {k: v for k, v in expanded.items() if v is not None}
    if isinstance(node, list):
        return [expand(v, chosen, shaped) for v in node]
    if isinstance(node, str):
        match = WHOLE_REFERENCE.fullmatch(node)
        if match and match.group(1) in shaped:
            return copy.deepcopy(shaped[match.group(1)])
    return node


def shapes(program):
    """(label, the program as evaluated in that shape) for each shape, every combination of the
    fn::select keys' indexes (labelled by those that are not 0), and the problems of its
    fn::select values; one unlabelled shape when it has none."""
    found = shape_index(program)
    if found is None:
        return [("", program)], []
    counts, problems = found
    if not counts:
        return [("", program)], problems
    result = []
    for indexes in itertools.product(*(range(c) for c in counts.values())):
        chosen = dict(zip(counts, indexes, strict=True))
        variables = program.get("variables") or {}
        shaped = {name: expand(value, chosen, {}) for name, value in variables.items()
                  if isinstance(value, dict) and set(value) == {SELECT}}
        evaluated = expand({k: v for k, v in program.items() if k != "variables"}, chosen, shaped)
        evaluated["variables"] = {name: shaped.get(name, value) for name, value in variables.items()}
        label = ", ".join(f"{key} {index}" for key, index in chosen.items() if index) or \
            ", ".join(f"{key} 0" for key in chosen)
        result.append((label, evaluated))
    return result, problems


class Checker:
    def __init__(self, program, stack_files, contexts=None, deploy_doc=None):
        self.program = program
        self.deploy_doc = (ROOT / "docs" / "deploy.md").read_text() if deploy_doc is None else deploy_doc
        self.stack_files = stack_files
        # context folder -> (.dockerignore text, Dockerfile text, the files git tracks in it)
        self.contexts = contexts or {}
        self.errors = []
        self.resources = program.get("resources") or {}
        self.variables = program.get("variables") or {}
        self.config = program.get("config") or program.get("configuration") or {}
        self.classes = {}
        self.invokes = {}

    def error(self, message):
        self.errors.append(message)

    def run(self):
        self.check_program()
        self.check_iam()
        self.check_secrets()
        self.check_service_agents()
        self.check_least_privilege()
        self.check_teardown()
        self.check_dead_letters()
        self.check_images()
        self.check_alerts()
        self.check_connections()
        self.check_database()
        self.check_connectivity()
        self.check_database_roles()
        self.check_owner_setup("Deploy from GitHub Actions", "and CI's deployer may not enable APIs")
        self.check_deploy_gates()
        self.check_uptime_checks()
        return self.errors

    def check_program(self):
        """What any program must get right: types, properties, references, names, versions."""
        for name, resource in self.resources.items():
            token = resource.get("type", "")
            try:
                cls, args = resource_class(token)
            except LookupError as e:
                self.error(f"resources.{name}: {e}")
                continue
            self.classes[name] = cls
            self.check_properties(f"resources.{name}.properties", resource.get("properties") or {}, args,
                                  importlib.import_module(cls.__module__.rsplit(".", 1)[0]))
        for name, value in self.variables.items():
            if isinstance(value, dict) and "fn::invoke" in value:
                token = value["fn::invoke"].get("function", "")
                try:
                    self.invokes[name] = invoke_result_fields(token)
                except LookupError as e:
                    self.error(f"variables.{name}: {e}")
        self.check_references(self.program, "")
        self.check_names()
        self.check_versions()

    # --- helpers ---------------------------------------------------------------------------

    def of_type(self, token):
        return [(n, r.get("properties") or {}) for n, r in self.resources.items() if r.get("type") == token]

    def roots(self, value):
        """The names that the ${...} references inside value start from, variables expanded."""
        found, pending, seen = set(), [value], set()
        while pending:
            node = pending.pop()
            if isinstance(node, dict):
                pending.extend(node.values())
            elif isinstance(node, list):
                pending.extend(node)
            elif isinstance(node, str):
                for expression in REFERENCE.findall(node):
                    root = re.split(r"\.|\[", expression.strip())[0]
                    if root in self.variables and root not in seen:
                        seen.add(root)
                        pending.append(self.variables[root])
                    found.add(root)
        return found

    def dependencies(self, name):
        """Every resource that name waits for: through references and dependsOn, transitively."""
        result, pending = set(), [name]
        while pending:
            resource = self.resources.get(pending.pop()) or {}
            direct = self.roots(resource.get("properties") or {}) | self.roots(
                (resource.get("options") or {}).get("dependsOn") or [])
            for root in direct & set(self.resources) - result:
                result.add(root)
                pending.append(root)
        return result

    def resolve(self, value):
        """A string with its config and plain-variable references filled in, or None when it
        depends on something only known at deploy time."""
        if not isinstance(value, str):
            return None

        def substitute(match):
            root = match.group(1).strip()
            if root in self.config and isinstance(self.config[root], dict) and "default" in self.config[root]:
                return str(self.config[root]["default"])
            if isinstance(self.variables.get(root), str):
                resolved = self.resolve(self.variables[root])
                if resolved is not None:
                    return resolved
            raise LookupError(root)

        try:
            return REFERENCE.sub(substitute, value)
        except LookupError:
            return None

    # --- names -----------------------------------------------------------------------------

    def final_name(self, name, resource):
        """(field, final name, how) for a resource that names a GCP object, or None."""
        token = resource.get("type", "")
        props = resource.get("properties") or {}
        args = self.args_of(token)
        field, maxlen, transform = AUTONAMING.get(token, (NAME_FIELDS.get(token, "name"), 255, None))
        if args is None or field not in input_fields(args):
            return None
        if field in props:
            value = self.resolve(props[field])
            return None if value is None else (field, value, "explicit")
        if token in NAME_FIELDS:
            return None  # required, and reported as missing elsewhere
        stem = transform(name) if transform else name
        stem = stem[:maxlen - len(AUTONAME_SUFFIX)]
        return field, stem + AUTONAME_SUFFIX, f"autonamed from the logical name {name!r}"

    def args_of(self, token):
        try:
            return resource_class(token)[1]
        except LookupError:
            return None

    def check_names(self):
        for name, resource in self.resources.items():
            named = self.final_name(name, resource)
            if named is None:
                continue
            field, value, how = named
            token = resource.get("type")
            rule = NAMING_RULES.get(token)
            if rule is None:
                self.error(f"resources.{name}: no naming rule is known for {token} (its {field} would be "
                           f"{value!r}, {how}); add one to NAMING_RULES in scripts/check-pulumi")
                continue
            pattern, shortest, longest, words = rule
            if not (re.fullmatch(pattern, value) and shortest <= len(value) <= longest):
                self.error(f"resources.{name}: {field} {value!r} ({how}) is not a valid {token} name: "
                           f"{words}, {shortest} to {longest} characters")

    # --- provider versions -----------------------------------------------------------------

    def check_versions(self):
        def expect(where, token, options):
            package = token.split(":")[0]
            if package not in DISTRIBUTIONS:
                return
            wanted = importlib.metadata.version(DISTRIBUTIONS[package])
            got = str((options or {}).get("version", ""))
            if got != wanted:
                self.error(f"{where}: options.version must pin the {package} provider to {wanted}, the version "
                           f"scripts/check-pulumi checked (found {got or 'none'})")

        for name, resource in self.resources.items():
            expect(f"resources.{name}", resource.get("type", ""), resource.get("options"))
        for name, value in self.variables.items():
            if isinstance(value, dict) and "fn::invoke" in value:
                invoke = value["fn::invoke"]
                expect(f"variables.{name}", invoke.get("function", ""), invoke.get("options"))

    # --- a fresh project ----------------------------------------------------------------------

    def service_agent(self, api):
        for name, props in self.of_type("gcp:projects:ServiceIdentity"):
            if props.get("service") == api:
                return name
        self.error(f"no gcp:projects:ServiceIdentity creates the {api} service agent (a fresh project has none)")
        return None

    def check_service_agents(self):
        eventarc = self.service_agent("eventarc.googleapis.com")
        self.service_agent("pubsub.googleapis.com")
        if eventarc is None:
            return
        grants = [n for n, p in self.of_type("gcp:projects:IAMMember")
                  if p.get("role") == "roles/eventarc.serviceAgent" and eventarc in self.roots(p.get("member", ""))]
        if not grants:
            self.error(f"resources.{eventarc}: the Eventarc service agent is not granted roles/eventarc.serviceAgent")
            return
        for grant in grants:
            if (self.resources[grant].get("options") or {}).get("retainOnDelete") is not True:
                self.error(f"resources.{grant}: options.retainOnDelete must be true: the grant is Google's own, and "
                           "pulumi destroy taking it away breaks every other Eventarc trigger of the project")
        waits = [n for n, p in self.of_type("command:local:Command")
                 if str(p.get("create", "")).startswith("sleep ") and grants[0] in self.dependencies(n)]
        for trigger, _ in self.of_type("gcp:eventarc:Trigger"):
            if not any(w in self.dependencies(trigger) for w in waits):
                self.error(f"resources.{trigger}: the trigger must wait for the Eventarc agent's role to propagate "
                           f"(a command:local:Command that sleeps after {grants[0]}, in dependsOn)")

    # --- least privilege -------------------------------------------------------------------

    def check_least_privilege(self):
        for name, props in self.of_type("gcp:projects:IAMMember"):
            role = props.get("role", "")
            if role in PROJECT_ROLE_FINDINGS:
                self.error(f"resources.{name}: project-wide {role}: {PROJECT_ROLE_FINDINGS[role]}")
            elif role not in PROJECT_ROLES:
                self.error(f"resources.{name}: project-wide {role} is not among the roles this program may grant "
                           f"({', '.join(sorted(PROJECT_ROLES))}); grant it on the one resource that needs it")
        for where, ref in self.secret_refs(self.program.get("resources") or {}, "resources"):
            version = ref.get("version", "")
            roots = self.roots(version)
            pinned = any(self.resources.get(r, {}).get("type") == "gcp:secretmanager:SecretVersion" for r in roots)
            if not (pinned and re.fullmatch(r"\$\{\s*[\w-]+\.version\s*\}", str(version))):
                self.error(f"{where}: the secret must be read at a pinned version (${{<SecretVersion>.version}}), "
                           f"not {version!r}: with 'latest' a new password leaves running instances on the old one")

    def secret_refs(self, node, where):
        if isinstance(node, dict):
            if "secretKeyRef" in node and isinstance(node["secretKeyRef"], dict):
                yield f"{where}.secretKeyRef", node["secretKeyRef"]
            for key, value in node.items():
                yield from self.secret_refs(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from self.secret_refs(value, f"{where}[{index}]")

    # --- teardown ---------------------------------------------------------------------------

    def check_teardown(self):
        for token, why in (("gcp:sql:User", "PostgreSQL cannot drop a user that owns tables"),
                           ("gcp:sql:Database", "PostgreSQL cannot drop a database while a session is connected")):
            for name, props in self.of_type(token):
                if props.get("deletionPolicy") != "ABANDON":
                    self.error(f"resources.{name}: {why}, so pulumi destroy would fail: set deletionPolicy: ABANDON "
                               "(deleting the instance removes it)")

    # --- nothing lost ---------------------------------------------------------------------

    def check_dead_letters(self):
        topics = {n for n, _ in self.of_type("gcp:pubsub:Topic")}
        for trigger, trigger_props in self.of_type("gcp:eventarc:Trigger"):
            subscription = f"${{{trigger}.transport.pubsub.subscription}}"
            policies = [(n, p) for n, p in self.of_type("command:local:Command")
                        if (p.get("environment") or {}).get("SUBSCRIPTION") == subscription]
            if not policies:
                self.error(f"resources.{trigger}: nothing sets a dead-letter topic on the trigger's subscription "
                           f"({subscription}); failing deliveries would vanish when its retention ends")
                continue
            name, props = policies[0]
            env = props.get("environment") or {}
            command = str(props.get("create", ""))
            for variable, flag in (("DEAD_LETTER_TOPIC", "--dead-letter-topic"),
                                   ("MAX_DELIVERY_ATTEMPTS", "--max-delivery-attempts"),
                                   ("ACK_DEADLINE_SECONDS", "--ack-deadline"),
                                   ("MESSAGE_RETENTION", "--message-retention-duration")):
                if variable not in env or f'{flag}="${variable}"' not in command:
                    self.error(f"resources.{name}: the subscription update must pass {flag}=\"${variable}\" "
                               f"with {variable} in its environment")
            dead_letter = self.roots(env.get("DEAD_LETTER_TOPIC", "")) & topics
            if not dead_letter:
                self.error(f"resources.{name}: DEAD_LETTER_TOPIC names no gcp:pubsub:Topic of this program")
            else:
                self.check_dead_letter_topic(name, dead_letter.pop())
            attempts = str(env.get("MAX_DELIVERY_ATTEMPTS", ""))
            if not (attempts.isdigit() and 5 <= int(attempts) <= 100):
                self.error(f"resources.{name}: MAX_DELIVERY_ATTEMPTS must be 5 to 100 (Pub/Sub's range), not {attempts!r}")
            subscribers = [n for n, p in self.of_type("gcp:pubsub:SubscriptionIAMMember")
                           if p.get("subscription") == subscription and p.get("role") == "roles/pubsub.subscriber"
                           and self.is_pubsub_agent(p.get("member", ""))]
            if not subscribers:
                self.error(f"resources.{trigger}: the Pub/Sub service agent needs roles/pubsub.subscriber on the "
                           "trigger's subscription to forward dead letters")
            self.check_ack_deadline(name, env, trigger_props)

    def is_pubsub_agent(self, member):
        return any(self.resources.get(r, {}).get("type") == "gcp:projects:ServiceIdentity"
                   and (self.resources[r].get("properties") or {}).get("service") == "pubsub.googleapis.com"
                   for r in self.roots(member))

    def check_dead_letter_topic(self, policy, topic):
        publishers = [n for n, p in self.of_type("gcp:pubsub:TopicIAMMember")
                      if topic in self.roots(p.get("topic", "")) and p.get("role") == "roles/pubsub.publisher"
                      and self.is_pubsub_agent(p.get("member", ""))]
        if not publishers:
            self.error(f"resources.{topic}: the Pub/Sub service agent needs roles/pubsub.publisher on the "
                       "dead-letter topic")
        holds = [(n, p) for n, p in self.of_type("gcp:pubsub:Subscription") if topic in self.roots(p.get("topic", ""))]
        if not holds:
            self.error(f"resources.{topic}: no subscription keeps the dead letters (a topic without one drops them)")
        for name, props in holds:
            if (props.get("expirationPolicy") or {}).get("ttl") != "":
                self.error(f"resources.{name}: a dead-letter subscription must never expire (expirationPolicy.ttl: \"\")")
            if not props.get("messageRetentionDuration"):
                self.error(f"resources.{name}: set messageRetentionDuration (the default is 7 days)")
        waited = self.dependencies(policy)
        for needed in publishers + [n for n, _ in holds]:
            if needed not in waited:
                self.error(f"resources.{policy}: must wait for {needed} before it sets the dead-letter topic")

    def check_ack_deadline(self, policy, env, trigger_props):
        service = self.roots(((trigger_props.get("destination") or {}).get("cloudRunService") or {}).get("service", ""))
        timeouts = [((self.resources[s].get("properties") or {}).get("template") or {}).get("timeout", "")
                    for s in service if s in self.resources]
        deadline = str(env.get("ACK_DEADLINE_SECONDS", ""))
        for timeout in timeouts:
            match = re.fullmatch(r"(\d+)s", str(timeout))
            if not match:
                self.error(f"resources.{policy}: the target's timeout {timeout!r} must be set, in seconds")
            elif not (deadline.isdigit() and int(match.group(1)) <= int(deadline) <= 600):
                self.error(f"resources.{policy}: ACK_DEADLINE_SECONDS {deadline!r} must be at least the target's "
                           f"timeout ({timeout}) and at most 600, or Pub/Sub redelivers while ingest still works")

    # --- alerts -----------------------------------------------------------------------------

    def ingest_service(self):
        for _, props in self.of_type("gcp:eventarc:Trigger"):
            service = ((props.get("destination") or {}).get("cloudRunService") or {}).get("service", "")
            for root in self.roots(service):
                return root
        return None

    def policies_on(self, metric_type):
        """(name, props, condition threshold) of every alert policy with a condition on metric_type."""
        for name, props in self.of_type("gcp:monitoring:AlertPolicy"):
            for condition in props.get("conditions") or []:
                threshold = condition.get("conditionThreshold") or {}
                if f'metric.type="{metric_type}"' in " ".join(str(threshold.get("filter", "")).split()):
                    yield name, props, threshold

    def check_alerts(self):
        ingest = self.ingest_service()
        self.check_dead_letter_alert(ingest)
        for service, _ in self.of_type("gcp:cloudrunv2:Service"):
            errors = [n for n, _, t in self.policies_on("run.googleapis.com/request_count")
                      if f'resource.labels.service_name="${{{service}.name}}"' in str(t.get("filter"))
                      and 'metric.labels.response_code_class="5xx"' in str(t.get("filter"))]
            if not errors:
                self.error(f"no gcp:monitoring:AlertPolicy watches {service}'s 5xx rate (run.googleapis.com/request_count"
                           f" with response_code_class=\"5xx\" on {service}): "
                           + ("retried deliveries" if service == ingest else "failed requests") + " would go unnoticed")
        self.check_backlog_alert()
        self.check_hold_alert()
        self.check_disk_alert()
        self.check_alert_channel()
        self.check_request_logs(ingest)
        self.check_retention(ingest)
        self.check_dashboard()

    def check_request_logs(self, ingest):
        """ingest's successful request logs cost more than the pipeline: they are left out of
        _Default, and nothing else of ingest's is."""
        named = f'resource.labels.service_name="${{{ingest}.name}}"'
        exclusions = [(n, " ".join(str(p.get("filter", "")).split())) for n, p in self.of_type("gcp:logging:ProjectExclusion")]
        two_xx = ('log_id("run.googleapis.com/requests")', "httpRequest.status>=200", "httpRequest.status<300")
        for name, text in exclusions:
            if "service_name" in text and not all(term in text for term in two_xx):
                self.error(f"resources.{name}: an exclusion on a service's logs must keep to its 2xx request logs "
                           "(log_id(\"run.googleapis.com/requests\") AND httpRequest.status>=200 AND "
                           "httpRequest.status<300): it would hide the failures and the lines that say why")
        if not any(named in text and all(term in text for term in two_xx) for _, text in exclusions):
            self.error(f"no gcp:logging:ProjectExclusion leaves {ingest}'s 2xx request logs out of _Default: about 1 KB "
                       "a push, ~240 GiB a month at 100 messages/s, more than the pipeline costs")

    def check_backlog_alert(self):
        """401, 403, 429 and 400 answers are retried by Pub/Sub for hours: only the age of the
        oldest unacknowledged delivery on the trigger's subscription shows them."""
        for trigger, _ in self.of_type("gcp:eventarc:Trigger"):
            subscription = f"${{{trigger}.transport.pubsub.subscription}}"
            ids = []
            for name, props in self.of_type("command:local:Command"):
                if (props.get("environment") or {}).get("SUBSCRIPTION") != subscription:
                    continue
                if 'printf \'%s\' "$(basename "$SUBSCRIPTION")"' not in str(props.get("create", "")):
                    self.error(f"resources.{name}: create must end by printing the subscription's id (printf '%s' "
                               "\"$(basename \"$SUBSCRIPTION\")\"): Eventarc names the subscription, and the backlog "
                               "alert filters on that id")
                else:
                    ids.append(f"${{{name}.stdout}}")
            watched = [n for n, _, t in self.policies_on("pubsub.googleapis.com/subscription/oldest_unacked_message_age")
                       if any(f'resource.labels.subscription_id="{i}"' in str(t.get("filter")) for i in ids)]
            if not watched:
                self.error(f"resources.{trigger}: no gcp:monitoring:AlertPolicy watches the age of the oldest "
                           "unacknowledged delivery on its subscription (pubsub.googleapis.com/subscription/"
                           "oldest_unacked_message_age on the id its subscription policy prints): 401, 403, 429 and "
                           "400 answers would be retried for hours unseen")

    def check_hold_alert(self):
        """A message Pub/Sub gave up on waits in a dead-letter hold: one is enough to alert."""
        dead_letter_topics = set()
        for _, props in self.of_type("command:local:Command"):
            dead_letter_topics |= self.roots((props.get("environment") or {}).get("DEAD_LETTER_TOPIC", ""))
        for name, props in self.of_type("gcp:pubsub:Subscription"):
            if not self.roots(props.get("topic", "")) & dead_letter_topics:
                continue
            watched = [p for p, _, t in self.policies_on("pubsub.googleapis.com/subscription/num_undelivered_messages")
                       if f'resource.labels.subscription_id="${{{name}.name}}"' in str(t.get("filter"))
                       and t.get("comparison") == "COMPARISON_GT" and t.get("thresholdValue") == 0]
            if not watched:
                self.error(f"resources.{name}: no gcp:monitoring:AlertPolicy fires on any message waiting in this "
                           "dead-letter hold (pubsub.googleapis.com/subscription/num_undelivered_messages "
                           "COMPARISON_GT 0 on its id): messages Pub/Sub gave up on would wait there unseen")

    def check_disk_alert(self):
        """Cloud SQL grows the disk as it fills, so only the bytes used against a set limit can
        say that it is running out."""
        for instance, props in self.of_type("gcp:sql:DatabaseInstance"):
            settings = props.get("settings") or {}
            limit = self.config_key(settings.get("diskAutoresizeLimit"))
            if settings.get("diskAutoresize") is not False and limit is None:
                self.error(f"resources.{instance}: settings.diskAutoresizeLimit must be a config value: without a "
                           "limit the disk grows (and costs) without end, and no disk alert can fire")
            for policy, _, _ in self.policies_on("cloudsql.googleapis.com/database/disk/utilization"):
                self.error(f"resources.{policy}: a condition on disk/utilization cannot fire: Cloud SQL grows the "
                           "disk long before it is that full; alert on disk/bytes_used against diskAutoresizeLimit")
            queries = [" ".join(str((c.get("conditionPrometheusQueryLanguage") or {}).get("query", "")).split())
                       for _, p in self.of_type("gcp:monitoring:AlertPolicy") for c in p.get("conditions") or []]
            if limit is not None and not any(
                    "cloudsql_googleapis_com:database_disk_bytes_used" in q and instance in self.roots(q)
                    and f"${{{limit}}}" in q for q in queries):
                self.error(f"resources.{instance}: no gcp:monitoring:AlertPolicy watches its disk bytes against the "
                           f"limit (a PromQL condition on cloudsql_googleapis_com:database_disk_bytes_used for this "
                           f"instance, compared with ${{{limit}}})")

    def check_dashboard(self):
        charted = " ".join(" ".join(str(p.get("dashboardJson")).split())
                           for _, p in self.of_type("gcp:monitoring:Dashboard"))
        for metric, what in DASHBOARD_METRICS.items():
            if f'metric.type="{metric}"' not in charted.replace('\\"', '"'):
                self.error(f"the dashboard (gcp:monitoring:Dashboard) must chart {what} ({metric})")

    def check_dead_letter_alert(self, ingest):
        metrics = [(n, p) for n, p in self.of_type("gcp:logging:Metric")
                   if f'resource.labels.service_name="${{{ingest}.name}}"' in str(p.get("filter"))]
        if not metrics:
            self.error(f"no gcp:logging:Metric counts {ingest}'s dead-letter lines")
            return
        name, props = metrics[0]
        text = " ".join(str(props.get("filter")).split())
        match = re.search(r'jsonPayload\.message=~"\^([^"]+)"', text)
        if "severity=ERROR" not in text or not match:
            self.error(f"resources.{name}: the filter must match severity=ERROR and jsonPayload.message=~\"^<the line's "
                       "start>\"")
        elif not any(line.startswith(match.group(1)) for line in logged_errors()):
            self.error(f"resources.{name}: no log::error! in shared/**/src or functions/*/src starts with "
                       f"{match.group(1)!r}: the metric would count nothing")
        for policy, _, _ in self.policies_on(f"logging.googleapis.com/user/${{{name}.name}}"):
            self.error(f"resources.{policy}: a condition on the log-based metric {name} made by this program fails "
                       "the first pulumi up (Cloud Monitoring answers 404 \"Cannot find metric(s)\" for up to ten "
                       "minutes after a metric is made): alert on the log line itself (conditionMatchedLog)")
        matched = [(n, p) for n, p in self.of_type("gcp:monitoring:AlertPolicy")
                   if any(str((c.get("conditionMatchedLog") or {}).get("filter", "")).strip() in
                          (f"${{{name}.filter}}", str(props.get("filter")).strip())
                          for c in p.get("conditions") or [])]
        if not matched:
            self.error(f"resources.{name}: no gcp:monitoring:AlertPolicy alerts on its line (conditionMatchedLog with "
                       f"filter ${{{name}.filter}}): a dead letter must alert at once")
        for policy, props in matched:
            limit = ((props.get("alertStrategy") or {}).get("notificationRateLimit") or {}).get("period")
            if not limit:
                self.error(f"resources.{policy}: a log-match condition needs alertStrategy.notificationRateLimit.period")

    def check_alert_channel(self):
        if (self.config.get("alertEmail") or {}).get("default") != "":
            self.error("config.alertEmail: must exist with default \"\" (no channel unless an address is set)")
        commands = [(n, p) for n, p in self.of_type("command:local:Command")
                    if (p.get("environment") or {}).get("ALERT_EMAIL") == "${alertEmail}"]
        if not commands:
            self.error("no command:local:Command makes the email channel from ${alertEmail} (ALERT_EMAIL)")
            return
        name, props = commands[0]
        create = str(props.get("create", ""))
        if '[ -n "$ALERT_EMAIL" ] || exit 0' not in create:
            self.error(f"resources.{name}: create must do nothing when alertEmail is unset "
                       "([ -n \"$ALERT_EMAIL\" ] || exit 0)")
        listed, created = create.find("channels list"), create.find("channels create")
        if created >= 0 and not 0 <= listed < created:
            self.error(f"resources.{name}: create must take the channel it made before (gcloud beta monitoring "
                       "channels list) and make one only when there is none: pulumi runs create again on every "
                       "change of the script, and each run would leave another channel behind")
        if (self.resources[name].get("options") or {}).get("deleteBeforeReplace") is not True:
            self.error(f"resources.{name}: options.deleteBeforeReplace must be true, or a replacement for the same "
                       "address finds the old channel, keeps it, and then deletes it")
        if "channels delete" not in str(props.get("delete", "")):
            self.error(f"resources.{name}: delete must delete the channel it made")
        attached = self.roots(str((props.get("environment") or {}).get("POLICIES", "")))
        for policy, _ in self.of_type("gcp:monitoring:AlertPolicy"):
            if policy not in attached:
                self.error(f"resources.{name}: POLICIES must name {policy}, or its alerts reach nobody")
            if "notificationChannels" not in ((self.resources[policy].get("options") or {}).get("ignoreChanges") or []):
                self.error(f"resources.{policy}: options.ignoreChanges must list notificationChannels, or the next "
                           f"pulumi up takes away the channel {name} added")

    def check_retention(self, ingest):
        container = (((self.resources.get(ingest) or {}).get("properties") or {}).get("template") or {})
        envs = {e.get("name"): e.get("value") for c in container.get("containers") or [] for e in c.get("envs") or []}
        days = str(envs.get("PROCESSED_RETENTION_DAYS", "8"))
        retention = [str((p.get("environment") or {}).get("MESSAGE_RETENTION", ""))
                     for _, p in self.of_type("command:local:Command")
                     if "MESSAGE_RETENTION" in (p.get("environment") or {})]
        for value in retention:
            match = re.fullmatch(r"(\d+)d", value)
            if not match or not days.isdigit() or int(days) <= int(match.group(1)):
                self.error(f"resources.{ingest}: PROCESSED_RETENTION_DAYS ({days}) must exceed the subscription's "
                           f"message retention ({value}), or a redelivery after pruning is stored twice")

    # --- connections ------------------------------------------------------------------------

    def settings(self):
        """(where, {config key: value}) for the program's defaults and each stack file over them."""
        defaults = {k: v.get("default") for k, v in self.config.items() if isinstance(v, dict) and "default" in v}
        yield "the program's defaults", defaults
        for path, stack in self.stack_files:
            values = dict(defaults)
            for key, value in ((stack or {}).get("config") or {}).items():
                values[key.split(":", 1)[-1]] = value
            yield Path(path).name, values

    def check_connections(self):
        for name, props in self.of_type("gcp:cloudrunv2:Service"):
            template = props.get("template") or {}
            if (template.get("scaling") or {}).get("maxInstanceCount") is not None:
                self.error(f"resources.{name}: template.scaling.maxInstanceCount caps one revision, so a rollout's "
                           "two revisions may together open twice the connections: cap the service "
                           "(scaling.maxInstanceCount)")
            if (props.get("scaling") or {}).get("maxInstanceCount") is None:
                self.error(f"resources.{name}: set scaling.maxInstanceCount on the service: its connections count "
                           "against the database tier's max_connections")
        caps = [self.config_key((p.get("scaling") or {}).get("maxInstanceCount"))
                for _, p in self.of_type("gcp:cloudrunv2:Service")]
        pool = None
        for _, props in self.of_type("gcp:cloudrunv2:Service"):
            for container in (props.get("template") or {}).get("containers") or []:
                for env in container.get("envs") or []:
                    if env.get("name") == "DB_POOL_SIZE":
                        pool = self.config_key(env.get("value"))
        tier_key = next((self.config_key(((p.get("settings") or {}).get("tier")))
                         for _, p in self.of_type("gcp:sql:DatabaseInstance")), None)
        if None in caps or pool is None or tier_key is None:
            self.error("the connection arithmetic needs each service's scaling.maxInstanceCount, DB_POOL_SIZE and "
                       "the instance's tier to be config values")
            return
        for where, values in self.settings():
            tier = str(values.get(tier_key))
            limit = max_connections(tier)
            if limit is None:
                self.error(f"{where}: dbTier {tier!r} is not a tier whose max_connections this check knows "
                           "(db-f1-micro, db-g1-small, db-custom-<vCPUs>-<MB>)")
                continue
            try:
                instances = sum(int(values[c]) for c in caps)
                used = instances * int(values[pool]) + CONNECTION_HEADROOM
            except (KeyError, TypeError, ValueError):
                self.error(f"{where}: {', '.join(caps)} and {pool} must be whole numbers")
                continue
            if used > limit - RESERVED_CONNECTIONS:
                self.error(f"{where}: {' + '.join(caps)} = {instances} instances x {pool} {values[pool]} + "
                           f"{CONNECTION_HEADROOM} (migrations, an operator) = {used} connections, but {tier} allows "
                           f"{limit} less {RESERVED_CONNECTIONS} reserved: lower the caps or pick a larger tier")

    def config_key(self, value):
        """The config key a value is exactly ${key} of, or None."""
        match = re.fullmatch(r"\$\{\s*(\w+)\s*\}", str(value))
        return match.group(1) if match and match.group(1) in self.config else None

    # --- the database instance -------------------------------------------------------------

    def check_database(self):
        for name, props in self.of_type("gcp:sql:DatabaseInstance"):
            settings = props.get("settings") or {}
            if settings.get("deletionProtectionEnabled") != props.get("deletionProtection"):
                self.error(f"resources.{name}: settings.deletionProtectionEnabled must follow deletionProtection, so "
                           "the Cloud SQL API (console, gcloud) cannot delete it either")
            backups = settings.get("backupConfiguration") or {}
            if not (backups.get("enabled") and backups.get("pointInTimeRecoveryEnabled")):
                self.error(f"resources.{name}: backups with point-in-time recovery must be on")
            if not settings.get("maintenanceWindow"):
                self.error(f"resources.{name}: set a maintenanceWindow, or updates restart it at any hour")

    # --- private IP: the database's connectivity in this shape ----------------------------------

    def socket_users(self, instance):
        """(name, template) of every service and job whose template mounts instance's socket."""
        for token in ("gcp:cloudrunv2:Service", "gcp:cloudrunv2:Job"):
            for name, props in self.of_type(token):
                template = props.get("template") or {}
                if token == "gcp:cloudrunv2:Job":
                    template = template.get("template") or {}
                instances = [i for v in template.get("volumes") or []
                             for i in (v.get("cloudSqlInstance") or {}).get("instances") or []]
                if any(self.refers_to(str(i), instance) for i in instances):
                    yield name, template

    def check_connectivity(self):
        for instance, props in self.of_type("gcp:sql:DatabaseInstance"):
            ip = (props.get("settings") or {}).get("ipConfiguration") or {}
            if not isinstance(ip, dict):
                self.error(f"resources.{instance}: settings.ipConfiguration must be an object in every shape")
                continue
            network = ip.get("privateNetwork")
            public = ip.get("ipv4Enabled", True) is not False  # Cloud SQL's default is a public IP
            where = f"resources.{instance}.settings.ipConfiguration"
            if ip.get("authorizedNetworks"):
                self.error(f"{where}: authorizedNetworks open the database to those addresses directly; only the "
                           "Cloud SQL connector (IAM-authorized) may get in")
            if network and public:
                self.error(f"{where}: a private network and still ipv4Enabled: organizations that enforce "
                           "constraints/sql.restrictPublicIp refuse the instance, and the connector behind /cloudsql "
                           "would use the public IP; set ipv4Enabled: false")
            if network and not NETWORK_PATH.fullmatch(re.sub(r"\$\{[^}]*\}", "x", str(network))):
                self.error(f"{where}: privateNetwork {network!r} must be the network's path, "
                           "projects/<project>/global/networks/<name> (Cloud SQL takes no bare name)")
            if not network and not public and not ip.get("pscConfigs"):
                self.error(f"{where}: neither a public IP nor a private network: nothing could reach the database")
            for name, template in self.socket_users(instance):
                access = template.get("vpcAccess")
                if not network:
                    if access is not None:
                        self.error(f"resources.{name}: template.vpcAccess where the database has a public IP: that "
                                   "shape has no network (pulumi/network is made for private stacks only), so the "
                                   "deploy fails; select it with the instance's shape (null for the public one)")
                    continue
                if not isinstance(access, dict):
                    self.error(f"resources.{name}: the database has only a private IP, so {name} needs Direct VPC "
                               "egress into its network (template.vpcAccess.networkInterfaces): without it the "
                               "/cloudsql socket cannot reach the instance, and every connection times out")
                    continue
                if access.get("connector"):
                    self.error(f"resources.{name}: template.vpcAccess.connector is a Serverless VPC Access connector, "
                               "whose instances are billed around the clock; use Direct VPC egress "
                               "(networkInterfaces), which costs nothing beyond traffic")
                networks = [str(i.get("network", "")) for i in access.get("networkInterfaces") or []]
                if not any(n.split("/")[-1] == str(network).split("/")[-1] for n in networks):
                    self.error(f"resources.{name}: template.vpcAccess.networkInterfaces must name the instance's "
                               f"network ({str(network).split('/')[-1]}), not {networks or 'none'}")
                if access.get("egress") != PRIVATE_EGRESS:
                    self.error(f"resources.{name}: template.vpcAccess.egress must be {PRIVATE_EGRESS}: ALL_TRAFFIC "
                               "sends Google API and internet traffic into the network too, which then needs Cloud "
                               f"NAT (paid) or Private Google Access (found {access.get('egress')!r})")

    # --- least privilege inside PostgreSQL -----------------------------------------------------

    def envs_of(self, props):
        """name -> env entry, for every container of a service's or a job's template."""
        template = props.get("template") or {}
        template = template.get("template", template)  # a job's template holds the task's
        return {e.get("name"): e for c in template.get("containers") or [] for e in c.get("envs") or []}

    def owner_secrets(self):
        """The Secret Manager secrets whose version holds the owner's password (dbPassword)."""
        versions = [p for _, p in self.of_type("gcp:secretmanager:SecretVersion")
                    if self.refers_to(str(p.get("secretData", "")), "dbPassword")]
        return {r for p in versions for r in self.roots(p.get("secret", ""))}

    def secret_ref(self, env):
        """(secret roots, version roots) of an env entry read from Secret Manager, or None."""
        ref = ((env or {}).get("valueSource") or {}).get("secretKeyRef")
        if not isinstance(ref, dict):
            return None
        return frozenset(self.roots(str(ref.get("secret", "")))), frozenset(self.roots(str(ref.get("version", ""))))

    def readers_of(self, secret_roots):
        """The roots of every member granted access to a secret among secret_roots."""
        return {r for _, g in self.of_type("gcp:secretmanager:SecretIamMember")
                if self.roots(g.get("secretId", "")) & secret_roots for r in self.roots(g.get("member", ""))}

    def check_secret_ref(self, where, ref, account):
        """The version read belongs to the secret read, and the reader's account may read it."""
        secrets, versions = ref
        for version in versions:
            of = self.roots(str((self.resources.get(version, {}).get("properties") or {}).get("secret", "")))
            if self.resources.get(version, {}).get("type") == "gcp:secretmanager:SecretVersion" and of != secrets:
                self.error(f"{where}: reads {', '.join(sorted(secrets))} at a version of {', '.join(sorted(of))}: "
                           "the secret and its version must be the same slot's")
        if account and secrets and not self.readers_of(secrets) & account:
            self.error(f"{where}: its account may not read {', '.join(sorted(secrets))} (no SecretIamMember with "
                       "roles/secretmanager.secretAccessor): a new instance could not start")

    def check_database_roles(self):
        logins, variable = function_logins()
        if variable is None:
            self.error("functions/ingest/src/bin/migrate.rs no longer names each login's password variable after the "
                       "login (format!(\"{}_PASSWORD\", login.to_ascii_uppercase())): update this check with it")
            variable = "{}_PASSWORD"
        owners = {n for n, _ in self.of_type("gcp:sql:User")}
        owner_secrets = self.owner_secrets()
        migrations = [n for n, p in self.of_type("gcp:cloudrunv2:Job")
                      if any("/migrate" in str(c) for c in
                             ((p.get("template") or {}).get("template") or {}).get("containers") or [])]
        runs = [n for n, p in self.of_type("command:local:Command")
                if "jobs execute" in str(p.get("create", "")) and set(migrations) & self.roots(p.get("environment"))]
        if not migrations or not runs:
            self.error("no gcp:cloudrunv2:Job runs the migrate binary as the schema's owner (and no command runs it): "
                       "the functions' roles may not migrate, and nothing would make their logins")
        # login -> (secret roots, version roots) the migrate job sets its password from.
        passwords = {}
        for job in migrations:
            props = self.resources[job].get("properties") or {}
            envs = self.envs_of(props)
            user = str((envs.get("PGUSER") or {}).get("value"))
            if not (self.refers_to(user, "databaseUser") or self.roots(user) & owners):
                self.error(f"resources.{job}: the migrate job must log in as the schema's owner (${{databaseUser}})")
            account = self.roots(str(((props.get("template") or {}).get("template") or {}).get("serviceAccount", "")))
            for env_name, env in envs.items():
                ref = self.secret_ref(env)
                if ref:
                    self.check_secret_ref(f"resources.{job}: {env_name}", ref, account)
            for login in (login for function_logins_ in logins.values() for login in function_logins_):
                name = variable.format(login.upper())
                ref = self.secret_ref(envs.get(name))
                if ref is None:
                    self.error(f"resources.{job}: sets no password for {login} ({name} from Secret Manager): a "
                               "service that flips to its slot could not log in")
                else:
                    passwords.setdefault(login, ref)
        for name, props in self.of_type("gcp:cloudrunv2:Service"):
            function = self.resolve(props.get("name"))
            envs = self.envs_of(props)
            user = str((envs.get("PGUSER") or {}).get("value", ""))
            wanted = logins.get(function)
            account = self.roots(str((props.get("template") or {}).get("serviceAccount", "")))
            if self.refers_to(user, "databaseUser") or self.roots(user) & owners:
                self.error(f"resources.{name}: logs in as {user}, the user the Cloud SQL API made (a member of "
                           f"cloudsqlsuperuser): the {function} function's role can write, create roles and drop "
                           f"tables; log in as {' or '.join(wanted or ['its own role'])} (shared/db/src/roles.rs)")
            elif wanted is None:
                every = sorted(login for function_logins_ in logins.values() for login in function_logins_)
                self.error(f"resources.{name}: shared/db/src/roles.rs defines no login for a function named "
                           f"{function!r} (it has {', '.join(every)})")
            elif user not in wanted:
                self.error(f"resources.{name}: PGUSER must be {' or '.join(wanted)}, the {function} function's own "
                           f"logins (shared/db/src/roles.rs; dbLoginSlot picks one), not {user!r}")
            password = self.secret_ref(envs.get("PGPASSWORD"))
            if password is None:
                self.error(f"resources.{name}: PGPASSWORD must come from Secret Manager (valueSource.secretKeyRef)")
            else:
                self.check_secret_ref(f"resources.{name}: PGPASSWORD", password, account)
                if password[0] & owner_secrets:
                    self.error(f"resources.{name}: reads the owner's password: give it its own role's secret")
                elif user in passwords and password != passwords[user]:
                    self.error(f"resources.{name}: logs in as {user} with the password of "
                               f"{', '.join(sorted(password[0] | password[1]))}, but the migrate job sets {user}'s "
                               f"password from {', '.join(sorted(passwords[user][0] | passwords[user][1]))}: its "
                               "PGUSER and PGPASSWORD must be the same slot's, at the same version")
            own = {r for login in wanted or [] for r in passwords.get(login, (frozenset(),))[0]}
            for grant, grant_props in self.of_type("gcp:secretmanager:SecretIamMember"):
                secret = self.roots(grant_props.get("secretId", ""))
                if not self.roots(grant_props.get("member", "")) & account:
                    continue
                if secret & owner_secrets:
                    self.error(f"resources.{grant}: lets {name}'s account read the owner's password")
                elif wanted and not secret <= own:
                    self.error(f"resources.{grant}: lets {name}'s account read {', '.join(sorted(secret))}, which "
                               f"holds no password of {' or '.join(wanted)}: each function reads its own logins' "
                               "passwords only")
            if runs and not set(runs) & self.dependencies(name):
                self.error(f"resources.{name}: must wait for the migrations ({runs[0]} in dependsOn), or a new "
                           "revision may meet a schema older than itself, which its role cannot migrate")

    # --- images ---------------------------------------------------------------------------

    def check_images(self):
        revision = [n for n, v in self.variables.items()
                    if isinstance(v, dict) and (v.get("fn::invoke") or {}).get("function") == "command:local:run"
                    and "git" in str((v["fn::invoke"].get("arguments") or {}).get("command", ""))]
        builders = [n for n, v in self.variables.items()
                    if isinstance(v, dict) and (v.get("fn::invoke") or {}).get("function") == "command:local:run"
                    and "--driver docker-container" in str((v["fn::invoke"].get("arguments") or {}).get("command", ""))]
        for name, props in self.of_type("docker-build:Image"):
            if not any(b in self.roots((props.get("builder") or {}).get("name", "")) for b in builders):
                self.error(f"resources.{name}: builder.name must name a docker-container buildx builder that the "
                           "program ensures: the default docker driver cannot export a registry cache")
            tags = [str(t) for t in props.get("tags") or []]
            if not any(t.endswith(":latest") for t in tags):
                self.error(f"resources.{name}: tag the image :latest")
            if not (tags and any(r in self.roots(tags[0]) for r in revision)):
                self.error(f"resources.{name}: the first tag (the one Cloud Run deploys) must carry the git revision")
            for key in ("cacheFrom", "cacheTo"):
                registries = [(entry or {}).get("registry") for entry in props.get(key) or []]
                if not any(registries):
                    self.error(f"resources.{name}: {key} must name a registry build cache, so a fresh CI runner "
                               "does not compile from zero")
                for registry in filter(None, registries):
                    if "/cache/" not in str(registry.get("ref", "")):
                        self.error(f"resources.{name}: {key} {registry.get('ref')!r} must be in a package of its own "
                                   "(.../cache/<function>:buildcache): in the image's package its manifests take "
                                   "places the cleanup policy keeps for deploys")
            if props.get("buildOnPreview") is not False:
                self.error(f"resources.{name}: buildOnPreview must be false: a preview that builds still exports "
                           "cacheTo, which fails in a new project (no registry yet) and writes the shared cache "
                           "from any branch's preview")
            self.check_context(name, props)
        for name, props in self.of_type("gcp:artifactregistry:Repository"):
            if not props.get("cleanupPolicies") or props.get("cleanupPolicyDryRun") is not False:
                self.error(f"resources.{name}: the registry needs cleanupPolicies (and cleanupPolicyDryRun: false), "
                           "or images pile up forever")
            for policy in props.get("cleanupPolicies") or []:
                recent = policy.get("mostRecentVersions")
                if recent is not None and not recent.get("packageNamePrefixes"):
                    self.error(f"resources.{name}: cleanup policy {policy.get('id')!r} keeps the newest versions of "
                               "every package, the build cache's included: name the functions' packages "
                               "(mostRecentVersions.packageNamePrefixes)")

    def check_context(self, name, props):
        location = str((props.get("context") or {}).get("location", ""))
        if location not in self.contexts:
            self.error(f"resources.{name}: its build context {location!r} was not read (no .dockerignore there?)")
            return
        dockerignore, dockerfile, tracked = self.contexts[location]
        seen = build_context(dockerignore, set(tracked) | set(CONTEXT_INTRUDERS))
        for intruder in CONTEXT_INTRUDERS:
            if intruder in seen:
                self.error(f"resources.{name}: the build context admits {intruder}: make .dockerignore an allow-list "
                           "of what the build compiles (CI's credential file would be copied into a layer and "
                           "exported with the registry cache)")
        for source in dockerfile_sources(dockerfile):
            wanted = [f for f in tracked if source in (".", "./") or f == source or f.startswith(source.rstrip("/") + "/")]
            if not wanted:
                self.error(f"resources.{name}: the Dockerfile copies {source!r}, which git does not track")
            elif source not in (".", "./") and not set(wanted) <= seen:
                self.error(f"resources.{name}: the Dockerfile copies {source!r}, which .dockerignore leaves out")
        needed = {f for f in tracked if f in ("Cargo.toml", "Cargo.lock") or f.startswith(("shared/", "functions/"))}
        for missing in sorted(needed - seen)[:3]:
            self.error(f"resources.{name}: the build needs {missing}, which .dockerignore leaves out")

    def check_properties(self, where, values, cls, module):
        fields = input_fields(cls)
        for key, value in values.items():
            if key not in fields:
                close = [f for f in fields if f.lower() == key.lower() or snake(f) == snake(key)]
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.error(f"{where}: {cls.__name__} has no property {key!r}{hint}")
                continue
            nested = nested_class(fields[key][0], module)
            if nested is None:
                continue
            items = value if isinstance(value, list) else [value]
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    suffix = f"[{index}]" if isinstance(value, list) else ""
                    self.check_properties(f"{where}.{key}{suffix}", item, nested, module)
        for key, (_, required) in fields.items():
            if required and key not in values:
                self.error(f"{where}: required property {key!r} of {cls.__name__} is missing")

    def check_references(self, node, where):
        if isinstance(node, dict):
            for key, value in node.items():
                self.check_references(value, f"{where}.{key}" if where else str(key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                self.check_references(value, f"{where}[{index}]")
        elif isinstance(node, str):
            for expression in REFERENCE.findall(node):
                self.check_reference(expression.strip(), where)

    def check_reference(self, expression, where):
        parts = re.split(r"\.|\[", expression)
        root, path = parts[0], [p.rstrip("]") for p in parts[1:]]
        if root == "pulumi":
            if not path or path[0] not in PULUMI_BUILTINS:
                self.error(f"{where}: ${{{expression}}}: unknown pulumi.{'.'.join(path)}")
        elif root in self.resources:
            cls = self.classes.get(root)
            if cls is not None and path and path[0] not in output_names(cls):
                self.error(f"{where}: ${{{expression}}}: {cls.__name__} has no output {path[0]!r}")
            elif cls is not None and path and (step := missing_output(cls, path)) is not None:
                self.error(f"{where}: ${{{expression}}}: no output {step!r} along that path")
        elif root in self.invokes:
            if path and path[0] not in self.invokes[root]:
                self.error(f"{where}: ${{{expression}}}: the invoke result has no field {path[0]!r}")
        elif root in self.variables or root in self.config:
            pass
        else:
            self.error(f"{where}: ${{{expression}}} refers to nothing (not a resource, variable or config key)")

    def refers_to(self, value, resource):
        return isinstance(value, str) and any(
            re.split(r"\.|\[", e.strip())[0] == resource for e in REFERENCE.findall(value))

    def check_iam(self):
        triggers = [(n, r) for n, r in self.resources.items() if r.get("type") == "gcp:eventarc:Trigger"]
        if not triggers:
            self.error("no gcp:eventarc:Trigger delivers to the ingest function")
        for trigger_name, trigger in triggers:
            props = trigger.get("properties") or {}
            target = ((props.get("destination") or {}).get("cloudRunService") or {}).get("service", "")
            services = [n for n in self.resources if self.refers_to(target, n)]
            if len(services) != 1:
                self.error(f"resources.{trigger_name}: its destination names no Cloud Run service of this program")
                continue
            service = services[0]
            criteria = props.get("matchingCriterias") or []
            if {"attribute": "type", "value": "google.cloud.pubsub.topic.v1.messagePublished"} not in criteria:
                self.error(f"resources.{trigger_name}: it does not match messagePublished events")
            service_props = self.resources[service].get("properties") or {}
            if service_props.get("invokerIamDisabled") not in (None, False):
                self.error(f"resources.{service}: the trigger's target must not disable the invoker check")
            account = props.get("serviceAccount", "")
            account_roots = {re.split(r"\.|\[", e.strip())[0] for e in REFERENCE.findall(account)}
            invoker_found = False
            for name, resource in self.resources.items():
                token = resource.get("type", "")
                if not re.match(r"gcp:cloudrun(v2)?:Service(Iam\w+)$", token):
                    continue
                rprops = resource.get("properties") or {}
                if not (self.refers_to(rprops.get("name", ""), service) or self.refers_to(rprops.get("service", ""), service)):
                    continue
                members = rprops.get("members") or [rprops.get("member", "")]
                policy = str(rprops.get("policyData", ""))
                if any(p in str(m) for m in members for p in PUBLIC_MEMBERS) or any(p in policy for p in PUBLIC_MEMBERS):
                    self.error(f"resources.{name}: makes {service} (the trigger's target) publicly invokable")
                if rprops.get("role") == "roles/run.invoker" and any(
                        str(m).startswith("serviceAccount:") and any(self.refers_to(str(m), a) for a in account_roots)
                        for m in members):
                    invoker_found = True
            if not invoker_found:
                self.error(f"resources.{trigger_name}: its service account has no roles/run.invoker on {service}")

    def check_owner_setup(self, heading, why):
        """The owner's commands in docs/deploy.md's section `heading` enable every API the program
        declares (and create every account); `why` says why the program may not do it alone."""
        section = self.deploy_doc.partition(f"\n## {heading}")[2].split("\n## ")[0]
        shell = "\n".join(block for language, _, block in fenced_blocks(section) if language in SHELL_LANGUAGES)
        words = set(re.findall(r"[\w.-]+", shell))
        where = f"docs/deploy.md's owner setup ({heading})"
        for name, props in self.of_type("gcp:projects:Service"):
            if props.get("service") not in words:
                self.error(f"resources.{name}: {where} does not enable {props.get('service')}, {why}")
        for name, props in self.of_type("gcp:serviceaccount:Account"):
            if props.get("accountId") not in words:
                self.error(f"resources.{name}: {where} does not create {props.get('accountId')}, and CI's deployer "
                           "may not create service accounts")
            if props.get("createIgnoreAlreadyExists") is not True:
                self.error(f"resources.{name}: set createIgnoreAlreadyExists: true, so the program adopts the "
                           "account the owner made for CI's deployer")
            # An adopted account whose display name differs is updated by the first `up`, which
            # needs a role on it the deployer holds only on pipeline-trigger.
            display = props.get("displayName")
            made = re.search(rf"service-accounts create {re.escape(str(props.get('accountId')))}\b[^\n]*?"
                             r"--display-name (?:\"([^\"]*)\"|'([^']*)')", shell.replace("\\\n", " "))
            if display and props.get("accountId") in words and (not made or display not in made.groups()):
                self.error(f"resources.{name}: {where} must create {props.get('accountId')} with --display-name "
                           f"{display!r}, as the program names it, or the first up must update an account the "
                           "deployer may not change")

    def check_secrets(self):
        password = self.config.get("dbPassword")
        if not isinstance(password, dict) or password.get("secret") is not True:
            self.error("config.dbPassword must be declared secret: true")
        for name, value in (self.program.get("outputs") or {}).items():
            if self.refers_to(str(value), "dbPassword"):
                self.error(f"outputs.{name} exposes the database password")
        for path, stack in self.stack_files:
            settings = (stack or {}).get("config") or {}
            for key, value in settings.items():
                if key.split(":")[-1] == "dbPassword" and not (isinstance(value, dict) and "secure" in value):
                    self.error(f"{path}: {key} is in plain text; use pulumi config set --secret")
            project = str(settings.get("gcp:project", ""))
            is_example = Path(path).name in EXAMPLE_STACKS
            if is_example and PROJECT_ID.fullmatch(project):
                self.error(f"{path}: the example's gcp:project {project!r} could be a real project id; use a "
                           "placeholder no project id can match (uppercase, underscores)")
            elif not is_example and project and not PROJECT_ID.fullmatch(project):
                self.error(f"{path}: gcp:project {project!r} is not a GCP project id")


    # --- a bad deploy must not go green ---------------------------------------------------------

    def check_deploy_gates(self):
        for name, props in self.of_type("gcp:cloudrunv2:Service"):
            function = self.resolve(props.get("name"))
            if function not in DATABASE_PATHS:
                continue
            path, routes = DATABASE_PATHS[function]
            if not serves_path(routes, path):
                self.error(f"{routes} no longer serves {path}, which {name}'s startup probe and uptime check read")
            for container in (props.get("template") or {}).get("containers") or []:
                probe = container.get("startupProbe") or {}
                probed = str((probe.get("httpGet") or {}).get("path", ""))
                if probed.split("?")[0] != path:
                    self.error(f"resources.{name}: its container needs an HTTP startup probe on {path} (startupProbe."
                               f"httpGet.path), the route that reaches the database: otherwise a revision that "
                               f"cannot reach it goes live and answers 503 (found {probed or 'none'!r})")
        for name, props in self.of_type("gcp:cloudrunv2:Job"):
            if str((self.envs_of(props).get("LOG_FORMAT") or {}).get("value", "")).lower() != "json":
                self.error(f"resources.{name}: set LOG_FORMAT=json: Cloud Run sets no K_SERVICE in a job, so it would "
                           "log text, one entry a line and no severity for its errors")
        instances = {n for n, _ in self.of_type("gcp:sql:DatabaseInstance")}
        for name, props in self.of_type("command:local:Command"):
            if "jobs execute" in str(props.get("create", "")) and not self.roots(props.get("triggers") or []) & instances:
                self.error(f"resources.{name}: its triggers must name the database instance (${{<instance>."
                           "connectionName}}): a replaced instance starts empty, and nothing would migrate it")

    def check_uptime_checks(self):
        agents = {n for n, p in self.of_type("gcp:projects:ServiceIdentity") if p.get("service") == "monitoring.googleapis.com"}
        for service, props in self.of_type("gcp:cloudrunv2:Service"):
            if self.resolve(props.get("name")) not in DATABASE_PATHS:
                continue
            checks = [(n, p) for n, p in self.of_type("gcp:monitoring:UptimeCheckConfig")
                      if self.refers_to(str(((p.get("monitoredResource") or {}).get("labels") or {}).get(
                          "service_name", "")), service)]
            if not checks:
                self.error(f"resources.{service}: no gcp:monitoring:UptimeCheckConfig watches it (monitoredResource "
                           "cloud_run_revision with its service_name)")
            grants = [n for n, p in self.of_type("gcp:cloudrunv2:ServiceIamMember")
                      if self.refers_to(str(p.get("name", "")), service) and p.get("role") == "roles/run.invoker"
                      and MONITORING_AGENT in str(p.get("member", ""))]
            for grant in grants:
                if not agents & self.dependencies(grant):
                    self.error(f"resources.{grant}: must wait for a gcp:projects:ServiceIdentity of "
                               "monitoring.googleapis.com: in a new project the agent does not exist yet, and the "
                               "grant (and the first pulumi up) fails")
            for name, check in checks:
                auth = ((check.get("httpCheck") or {}).get("serviceAgentAuthentication") or {}).get("type")
                if auth != "OIDC_TOKEN":
                    self.error(f"resources.{name}: httpCheck.serviceAgentAuthentication.type must be OIDC_TOKEN: "
                               f"{service} requires an identity token")
                if not set(grants) & self.dependencies(name):
                    self.error(f"resources.{name}: must wait for Monitoring's agent ({MONITORING_AGENT}) to hold "
                               f"roles/run.invoker on {service} (a gcp:cloudrunv2:ServiceIamMember in dependsOn), or "
                               "its first checks fail with 403")
                alerted = [p for p, _, t in self.policies_on("monitoring.googleapis.com/uptime_check/check_passed")
                           if f"${{{name}.uptimeCheckId}}" in str(t.get("filter"))]
                if not alerted:
                    self.error(f"resources.{name}: no gcp:monitoring:AlertPolicy alerts when it fails "
                               f"(uptime_check/check_passed with check_id ${{{name}.uptimeCheckId}})")


class NetworkChecker(Checker):
    """The network program a private stack needs, checked against the main program's settings."""

    def __init__(self, network, main_program, deploy_doc=None):
        super().__init__(network, [], None, deploy_doc)
        self.main_defaults = {k: v.get("default") for k, v in
                              ((main_program.get("config") or {}).items()) if isinstance(v, dict)}

    def run(self):
        self.check_program()
        self.check_owner_setup("Private IP", "which the owner enables on purpose first: enabling Compute makes its "
                               "default service account, whose Editor grant the owner then takes away")
        networks = self.of_type("gcp:compute:Network")
        if len(networks) != 1:
            self.error(f"the network program must make one gcp:compute:Network (found {len(networks)})")
            return self.errors
        network, props = networks[0]
        self.expect_default(f"resources.{network}.name", props.get("name"), "privateNetwork")
        if props.get("autoCreateSubnetworks") is not False:
            self.error(f"resources.{network}: autoCreateSubnetworks must be false: an auto-mode network makes a "
                       "subnet in every region, with ranges that may clash with the peering's")
        self.check_run_subnet(network)
        self.check_peering(network)
        return self.errors

    def expect_default(self, where, value, key):
        """value, resolved, is the main program's default for config key (or its stacks miss it)."""
        wanted, got = self.main_defaults.get(key), self.resolve(value)
        if got != wanted:
            self.error(f"{where} is {got!r}, but the main program's {key} defaults to {wanted!r}: a private stack "
                       f"would look for a {key} that is not there")

    def check_run_subnet(self, network):
        subnets = [(n, p) for n, p in self.of_type("gcp:compute:Subnetwork") if self.refers_to(str(p.get("network")),
                                                                                               network)]
        if not subnets:
            self.error(f"no gcp:compute:Subnetwork of {network} for Cloud Run's Direct VPC egress")
            return
        name, props = subnets[0]
        self.expect_default(f"resources.{name}.name", props.get("name"), "privateSubnet")
        self.expect_default(f"resources.{name}.region", props.get("region"), "region")
        cidr = str(self.resolve(props.get("ipCidrRange")))
        match = re.fullmatch(r"[\d.]+/(\d+)", cidr)
        if not match or int(match.group(1)) > LARGEST_RUN_SUBNET_PREFIX:
            self.error(f"resources.{name}: ipCidrRange {cidr!r} must be a /{LARGEST_RUN_SUBNET_PREFIX} or larger: "
                       "Direct VPC egress needs that, and takes addresses 16 at a time")

    def check_peering(self, network):
        ranges = [n for n, p in self.of_type("gcp:compute:GlobalAddress")
                  if p.get("purpose") == "VPC_PEERING" and p.get("addressType") == "INTERNAL"
                  and self.refers_to(str(p.get("network")), network)]
        if not ranges:
            self.error(f"no gcp:compute:GlobalAddress (purpose VPC_PEERING, addressType INTERNAL) on {network}: "
                       "private services access needs a range for Google's side of the peering")
        for name in ranges:
            prefix = str(self.resolve((self.resources[name].get("properties") or {}).get("prefixLength")))
            if not prefix.isdigit() or int(prefix) > LARGEST_PEERING_PREFIX:
                self.error(f"resources.{name}: prefixLength {prefix!r} must be {LARGEST_PEERING_PREFIX} or less: "
                           "Cloud SQL needs a /24 at least")
        peerings = [(n, p) for n, p in self.of_type("gcp:servicenetworking:Connection")
                    if p.get("service") == "servicenetworking.googleapis.com"
                    and self.refers_to(str(p.get("network")), network)]
        if not peerings:
            self.error(f"no gcp:servicenetworking:Connection (servicenetworking.googleapis.com) peers {network} with "
                       "Google's services: Cloud SQL cannot give the instance a private IP on it")
        for name, props in peerings:
            if not any(r in self.roots(props.get("reservedPeeringRanges") or []) for r in ranges):
                self.error(f"resources.{name}: reservedPeeringRanges must name the VPC_PEERING range")
            if props.get("deletionPolicy") != "ABANDON":
                self.error(f"resources.{name}: deletionPolicy must be ABANDON: Google refuses to delete the peering "
                           "while (and for days after) a Cloud SQL instance uses it, so destroy would fail")


def serves_path(routes, path):
    """Whether the routes file still lists path among the paths it serves."""
    return f'"{path}"' in (ROOT / routes).read_text()


def function_logins():
    """({function name: its logins, slot A first}, as shared/db/src/roles.rs defines them, and
    the pattern of their password variables in the migrate binary, or None when it changed)."""
    source = (ROOT / "shared/db/src/roles.rs").read_text()
    login = source[source.index("pub fn login"):]
    login = login[:login.index("pub fn group")]
    logins = {}
    for variant, _slot, role in sorted(re.findall(r'\(FunctionRole::(\w+), LoginSlot::(\w+)\) => "(\w+)"', login)):
        logins.setdefault(variant.lower(), []).append(role)
    migrate = (ROOT / "functions/ingest/src/bin/migrate.rs").read_text()
    pattern = re.search(r'format!\("\{\}(_[A-Z_]+)", login\.to_ascii_uppercase\(\)\)', migrate)
    return logins, "{}" + pattern.group(1) if pattern else None


def logged_errors():
    """Every log::error! text in the Rust sources: what a log-based metric can match."""
    sources = [*ROOT.glob("shared/**/src/**/*.rs"), *ROOT.glob("functions/*/src/**/*.rs")]
    return [m.group(1) for f in sources for m in re.finditer(r'log::error!\(\s*"([^"]*)"', f.read_text())]


def load(directory):
    directory = Path(directory)
    program = yaml.safe_load((directory / "Pulumi.yaml").read_text())
    files = sorted(directory.glob("Pulumi.*.yaml")) + [directory / name for name in EXAMPLE_STACKS]
    stacks = [(p, yaml.safe_load(p.read_text())) for p in files if p.exists()]
    contexts = {}
    for resource in (program.get("resources") or {}).values():
        location = str(((resource.get("properties") or {}).get("context") or {}).get("location", ""))
        folder = directory / location
        if resource.get("type") == "docker-build:Image" and (folder / ".dockerignore").exists():
            tracked = subprocess.run(["git", "-C", str(folder), "ls-files"], capture_output=True, text=True,
                                     check=True).stdout.split()
            contexts[location] = ((folder / ".dockerignore").read_text(), (folder / "Dockerfile").read_text(), tracked)
    return program, stacks, contexts


def load_network(directory):
    """The network program beside the main one (PROGRAM_DIR/network), or None."""
    path = Path(directory) / NETWORK_PROGRAM / "Pulumi.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def check(program, stacks, contexts, deploy_doc=None):
    """Every problem of every shape of the program: those of the first shape as they are, the
    others' own problems named with their shape."""
    evaluated, errors = shapes(program)
    found = shape_index(program)
    for key, count in (found[0] if found else {}).items():
        chosen = [("the program's default", ((program.get("config") or {}).get(key) or {}).get("default"))]
        for path, stack in stacks:
            settings = {k.split(":", 1)[-1]: v for k, v in ((stack or {}).get("config") or {}).items()}
            if key in settings:
                chosen.append((Path(path).name, settings[key]))
        errors += [f"{where}: {problem}" for where, value in chosen if (problem := index_problem(key, count, value))]
    seen = set()
    for label, shaped in evaluated:
        for error in Checker(shaped, stacks, contexts, deploy_doc).run():
            if error not in seen:
                seen.add(error)
                errors.append(f"with {label}: {error}" if label and label != evaluated[0][0] else error)
    private = [label for label, shaped in evaluated for _, r in (shaped.get("resources") or {}).items()
               if r.get("type") == "gcp:sql:DatabaseInstance"
               and (((r.get("properties") or {}).get("settings") or {}).get("ipConfiguration") or {}).get(
                   "ipv4Enabled") is False]
    if not private:
        errors.append("no shape gives the database a private IP only (ipv4Enabled: false): organizations that "
                      "enforce constraints/sql.restrictPublicIp refuse the instance; offer one through a fn::select "
                      "on a stack setting (docs/deploy.md: Private IP)")
    return errors


def check_network(network, program, deploy_doc=None):
    return NetworkChecker(network, program, deploy_doc).run()


def main():
    if help_asked(__doc__):
        return 0
    directory = Path((arguments() or [ROOT / "pulumi"])[0])
    program, stacks, contexts = load(directory)
    errors = check(program, stacks, contexts)
    network = load_network(directory)
    if network is not None:
        errors += [f"{NETWORK_PROGRAM}/Pulumi.yaml: {e}" for e in check_network(network, program)]
    checked = f"{directory}/Pulumi.yaml" + (f" and {directory}/{NETWORK_PROGRAM}/Pulumi.yaml" if network else "")
    return report([f"error: {e}" for e in errors], f"{len(errors)} problem(s) in {checked}",
                  f"{checked}: {len(program.get('resources', {}))} resources in {len(shapes(program)[0])} shape(s), "
                  f"{len((network or {}).get('resources') or {})} in the network: types, properties, references, "
                  "names, provider versions, IAM, teardown, dead letters, images, retention, alerts and "
                  "connectivity check out")


if __name__ == "__main__":
    sys.exit(main())
