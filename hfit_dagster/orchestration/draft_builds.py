"""Builds of content nobody else has approved (a draft's or a proposed revision's dry run on the service).

Such a build never yields personal data and never stands in for an approved package:

* its ``keep`` rules and ``default: keep`` are ignored (``TemplateSpec.as_draft_build``), so every column the
  classifier finds personal is masked;
* it masks with a throwaway key, derived from the service's key and the run id: the same original gets the same
  fake within the run (joins hold), but a different one from any approved package and from every other dry run,
  so a draft cannot be used as an oracle that computes the service's fake of a guessed value;
* it publishes its version without moving LATEST, and prunes nothing.

Only approved templates are in the Dagster definitions of ``templates/``; drafts reach the engine through the
service's dry runs.

A run of the service names the content its build record names (run tag ``hfit/template_hash``): the step loads
the template when the run starts, which may be minutes after the request, and a template edited, approved or
replaced meanwhile fails the run (``check_requested_content``) instead of building other content under the
record of this one, and a draft's queued dry run never becomes a build of content approved after it was asked.
"""

import hashlib
import hmac
from collections.abc import Mapping

from pydantic import SecretStr

from hfit_dagster.errors import BuildError
from hfit_dagster.settings import HfitSettings
from hfit_dagster.template.spec import TemplateSpec

_DRAFT_KEY_LABEL = b"hfit draft build key\x00"
TEMPLATE_HASH_TAG = "hfit/template_hash"


def is_draft(spec: TemplateSpec) -> bool:
    return spec.status != "approved"


def draft_build_settings(settings: HfitSettings, run_id: str) -> HfitSettings:
    """``settings`` with the run's throwaway masking key (HMAC of the service key over the run id)."""
    derived = hmac.new(settings.masking_key_bytes(), _DRAFT_KEY_LABEL + run_id.encode(), hashlib.sha256).hexdigest()
    return settings.model_copy(update={"masking_key": SecretStr(derived)})


def for_build(spec: TemplateSpec, settings: HfitSettings, run_id: str) -> tuple[TemplateSpec, HfitSettings]:
    """The spec and settings a build of ``spec`` runs with in run ``run_id``."""
    if not is_draft(spec):
        return spec, settings
    return spec.as_draft_build(), draft_build_settings(settings, run_id)


def check_requested_content(spec: TemplateSpec, run_tags: Mapping[str, str]) -> None:
    """Raise BuildError when the run was requested for other content of the template than ``spec``."""
    requested = run_tags.get(TEMPLATE_HASH_TAG)
    if requested and requested != spec.content_hash():
        raise BuildError(f"template {spec.name} changed after this build was requested (requested content "
                         f"{requested[:12]}, now {spec.content_hash()[:12]}); nothing was built",
                         hint="request the build again: it builds the template as it is now")
