"""Extraction: the only code that talks to a source database."""
