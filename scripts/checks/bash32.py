"""Checks that the project's bash scripts run on bash 3.2, the bash macOS ships.

A laptop runs these scripts with /bin/bash 3.2 (macOS keeps it for its licence), so every
script a user may run must avoid what came later. shellcheck does not know bash versions;
these rules name each construct, the bash that brought it, and the portable spelling:

- an array expanded as "${a[@]}" while it may be empty: under `set -u` bash before 4.4 says
  "unbound variable"; write ${a[@]+"${a[@]}"};
- mapfile/readarray, declare -A (associative arrays), ${x,,} and ${x^^} (case changes),
  `|&`, `&>>`, `;&` and `;;&` in case, coproc, globstar (bash 4.0);
- exec {fd}> (4.1), declare -g, [[ -v ]], printf %(...)T (4.2);
- declare -n (namerefs), wait -n, negative subscripts ${a[-1]} (4.3);
- ${x@Q} and the other @ transformations (4.4); $EPOCHSECONDS, $EPOCHREALTIME, wait -p (5.0).

  scripts/check-bash32 [FILE...]     check (default: every bash script of the project)
"""

import re
import sys
from pathlib import Path

from checks import arguments, help_asked, report

ROOT = Path(__file__).resolve().parents[2]
ARRAY_EXPANSION = re.compile(r"\$\{(\w+)\[[@*]\]\}")
RULES = [
    (re.compile(r"\b(mapfile|readarray)\b"), "mapfile/readarray is bash 4.0: read lines in a while-read loop"),
    (re.compile(r"\b(declare|local|typeset)\s+(-\w*\s+)*-\w*A"), "associative arrays are bash 4.0"),
    (re.compile(r"\b(declare|local|typeset)\s+(-\w*\s+)*-\w*n\w*\s"), "namerefs (declare -n) are bash 4.3"),
    (re.compile(r"\bdeclare\s+(-\w*\s+)*-\w*g"), "declare -g is bash 4.2"),
    (re.compile(r"\$\{\w+(\[[^]]*\])?(,,?|\^\^?)\}"), "case changes (${x,,} ${x^^}) are bash 4.0: use tr"),
    (re.compile(r"\$\{\w+(\[[^]]*\])?@[QEPAKaUuLk]\}"), "${x@Q} and other @ transformations are bash 4.4"),
    (re.compile(r"\|&"), "|& is bash 4.0: write 2>&1 |"),
    (re.compile(r"&>>"), "&>> is bash 4.0: write >>FILE 2>&1"),
    (re.compile(r";;&|;&\s*$"), "case fall-through (;& and ;;&) is bash 4.0"),
    (re.compile(r"^\s*coproc\b"), "coproc is bash 4.0"),
    (re.compile(r"\bshopt\s+-s\s+.*\b(globstar|lastpipe|autocd|checkjobs)\b"), "that shopt option is bash 4"),
    (re.compile(r"\{\w+\}[<>]"), "exec {fd}> (automatic descriptors) is bash 4.1"),
    (re.compile(r"\[\[\s+-v\s|\btest\s+-v\s|\[\s+-v\s"), "-v NAME tests are bash 4.2: use ${NAME+set}"),
    (re.compile(r"\bwait\s+-[np]\b"), "wait -n is bash 4.3, wait -p 5.1"),
    (re.compile(r"\$\{\w+\[-\d+\]\}"), "negative subscripts are bash 4.3"),
    (re.compile(r"\$\{?(EPOCHSECONDS|EPOCHREALTIME|BASHPID)\b"), "that variable is bash 4 or 5: use date or $$"),
]
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")
SINGLE_QUOTED = re.compile(r"'[^']*'")
PRINTF_TIME = re.compile(r"\bprintf\b.*%\([^)]*\)T")


def bash_scripts():
    """Every file of scripts/ and .ci/ that bash runs or sources."""
    found = []
    for path in sorted([*ROOT.glob("scripts/**/*"), *ROOT.glob(".ci/*")]):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        head = path.read_text(errors="replace").split("\n", 1)[0]
        if path.suffix == ".sh" or head in ("#!/usr/bin/env bash", "#!/bin/bash"):
            found.append(path)
    return found


def code_lines(text):
    """(line number, code) without comments and here-document bodies, which bash does not run."""
    terminator = None
    for number, line in enumerate(text.splitlines(), 1):
        if terminator is not None:
            if line.strip() == terminator:
                terminator = None
            continue
        code = strip_comment(line)
        heredoc = HEREDOC.search(code)
        if heredoc:
            terminator = heredoc.group(2)
        yield number, code


def strip_comment(line):
    quote = None
    for i, c in enumerate(line):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t;") and not line[:i].endswith("$"):
            return line[:i]
    return line


def violations(text):
    for number, code in code_lines(text):
        if PRINTF_TIME.search(code):
            yield number, "printf %(...)T is bash 4.2: use date"
        code = SINGLE_QUOTED.sub("''", code)  # never expanded: text for another program, or words
        for match in ARRAY_EXPANSION.finditer(code):
            name = match.group(1)
            before = code[:match.start()]
            if not re.search(r"\$\{" + name + r"\[@\]\+\"?$", before):
                yield number, (f"${{{name}[@]}} of a possibly empty array fails under set -u before bash 4.4: "
                               f"write ${{{name}[@]+\"${{{name}[@]}}\"}}")
        for pattern, why in RULES:
            if pattern.search(code):
                yield number, why


def main():
    if help_asked(__doc__):
        return 0
    files = [Path(a) for a in arguments()] or bash_scripts()
    problems = [f"{path.relative_to(ROOT) if path.is_absolute() else path}:{number}: {why}"
                for path in files for number, why in violations(path.read_text())]
    return report(problems, f"{len(problems)} construct(s) that bash 3.2 (macOS) does not run",
                  f"{len(files)} bash scripts run on bash 3.2")


if __name__ == "__main__":
    sys.exit(main())
