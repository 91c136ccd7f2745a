"""Unit tests of the checks: python3 -m unittest discover -s scripts/checks/tests -t scripts."""
