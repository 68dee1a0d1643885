"""The templates made through the service's API, as the code location loads them.

The service mirrors every template created, edited or approved through its API as ``<home>/templates/<name>.yaml``
(the YAML states the status the service holds; a proposed revision is not mirrored until it is approved). The
code location adds them to templates/ so that the service's builds are runs of its jobs: an approved mirror
replaces the repository template of the same name (an approved revision), a draft becomes a job of its own for
the dry runs its author asks for (``draft_builds.py``: masked with a throwaway key, nothing pruned, LATEST
untouched) without a schedule or alert trigger. A mirror that no longer validates is skipped, never fatal to
the location.

Job, op and asset-group names are the template's name with every character but letters, digits and ``_``
replaced (``resources.slug``), so ``a-b``, ``a_b`` and ``a.b`` would share a job: two definitions of one job fail
the whole code location, and a draft's request could name an approved template's job. A mirror whose slug
another template of the location already claims is skipped: the repository's approved templates first, then
approved mirrors, then drafts (each group by name).
"""

import logging
from collections.abc import Collection
from pathlib import Path

from hfit_dagster.errors import HfitError
from hfit_dagster.orchestration.resources import slug
from hfit_dagster.template.loader import TEMPLATE_SUFFIXES, TemplateFile, load_template_file

log = logging.getLogger("hfit_dagster.service_templates")
MIRROR_FOLDER = "templates"


def service_templates(home: Path, beside: Collection[str] = ()) -> dict[str, TemplateFile]:
    """The templates mirrored under ``<home>/templates``, by name, but those whose job name (slug) a template of
    ``beside`` (the repository's approved templates) or an earlier mirror already has under another name."""
    folder = home / MIRROR_FOLDER
    loaded: dict[str, TemplateFile] = {}
    if not folder.is_dir():
        return loaded
    for path in sorted(p for p in folder.iterdir() if p.suffix in TEMPLATE_SUFFIXES and p.is_file()
                       and not p.name.startswith(".")):
        try:
            spec = load_template_file(path)
        except HfitError as exc:
            log.warning("skipping the service template %s: %s", path.name, exc.message)
            continue
        loaded[spec.name] = TemplateFile(spec=spec, path=path, folder="")
    claimed = {slug(name): name for name in beside}
    found: dict[str, TemplateFile] = {}
    for name, template in sorted(loaded.items(), key=lambda item: (item[1].spec.status != "approved", item[0])):
        holder = claimed.setdefault(slug(name), name)
        if holder != name:
            log.warning("skipping the service template %s: its job would be the job of template %s (names that "
                        "differ only in '-', '.' and '_' share one)", name, holder)
            continue
        found[name] = template
    return found
