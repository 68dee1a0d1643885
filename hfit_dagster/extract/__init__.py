"""Extraction: the only code that talks to a source database.

Modules, in import order: ``spatial`` (MySQL geometry types for reflection), ``arrow_types`` (SQL types to
Arrow, Python rows to batches, the documented values for what Arrow has no value for), ``sessions`` (every
connection in UTC; psycopg loaders that keep the server's text), ``packet_walk`` and ``mysql_fast`` (the
compiled MySQL reader), ``exact_floats`` (FLOAT columns selected as DOUBLE), ``db_errors`` (driver errors
as messages without data), ``query_guard`` (the SQL guard on the source's connection), ``privileges`` (what a
source user may do beyond reading) and ``source`` (engines, read-only snapshots in a template's schema,
reflection, streamed reads).
"""
