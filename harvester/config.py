"""Configuration: defaults in frozen dataclasses, then `config/harvester.toml`, then environment variables.

Every key in the TOML file must be known and of the right type: a typo in a nightly job's config
should stop the job with a message naming the key, not be ignored for months.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from harvester.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("config/harvester.toml")


@dataclass(frozen=True)
class HttpConfig:
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 6
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    retry_after_cap: float = 300.0


@dataclass(frozen=True)
class PoolLimit:
    """Requests per second and requests in flight allowed for one pool of one service."""

    rate: float
    concurrency: int


@dataclass(frozen=True)
class CrossrefConfig:
    url: str = "https://api.crossref.org"
    batch_size: int = 50
    max_url_bytes: int = 4000
    # Crossref's published limits since December 2025. "polite" applies when a mailto is configured.
    # These are starting values; the x-rate-limit-* headers Crossref sends take over at run time.
    polite_single_rate: float = 10.0
    polite_list_rate: float = 3.0
    polite_concurrency: int = 3
    public_single_rate: float = 5.0
    public_list_rate: float = 1.0
    public_concurrency: int = 1


@dataclass(frozen=True)
class ServiceConfig:
    url: str
    api_key: str = ""


@dataclass(frozen=True)
class Config:
    database: str = "data/harvest.db"
    mailto: str = ""
    log_format: str = "auto"
    http: HttpConfig = field(default_factory=HttpConfig)
    crossref: CrossrefConfig = field(default_factory=CrossrefConfig)
    openalex: ServiceConfig = field(
        default_factory=lambda: ServiceConfig("https://api.openalex.org")
    )
    datacite: ServiceConfig = field(
        default_factory=lambda: ServiceConfig("https://api.datacite.org")
    )
    doi: ServiceConfig = field(default_factory=lambda: ServiceConfig("https://doi.org"))
    repec: ServiceConfig = field(default_factory=lambda: ServiceConfig(""))

    def crossref_limits(self) -> dict[str, PoolLimit]:
        """Starting limits for Crossref's two pools, polite when a mailto is configured."""
        c = self.crossref
        if self.mailto:
            return {
                "single": PoolLimit(c.polite_single_rate, c.polite_concurrency),
                "list": PoolLimit(c.polite_list_rate, c.polite_concurrency),
            }
        return {
            "single": PoolLimit(c.public_single_rate, c.public_concurrency),
            "list": PoolLimit(c.public_list_rate, c.public_concurrency),
        }


#: Environment variable -> (section or None for top level, key).
ENV_OVERRIDES: dict[str, tuple[str | None, str]] = {
    "HARVEST_DB": (None, "database"),
    "HARVEST_MAILTO": (None, "mailto"),
    "HARVEST_LOG_FORMAT": (None, "log_format"),
    "HARVEST_CROSSREF_URL": ("crossref", "url"),
    "HARVEST_OPENALEX_URL": ("openalex", "url"),
    "HARVEST_OPENALEX_API_KEY": ("openalex", "api_key"),
    "HARVEST_DATACITE_URL": ("datacite", "url"),
    "HARVEST_DOI_URL": ("doi", "url"),
    "HARVEST_REPEC_URL": ("repec", "url"),
}

LOG_FORMATS = ("auto", "console", "json")


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Build the configuration from defaults, the TOML file and the environment.

    `path` None means `$HARVEST_CONFIG`, else `config/harvester.toml` if it exists. A path that was
    asked for explicitly must exist.
    """
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get("HARVEST_CONFIG"))
    path = Path(path or env.get("HARVEST_CONFIG") or DEFAULT_CONFIG_PATH)
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    elif explicit:
        raise ConfigError(f"{path}: no such configuration file")

    config = _build(Config, data, where=str(path))
    for var, (section, key) in ENV_OVERRIDES.items():
        if var in env:
            config = _override(config, section, key, env[var])
    _validate(config)
    return config


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    """Make a `cls` from a TOML table, refusing unknown keys and values of the wrong type."""
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: [{name}] must be a table")
            defaults = dataclasses.asdict(getattr(cls(), name))
            kwargs[name] = _build(hint, {**defaults, **value}, where=f"{where} [{name}]")
        else:
            kwargs[name] = _check_type(value, hint, f"{where}: {name}")
    return cls(**kwargs)


def _check_type(value: Any, hint: Any, where: str) -> Any:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where} must be a number, not {value!r}")
    if not isinstance(value, hint):
        raise ConfigError(f"{where} must be {hint.__name__}, not {type(value).__name__} {value!r}")
    return value


def _override(config: Config, section: str | None, key: str, value: str) -> Config:
    if section is None:
        return dataclasses.replace(config, **{key: value})
    inner = getattr(config, section)
    return dataclasses.replace(config, **{section: dataclasses.replace(inner, **{key: value})})


def _validate(config: Config) -> None:
    if config.log_format not in LOG_FORMATS:
        raise ConfigError(
            f"log_format must be one of {', '.join(LOG_FORMATS)}, not {config.log_format!r}"
        )
    for name in ("crossref", "openalex", "datacite", "doi"):
        url = getattr(config, name).url
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"[{name}] url must start with http:// or https://, not {url!r}")
    c = config.crossref
    for name in (
        "polite_single_rate",
        "polite_list_rate",
        "public_single_rate",
        "public_list_rate",
    ):
        if getattr(c, name) <= 0:
            raise ConfigError(f"[crossref] {name} must be above 0, not {getattr(c, name)}")
    for name in ("polite_concurrency", "public_concurrency"):
        if getattr(c, name) < 1:
            raise ConfigError(f"[crossref] {name} must be at least 1, not {getattr(c, name)}")
    if c.max_url_bytes < 200:
        raise ConfigError(f"[crossref] max_url_bytes must be at least 200, not {c.max_url_bytes}")
    h = config.http
    for name in ("connect_timeout", "read_timeout"):
        if getattr(h, name) <= 0:
            raise ConfigError(f"[http] {name} must be above 0 seconds, not {getattr(h, name)}")
    for name in ("backoff_initial", "backoff_max", "retry_after_cap"):
        if getattr(h, name) < 0:
            raise ConfigError(f"[http] {name} must not be negative, not {getattr(h, name)}")
    if c.batch_size < 1 or c.batch_size > 1000:
        raise ConfigError(f"[crossref] batch_size must be 1 to 1000, not {c.batch_size}")
    if config.http.max_attempts < 1:
        raise ConfigError(f"[http] max_attempts must be at least 1, not {config.http.max_attempts}")
