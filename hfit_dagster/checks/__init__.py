"""Checks a package must pass before it is published."""
