"""The hfit command line: a thin layer over the build pipeline (and, later, the API client)."""
