"""Build parameters sealed for Dagster's run storage: the service's runs carry them encrypted, never readable.

Dagster stores a run's config as it is given and shows it in its UI, and a parameter value can be personal data
(``contact=alice@example.com``). A build the service submits therefore carries its parameters (``hfit build``'s
key=value strings, as JSON) sealed with AES-256-GCM under a key derived by HKDF-SHA256 from the masking key with
a label of its own, bound to the template's name: whoever can mask (the workers, which hold HFIT_MASKING_KEY)
can open them, nobody else can read or alter them, and a sealed value moved to another template's run does not
open. The tables step opens them in memory before it resolves the parameters (``template_assets.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from hfit_dagster.errors import BuildError
from hfit_dagster.sealing import NotOpened, Sealer

SEALER = Sealer("hfit-sealed-v1:", b"hfit/sealed-build-params")
SEALED_PREFIX = SEALER.prefix
_HINT = ("give the code location the HFIT_MASKING_KEY of the service that requested the build, and request the "
         "build again")


def _bound_to(template: str) -> bytes:
    return f"hfit/sealed-build-params/{template}".encode()


def seal_params(template: str, params: Mapping[str, str], masking_key: bytes) -> str:
    """``params`` of a build of ``template`` as text only the holders of ``masking_key`` can open."""
    plain = json.dumps(dict(params), sort_keys=True, ensure_ascii=False).encode()
    return SEALER.seal(plain, masking_key, _bound_to(template))


def open_params(template: str, sealed: str, masking_key: bytes) -> dict[str, str]:
    """The parameters ``seal_params`` sealed; BuildError (naming no value) when the text does not open with this
    key for this template: another key, another template's parameters, or an altered or truncated text."""
    if not SEALER.is_sealed(sealed):
        raise BuildError(f"the build's sealed parameters are not in hfit's sealed format ({SEALED_PREFIX}...)",
                         hint="launch from the launchpad with 'params' and leave 'sealed_params' out")
    try:
        plain = SEALER.open(sealed, masking_key, _bound_to(template))
    except NotOpened:
        raise BuildError(f"the build's sealed parameters do not open for template {template}: sealed with another "
                         "masking key, for another template, or altered", hint=_HINT) from None
    params = json.loads(plain)
    if not isinstance(params, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
        raise BuildError("the build's sealed parameters are not a mapping of names to text", hint=_HINT)
    return params
