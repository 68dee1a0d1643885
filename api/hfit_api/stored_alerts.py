"""Alert payloads stored as received (plain JSON), sealed once when the service starts.

The alert store keeps payloads sealed under the masking key (``hfit_dagster/alerts/sealed_payload.py``); rows
written before that held the JSON the monitoring system sent (e-mails, customer ids, summary text).
``seal_stored_alerts`` seals them in place, a batch at a time; rows already sealed, and expired rows, stay as they
are, so a start that stopped half-way is finished by the next one. The database records when it is done
(``applied_migrations``). A service without a masking key cannot seal: it says so and tries again at its next start.
"""

from __future__ import annotations

import logging

from hfit_api.builds import has_masking_key
from hfit_api.state import StateDB
from hfit_dagster.alerts.store import AlertStore
from hfit_dagster.settings import HfitSettings

log = logging.getLogger("hfit_api.stored_alerts")
MIGRATION = "alert-payloads-sealed"


def seal_stored_alerts(settings: HfitSettings, db: StateDB) -> int:
    """Seal the alert payloads still stored as received (once per database); returns how many were sealed."""
    if db.migration_applied(MIGRATION):
        return 0
    if not has_masking_key(settings):
        log.warning("alert payloads stored as received are not sealed: this service has no masking key "
                    "(set HFIT_MASKING_KEY; they are sealed at the next start)")
        return 0
    store = AlertStore(settings.state_database_url, settings.masking_key_bytes())
    try:
        sealed = store.seal_plain_payloads()
    finally:
        store.dispose()
    db.record_migration(MIGRATION)
    if sealed:
        log.warning("sealed %d stored alert payload(s) that were kept as received", sealed)
    return sealed
