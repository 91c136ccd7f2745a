"""The checks scripts/check-* run: each a module with main(), tested in tests/."""

import sys


def help_asked(doc):
    """True, with `doc` printed, when the command line asks for help."""
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(doc.strip())
        return True
    return False


def arguments():
    """The command line's arguments that are not options."""
    return [a for a in sys.argv[1:] if not a.startswith("--")]


def report(problems, failed, passed):
    """Prints each problem and what they amount to (`failed`), or `passed`; the exit status."""
    for problem in problems:
        print(problem)
    print(failed if problems else passed)
    return 1 if problems else 0
