"""The templates made through the service's API, as the code location loads them.

The service mirrors every template created, edited or approved through its API as ``<home>/templates/<name>.yaml``
(the YAML states the status the service holds; a proposed revision is not mirrored until it is approved). The
code location adds them to templates/ so that the service's builds are runs of its jobs: an approved mirror
replaces the repository template of the same name (an approved revision), a draft becomes a job of its own for
the dry runs its author asks for (``draft_builds.py``: masked with a throwaway key, nothing pruned, LATEST
untouched) without a schedule or alert trigger. A mirror that no longer validates is skipped, never fatal to
the location.
"""

import logging
from pathlib import Path

from hfit_dagster.errors import HfitError
from hfit_dagster.template.loader import TEMPLATE_SUFFIXES, TemplateFile, load_template_file

log = logging.getLogger("hfit_dagster.service_templates")
MIRROR_FOLDER = "templates"


def service_templates(home: Path) -> dict[str, TemplateFile]:
    """The templates mirrored under ``<home>/templates``, by name."""
    folder = home / MIRROR_FOLDER
    found: dict[str, TemplateFile] = {}
    if not folder.is_dir():
        return found
    for path in sorted(p for p in folder.iterdir() if p.suffix in TEMPLATE_SUFFIXES and p.is_file()
                       and not p.name.startswith(".")):
        try:
            spec = load_template_file(path)
        except HfitError as exc:
            log.warning("skipping the service template %s: %s", path.name, exc.message)
            continue
        found[spec.name] = TemplateFile(spec=spec, path=path, folder="")
    return found
