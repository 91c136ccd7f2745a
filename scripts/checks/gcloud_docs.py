"""Runs every gcloud command of the docs through the real gcloud's argument parser.

gcloud parses a command line before it looks for credentials: with an empty configuration a
well-formed command fails on auth ("You do not currently have an active account selected",
"Your default credentials were not found"), a malformed one on its arguments. So each command
is run once, and passes when it fails on credentials (or succeeds); anything else fails the
check with gcloud's own message.

What is read: every fenced block of README.md and docs/*.md (and the READMEs the link check
reads) whose language is a shell's (sh, bash, shell, console, zsh) or none. Inside, commands
are taken apart as the shell would: backslash continuations, `&&`, `||`, `;`, pipes, comments,
here-documents (skipped), and the commands inside `$(...)`, `<(...)` and loops. A gcloud
command in a block of another language is an error (so no edit can hide one from this check).

Variables take the values the docs give them, in order, file by file: a literal assignment
(`PROJECT=my-project`), a loop's first item (`for role in a b c` makes $role `a`); a variable
set from a command (`NUMBER=$(gcloud ...)`, `read -r REPO_ID OWNER_ID < <(curl ...)`) takes its
plausible value from COMMAND_VALUES below. A variable with no value is an error, never an
empty string. A `$(...)` inside a gcloud argument becomes SUBSTITUTED.

How gcloud is run: from an empty folder, stdin closed, with a CLOUDSDK_CONFIG and HOME of its
own (empty: no account, no project, no application-default credentials), prompts disabled, no
GCE metadata lookup, no usage reports or update checks, every CLOUDSDK_* and GOOGLE_* variable
of the caller's environment dropped, and gcloud's proxy (and HTTP(S)_PROXY) pointed at a
local port that refuses connections: a command that needed no credentials still could not
reach Google. Commands that would wait for a person or change the installation (PARSE_ONLY:
`gcloud auth login`, `gcloud auth application-default login`, `gcloud init`, `gcloud
components ...`) are only parsed: gcloud's own entry point runs with the command's Run
replaced, so its parser (flags, choices, arguments) still decides.

  scripts/check-gcloud-docs [FILE...]   check (default: the Markdown files of check-links)
  scripts/check-gcloud-docs --list      print the commands as they would be run, run nothing

Exit status 1 when a command fails on anything but credentials; 2 without gcloud.
"""

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from checks import arguments, help_asked, report
from checks.links import ROOT, markdown_files

SHELL_LANGUAGES = {"", "sh", "bash", "shell", "console", "zsh"}
FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
# Values that only a command run against a real project or GitHub would give.
COMMAND_VALUES = {
    "NUMBER": "123456789012",  # projectNumber
    "REPO_ID": "123456789",  # GitHub's numeric ids
    "OWNER_ID": "987654321",
    "REPO_NAME": "owner/name",
}
SUBSTITUTED = "value-of-a-command"
# (command words, why) of commands that are parsed, never run.
PARSE_ONLY = (
    (("auth", "login"), "opens a browser and waits for a person"),
    (("auth", "application-default", "login"), "opens a browser and waits for a person"),
    (("init",), "asks questions"),
    (("components",), "changes the installation"),
)
CREDENTIAL_FAILURES = (
    "You do not currently have an active account selected",
    "Your default credentials were not found",
)
TIMEOUT_SECONDS = 60
OPERATORS = ("&&", "||", ";;", ";", "|", "&", "(", ")", "\n")
KEYWORDS = {"do", "then", "else", "elif", "done", "fi", "esac", "{", "}", "!", "time", "while", "until", "if"}
REDIRECTION = re.compile(r"^(\d*)(<<<|<<-?|>>|>&|<&|>|<)")


@dataclass
class Word:
    """A shell word as parts: ("lit", text), ("var", name) or ("sub", the command's source)."""

    parts: list = field(default_factory=list)
    line: int = 0

    def literal(self):
        """The word's text when it has no expansion, else None."""
        return "".join(p[1] for p in self.parts) if all(p[0] == "lit" for p in self.parts) else None


@dataclass
class Command:
    """A gcloud command as it is run: its arguments after `gcloud`, and where the docs have it."""

    path: Path
    line: int
    args: list

    def where(self):
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"

    def shown(self):
        return shlex.join(["gcloud", *self.args])


class ShellError(Exception):
    pass


def fenced_blocks(text):
    """(language, line of the block's first line, the block's text) of every fenced block."""
    block, language, start, fence = None, "", 0, ""
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if block is None and match:
            block, language, start, fence = [], match.group(2).lower(), number + 1, match.group(1)
        elif block is not None and line.strip().startswith(fence[:3]) and line.strip().strip(fence[0]) == "":
            yield language, start, "\n".join(block) + "\n"
            block = None
        elif block is not None:
            block.append(line)


def matching_paren(text, start):
    """The index of the `)` that closes the `(` at `start`, skipping quoted text."""
    depth, i = 0, start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            i = text.index("'", i + 1) if "'" in text[i + 1:] else len(text)
        elif c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ShellError("a `(` that is never closed")


def tokens(text, first_line=1):
    """The block's words and operators, in order: Word, or (operator, line)."""
    out, i, line, heredocs = [], 0, first_line, []
    while i < len(text):
        c = text[i]
        if text.startswith("\\\n", i):
            i, line = i + 2, line + 1
        elif c in " \t":
            i += 1
        elif c == "\n":
            out.append(("\n", line))
            i, line = i + 1, line + 1
            for delimiter, strip in heredocs:  # skip each here-document's body
                while i < len(text):
                    end = text.find("\n", i)
                    end = len(text) if end < 0 else end
                    body_line, i, line = text[i:end], end + 1, line + 1
                    if (body_line.strip() if strip else body_line) == delimiter:
                        break
            heredocs = []
        elif c == "#":
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif REDIRECTION.match(text[i:]) and not text.startswith("<(", i):
            operator = REDIRECTION.match(text[i:]).group(2)
            i += REDIRECTION.match(text[i:]).end()
            while i < len(text) and text[i] in " \t":
                i += 1
            target, i, line = read_word(text, i, line)
            if operator.startswith("<<") and operator != "<<<":
                heredocs.append((target.literal() or "", operator == "<<-"))
            elif operator in (">&", "<&"):
                pass  # 2>&1
            else:
                for part in target.parts:  # a process substitution's commands still run
                    if part[0] == "sub":
                        out.append(("redirect", line, target))
                        break
        elif any(text.startswith(op, i) for op in OPERATORS):
            operator = next(op for op in OPERATORS if text.startswith(op, i))
            out.append((operator, line))
            i += len(operator)
        else:
            word, i, line = read_word(text, i, line)
            out.append(word)
    return out


def read_word(text, i, line):
    """Reads one word from text[i:]: (Word, index after it, line after it)."""
    word = Word(line=line)

    def literal(s):
        if word.parts and word.parts[-1][0] == "lit":
            word.parts[-1] = ("lit", word.parts[-1][1] + s)
        else:
            word.parts.append(("lit", s))

    def dollar(i):
        """Reads a $ expansion at text[i]; the index after it."""
        if text.startswith("$(", i):
            end = matching_paren(text, i + 1)
            word.parts.append(("sub", text[i + 2:end]))
            return end + 1
        match = re.match(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*|[0-9@*#?$!-])", text[i:])
        if match:
            word.parts.append(("var", match.group(1) or match.group(2)))
            return i + match.end()
        literal("$")
        return i + 1

    while i < len(text) and text[i] not in " \t\n;&|()<>":
        c = text[i]
        if text.startswith("\\\n", i):
            i, line = i + 2, line + 1
        elif c == "\\":
            literal(text[i + 1:i + 2])
            i += 2
        elif c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ShellError(f"line {line}: a ' that is never closed")
            literal(text[i + 1:end])
            line += text.count("\n", i, end)
            i = end + 1
        elif c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                if text.startswith("\\\n", i):
                    i, line = i + 2, line + 1
                elif text[i] == "\\" and text[i + 1:i + 2] in ('"', "\\", "$", "`"):
                    literal(text[i + 1])
                    i += 2
                elif text[i] == "$":
                    i = dollar(i)
                else:
                    line += text[i] == "\n"
                    literal(text[i])
                    i += 1
            if i >= len(text):
                raise ShellError(f"line {word.line}: a \" that is never closed")
            i += 1
        elif c == "$":
            i = dollar(i)
        else:
            literal(c)
            i += 1
    if i < len(text) and text.startswith("<(", i) and not word.parts:
        end = matching_paren(text, i + 1)
        word.parts.append(("sub", text[i + 2:end]))
        i = end + 1
    return word, i, line


class Extractor:
    """Walks a file's shell blocks in order, keeping its variables, collecting gcloud commands."""

    def __init__(self, path):
        self.path, self.variables, self.commands, self.problems = path, {}, [], []

    def problem(self, line, why):
        self.problems.append(f"{Command(self.path, line, []).where()}: {why}")

    def block(self, text, first_line):
        try:
            self.run(tokens(text, first_line))
        except ShellError as error:
            self.problem(first_line, f"cannot read this block as shell: {error}")

    def run(self, stream):
        command = []
        for token in [*stream, ("\n", 0)]:
            if isinstance(token, Word):
                command.append(token)
            elif token[0] == "redirect":
                self.expand(token[2])  # the commands of `< <(...)`
            else:
                if command:
                    self.simple_command(command)
                command = []

    def expand(self, word):
        """The word's value now; the commands inside its substitutions are collected."""
        value = []
        for kind, text in word.parts:
            if kind == "lit":
                value.append(text)
            elif kind == "var":
                if text in self.variables:
                    value.append(self.variables[text])
                elif text in COMMAND_VALUES:
                    value.append(COMMAND_VALUES[text])
                else:
                    self.problem(word.line, f"${text} has no value (assign it in the docs, or give it one in "
                                            "COMMAND_VALUES of scripts/checks/gcloud_docs.py)")
                    value.append(f"${text}")
            else:
                self.block(text, word.line)
                value.append(SUBSTITUTED)
        return "".join(value)

    def assign(self, name, word):
        if any(kind == "sub" for kind, _ in word.parts) and name in COMMAND_VALUES:
            self.expand(word)
            self.variables[name] = COMMAND_VALUES[name]
        else:
            self.variables[name] = self.expand(word)

    def simple_command(self, words):
        while words and words[0].literal() in KEYWORDS:
            words = words[1:]
        if not words:
            return
        head = words[0].literal()
        if head == "for" and len(words) >= 3 and words[2].literal() == "in":
            name = words[1].literal()
            self.variables[name] = self.expand(words[3]) if len(words) > 3 else ""
            return
        if head == "read":
            for word in words[1:]:
                name = word.literal() or ""
                if re.fullmatch(r"[A-Za-z_]\w*", name):
                    if name not in COMMAND_VALUES:
                        self.problem(word.line, f"`read` sets ${name}: give it a value in COMMAND_VALUES")
                    self.variables[name] = COMMAND_VALUES.get(name, f"${name}")
            return
        if head in ("export", "readonly", "local"):
            words = words[1:]
        assignments = []
        while words and words[0].parts and words[0].parts[0][0] == "lit" \
                and re.match(r"[A-Za-z_]\w*=", words[0].parts[0][1]):
            assignments.append(words.pop(0))
        if not words:  # only assignments: they last
            for word in assignments:
                name, _, rest = word.parts[0][1].partition("=")
                self.assign(name, Word([("lit", rest), *word.parts[1:]], word.line))
            return
        values = [self.expand(word) for word in words]
        if values[0] == "gcloud":
            self.commands.append(Command(self.path, words[0].line, values[1:]))


def extract(path, text):
    """(gcloud commands, problems) of a Markdown file."""
    extractor = Extractor(path)
    for language, first_line, block in fenced_blocks(text):
        if language in SHELL_LANGUAGES:
            if language == "console":
                block = "\n".join(re.sub(r"^\$ ", "", line) for line in block.splitlines()) + "\n"
            extractor.block(block, first_line)
        else:
            for offset, line in enumerate(block.splitlines()):
                if re.match(r"\s*(\$\s+)?gcloud\s", line):
                    extractor.problem(first_line + offset, f"a gcloud command in a ```{language} block: put it in a "
                                                           "```sh block, where scripts/check-gcloud-docs checks it")
    return extractor.commands, extractor.problems


def parse_only_reason(args):
    words = []
    for arg in args:
        if arg.startswith("-"):
            break
        words.append(arg)
    for prefix, why in PARSE_ONLY:
        if tuple(words[:len(prefix)]) == prefix:
            return why
    return None


# Runs gcloud's entry point with every command's Run replaced: parsing still happens, nothing runs.
PARSE_ONLY_HARNESS = """
import os, runpy, sys
root = sys.argv[1]
sys.argv = [os.path.join(root, "lib", "gcloud.py"), *sys.argv[2:]]
sys.path[:0] = [os.path.join(root, "lib", "third_party"), os.path.join(root, "lib")]
from googlecloudsdk.calliope import backend
def parsed_not_run(self, cli, args):
    sys.stderr.write("parsed, not run\\n")
backend.Command.Run = parsed_not_run
runpy.run_path(sys.argv[0], run_name="__main__")
"""


class Gcloud:
    """The installed gcloud, run in an empty, offline sandbox (see the module's docs)."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        # A bound socket that never listens: connections to it are refused, and no one else gets the port.
        self.refuser = socket.socket()
        self.refuser.bind(("127.0.0.1", 0))
        port = self.refuser.getsockname()[1]
        self.base = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "CLOUDSDK_PYTHON")
                     if name in os.environ}
        self.base.update({
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
            "CLOUDSDK_CORE_DISABLE_FILE_LOGGING": "true",
            "CLOUDSDK_PROXY_TYPE": "http",
            "CLOUDSDK_PROXY_ADDRESS": "127.0.0.1",
            "CLOUDSDK_PROXY_PORT": str(port),
            "HTTP_PROXY": f"http://127.0.0.1:{port}",
            "HTTPS_PROXY": f"http://127.0.0.1:{port}",
            "NO_PROXY": "",
        })
        self.harness = self.workdir / "parse_only.py"
        self.harness.write_text(PARSE_ONLY_HARNESS)
        self.sdk_root = self.python = None

    def close(self):
        self.refuser.close()

    def sandbox(self):
        """A fresh empty folder, its own configuration and home: the environment to run in."""
        folder = Path(tempfile.mkdtemp(dir=self.workdir))
        for name in ("config", "home", "cwd"):
            (folder / name).mkdir()
        return folder / "cwd", {**self.base, "CLOUDSDK_CONFIG": str(folder / "config"), "HOME": str(folder / "home")}

    def run(self, argv):
        cwd, env = self.sandbox()
        try:
            done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            return None, f"no answer in {TIMEOUT_SECONDS} s"
        return done.returncode, done.stderr + done.stdout

    def locate(self):
        """gcloud's installation folder and Python, for the parse-only harness."""
        if self.sdk_root is None:
            status, output = self.run(["gcloud", "info", "--format=value(installation.sdk_root,basic.python_location)"])
            fields = output.split() if status == 0 else []
            if len(fields) < 2:
                raise RuntimeError(f"gcloud info did not say where gcloud is installed: {output.strip()}")
            self.sdk_root, self.python = fields[0], fields[1]
        return self.sdk_root, self.python

    def verdict(self, command):
        """None when the command passes, else why not."""
        why_parse_only = parse_only_reason(command.args)
        if why_parse_only:
            sdk_root, python = self.locate()
            status, output = self.run([python, str(self.harness), sdk_root, *command.args])
        else:
            status, output = self.run(["gcloud", *command.args])
        if status == 0 or (status is not None and any(text in output for text in CREDENTIAL_FAILURES)):
            return None
        lines = [line for line in output.strip().splitlines() if line.strip()]
        first_error = next((i for i, line in enumerate(lines) if line.startswith("ERROR")), 0)
        return "\n    ".join(lines[first_error:first_error + 3]) or f"exit status {status}"


def check_commands(commands, workers=None):
    """The problems of running each distinct command once, in parallel."""
    distinct = {}
    for command in commands:
        distinct.setdefault(tuple(command.args), command)
    with tempfile.TemporaryDirectory(prefix="check-gcloud-docs.") as workdir:
        gcloud = Gcloud(workdir)
        try:
            if any(parse_only_reason(c.args) for c in distinct.values()):
                gcloud.locate()
            with ThreadPoolExecutor(max_workers=workers or min(4, os.cpu_count() or 2)) as pool:
                verdicts = list(pool.map(gcloud.verdict, distinct.values()))
        finally:
            gcloud.close()
    by_args = {args: verdict for args, verdict in zip(distinct, verdicts, strict=True)}
    return [f"{c.where()}: {c.shown()}\n    {by_args[tuple(c.args)]}" for c in commands if by_args[tuple(c.args)]]


def main():
    if help_asked(__doc__):
        return 0
    files = [Path(a).resolve() for a in arguments()] or markdown_files()
    commands, problems = [], []
    for path in files:
        found, trouble = extract(path, path.read_text())
        commands += found
        problems += trouble
    if "--list" in sys.argv[1:]:
        for command in commands:
            note = parse_only_reason(command.args)
            print(f"{command.where()}: {command.shown()}{f'  (parsed only: {note})' if note else ''}")
        return report(problems, f"{len(problems)} problem(s)", f"{len(commands)} gcloud command(s)")
    if shutil.which("gcloud") is None:
        print("error: gcloud is not installed (the Google Cloud CLI; see README.md: Prerequisites)")
        return 2
    problems += check_commands(commands)
    distinct = len({tuple(c.args) for c in commands})
    return report(problems, f"{len(problems)} problem(s) in the docs' gcloud commands",
                  f"{len(commands)} gcloud commands ({distinct} distinct) of {len(files)} Markdown files: "
                  "each parsed by gcloud, failing only on credentials")


if __name__ == "__main__":
    sys.exit(main())
