"""Each bash-3.2 rule catches a planted violation, and portable spellings pass."""

import unittest

from checks.bash32 import bash_scripts, violations

# A line each rule must refuse -> words its reason must hold.
PLANTED = {
    'args=(); set -u; run "${args[@]}"': "possibly empty array",
    "mapfile -t lines < file": "mapfile",
    "declare -A seen": "associative",
    "local -n ref=$1": "namerefs",
    'lower=${name,,}': "case changes",
    'upper=${name^^}': "case changes",
    'echo "${name@Q}"': "@ transformations",
    "make |& tee log": "|&",
    "echo x &>> log": "&>>",
    "  a) echo a ;;&": "fall-through",
    "coproc worker { cat; }": "coproc",
    "shopt -s globstar": "shopt",
    "exec {fd}>/tmp/lock": "automatic descriptors",
    "[[ -v PGHOST ]] && echo set": "-v NAME",
    "printf '%(%s)T' -1": "printf %(...)T",
    "wait -n": "wait -n",
    'last=${items[-1]}': "negative subscripts",
    "start=$EPOCHSECONDS": "variable is bash 4",
}
ALLOWED = [
    'args=(); run ${args[@]+"${args[@]}"}',
    'echo "${#args[@]}"',
    "cat <<'EOF'\nmapfile -t in a heredoc is text\nEOF",
    "# mapfile in a comment",
    "echo 'mapfile -t, declare -A: words in single quotes'",
]


class Bash32(unittest.TestCase):
    def test_each_planted_violation_is_refused_with_its_reason(self):
        for line, expected in PLANTED.items():
            with self.subTest(line=line):
                found = [why for _, why in violations(line)]
                self.assertTrue(any(expected in why for why in found), found)

    def test_portable_spellings_pass(self):
        for text in ALLOWED:
            with self.subTest(text=text):
                self.assertEqual([why for _, why in violations(text)], [])

    def test_the_project_scripts_pass(self):
        for path in bash_scripts():
            with self.subTest(script=str(path)):
                self.assertEqual(list(violations(path.read_text())), [])


if __name__ == "__main__":
    unittest.main()
