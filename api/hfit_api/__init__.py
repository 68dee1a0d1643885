"""hfit API service (FastAPI): packages, templates, builds, audit. Imported as ``hfit_api``."""
