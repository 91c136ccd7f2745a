"""The checks scripts/check-* run: each a module with main(), tested in tests/."""
