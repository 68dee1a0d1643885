"""hfit API service (FastAPI): packages, templates, builds, audit. Imported as ``hfit_api``."""

__version__ = "0.1.0"
