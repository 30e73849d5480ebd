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
from typing import Any, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

from harvester import secrets
from harvester.due import DuePolicy
from harvester.errors import ConfigError
from harvester.matching import ACCEPT, REVIEW
from harvester.merge import COMPARED_FIELDS, DATE_RULES, DEFAULT_PRECEDENCE

DEFAULT_CONFIG_PATH = Path("config/harvester.toml")


@dataclass(frozen=True)
class HttpConfig:
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 6
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    retry_after_cap: float = 300.0
    # Largest answer read, in bytes, unless a source sets its own cap: a 1,000-row Crossref
    # page is a few MB; anything far larger is a broken or hostile server, refused while reading.
    max_body_bytes: int = 64 * 1024 * 1024
    # Seconds one request may take from its start to its last byte, however the server trickles
    # it (read_timeout only bounds the wait between two bytes); 0: four times read_timeout.
    deadline: float = 0.0
    # Every pool is paced a little under what its service announces: at most N requests start
    # in any T / pace seconds where the service allows N per T (a strict window server then
    # never sees N + 1 from timing jitter). 1.0: exactly at the announced limit.
    pace: float = 0.95

    @property
    def request_deadline(self) -> float:
        """`deadline`, or four times `read_timeout` when it is 0."""
        return self.deadline or 4 * self.read_timeout


@dataclass(frozen=True)
class PoolLimit:
    """Requests per second and requests in flight allowed for one pool of one service. The
    limiter lets at most `rate` start in any 1 / pace seconds (`[http] pace`), and at most
    `window_max` in any `window` / pace seconds. `burst` is read from older files and no longer
    used: a whole second's `rate` may start at once after a quiet spell."""

    rate: float
    concurrency: int
    burst: int = 1
    window: float = 0.0  # seconds; 0: no window
    window_max: int = 0  # starts allowed in any `window` seconds


@dataclass(frozen=True)
class CrossrefConfig:
    url: str = "https://api.crossref.org"
    batch_size: int = 100
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
    """A service without announced limits of its own: we pace ourselves at `rate` requests/s with
    at most `concurrency` in flight, per pool."""

    url: str
    api_key: str = ""
    rate: float = 5.0
    concurrency: int = 2
    burst: int = 1
    # A service that counts requests per window (DataCite: 1,000 per 5 minutes): at most
    # `window_max` started in any `window` seconds. 0 and 0: no window.
    window: float = 0.0
    window_max: int = 0

    @property
    def limit(self) -> PoolLimit:
        return PoolLimit(self.rate, self.concurrency, self.burst, self.window, self.window_max)


@dataclass(frozen=True)
class DataciteConfig(ServiceConfig):
    """DataCite: a ServiceConfig, and how its DOIs are asked in lists (`/dois?ids=A,B,...`):
    at most `batch_size` DOIs a request (DataCite pages up to 1,000), the URL kept under
    `max_url_bytes`."""

    batch_size: int = 100
    max_url_bytes: int = 4000


@dataclass(frozen=True)
class OaiConfig:
    """OAI-PMH repositories: how to pace them, and names for the endpoints used often
    (`harvest oai repec --set RePEc:sae:woemps` instead of the whole base URL)."""

    rate: float = 1.0
    concurrency: int = 1
    metadata_prefix: str = "oai_dc"
    endpoints: dict[str, str] = field(
        default_factory=lambda: {
            "repec": "https://oai.repec.org/",
            "zenodo": "https://zenodo.org/oai2d",
        }
    )

    @property
    def limit(self) -> PoolLimit:
        return PoolLimit(self.rate, self.concurrency)


@dataclass(frozen=True)
class ScheduleConfig:
    """`harvest schedule`: named cron expressions (5 fields), each a job running `harvest run`
    (and, with `digest`, then sending the digest as `harvest run --digest` does)."""

    timezone: str = "UTC"
    jobs: dict[str, str] = field(default_factory=lambda: {"nightly": "0 3 * * *"})
    digest: bool = False


@dataclass(frozen=True)
class RetractionWatchConfig:
    """`harvest retractions load`: where the Retraction Watch data set is read from (an http(s)
    URL, or a local file path), how long its download may take, how large it may be, and
    after how many days `harvest run` loads it again (0: never; only `harvest retractions
    load` does). Crossref's Labs URL gets the configured `mailto`, as Crossref asks."""

    url: str = "https://api.labs.crossref.org/data/retractionwatch"
    rate: float = 1.0
    concurrency: int = 1
    deadline: float = 1800.0  # seconds for the whole download (about 60 MB in 2026)
    max_bytes: int = 1024 * 1024 * 1024
    refresh_days: float = 0.0

    @property
    def limit(self) -> PoolLimit:
        return PoolLimit(self.rate, self.concurrency)


@dataclass(frozen=True)
class OrcidConfig:
    """ORCID's public API v3.0 (`/v3.0/{orcid}/works`). Its published limits (info.orcid.org,
    "What are the API usage quotas and limits?"): 12 requests/s with a burst of 40 for the
    public and anonymous APIs (24/s for the member API), and a daily quota per IP or client;
    past the burst it answers 503. `rate` is a little under the public 12/s. `token`: an access
    token (a public API client's /read-public, or a member API token with `url` set to
    https://api.orcid.org), sent as `Authorization: Bearer`; a secret, never logged."""

    url: str = "https://pub.orcid.org"
    token: str = ""
    rate: float = 10.0
    concurrency: int = 2

    @property
    def limit(self) -> PoolLimit:
        return PoolLimit(self.rate, self.concurrency)


@dataclass(frozen=True)
class RasConfig:
    """The RePEc Author Service's person records (ReDIF-Person templates, one file a person),
    as RePEc publishes them in its `per/pers` folder (rsync://rsync.repec.org/RePEc-ReDIF/per/pers/).
    `url` is the root of a copy: a local folder, a file:// URL or an http(s) base ("" = not set
    up); `path` where a person's file is below it: `{short_id}` (lower case) and `{letter}`, the
    letter after its leading "p" (`pbe27` -> `b/pbe27.rdf`)."""

    url: str = ""
    path: str = "{letter}/{short_id}.rdf"
    rate: float = 2.0
    concurrency: int = 1

    @property
    def limit(self) -> PoolLimit:
        return PoolLimit(self.rate, self.concurrency)


@dataclass(frozen=True)
class PeopleConfig:
    """The people followed (issue 21). `auto_accept_own`: a work the person's own ORCID or RAS
    record lists is theirs without asking (its claim accepted, the work tracked); false leaves
    every claim pending for `harvest claims accept`."""

    auto_accept_own: bool = True


FEED_KINDS = ("crossref", "repec", "oai")


@dataclass(frozen=True)
class FeedConfig:
    """One `[[feeds]]` table: a standing query `harvest run` harvests after the watch list.

    crossref: exactly one of issn, prefix, member; repec: series or archive (a handle);
    oai: endpoint (a base URL or an [oai.endpoints] name), with set and metadata_prefix.
    """

    kind: str
    name: str = ""
    issn: str = ""
    prefix: str = ""
    member: str = ""
    series: str = ""
    archive: str = ""
    endpoint: str = ""
    set: str = ""
    metadata_prefix: str = ""

    @property
    def label(self) -> str:
        """What logs and `--dry-run` call the feed: its name, else what it asks for."""
        if self.name:
            return self.name
        what = [
            f"{k}={v}"
            for k in ("issn", "prefix", "member", "series", "archive", "endpoint", "set")
            if (v := getattr(self, k))
        ]
        return f"{self.kind} {' '.join(what)}"


SOURCES = frozenset(DEFAULT_PRECEDENCE)


@dataclass(frozen=True)
class MatchConfig:
    """`harvest match`: finding the DOI of a record that has none. A candidate scoring at least
    `accept` (and alone in doing so) is linked; from `review` up it is kept for a person; below,
    dropped. Each record is one Crossref search for `rows` candidates published within
    `year_window` years of the record's year."""

    accept: float = ACCEPT
    review: float = REVIEW
    rows: int = 5
    year_window: int = 1


@dataclass(frozen=True)
class MergeConfig:
    """Field precedence: `precedence` for every field, `fields` overriding it for some; `dates`
    the rule that picks a work's year and date from its dates (merge.DATE_RULES)."""

    precedence: tuple[str, ...] = DEFAULT_PRECEDENCE
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    dates: str = "print"

    def order_for(self, name: str) -> tuple[str, ...]:
        return self.fields.get(name, self.precedence)


@dataclass(frozen=True)
class DigestConfig:
    """`harvest digest --send` and `harvest run --digest`: the e-mail of what happened, sent
    through an SMTP server (`smtp_host`:`smtp_port`, STARTTLS unless `starttls` is false; a
    login when `username` is set, its password from the environment variable `password_env`,
    or `password` here, a secret masked in every log line). `send_empty` false: a digest with
    nothing in it is not sent (and the point moves past it)."""

    recipients: tuple[str, ...] = ()
    sender: str = ""
    subject: str = "harvester digest"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    starttls: bool = True
    username: str = ""
    password_env: str = "HARVEST_SMTP_PASSWORD"
    password: str = ""
    timeout: float = 30.0
    send_empty: bool = False


@dataclass(frozen=True)
class Config:
    database: str = "data/harvest.db"
    mailto: str = ""
    log_format: str = "auto"
    # A DOI its agency did not know is asked again only after this many days (`--refresh`: now).
    recheck_not_found_days: int = 30
    # DOIs resolved and written together, in one transaction.
    chunk_size: int = 200
    http: HttpConfig = field(default_factory=HttpConfig)
    crossref: CrossrefConfig = field(default_factory=CrossrefConfig)
    # OpenAlex: unlimited single look-ups with a key, a hard cap of 100 requests/s.
    openalex: ServiceConfig = field(
        default_factory=lambda: ServiceConfig("https://api.openalex.org", rate=10.0, concurrency=3)
    )
    # DataCite: about 1,000 requests per 5 minutes per IP (api-notes.md): exactly that window,
    # and at most 10 starts a second within it. A token bucket alone cannot say "1,000 in any
    # 5 minutes" without also slowing every run to 3/s (100 + 3 x 300 = 1,000).
    datacite: DataciteConfig = field(
        default_factory=lambda: DataciteConfig(
            "https://api.datacite.org",
            rate=10.0,
            concurrency=4,
            burst=10,
            window=300.0,
            window_max=1000,
        )
    )
    # doi.org announces no limit; /ra is asked once per prefix, content negotiation once per DOI.
    doi: ServiceConfig = field(
        default_factory=lambda: ServiceConfig("https://doi.org", rate=5.0, concurrency=2)
    )
    repec: ServiceConfig = field(default_factory=lambda: ServiceConfig("", rate=2.0, concurrency=1))
    oai: OaiConfig = field(default_factory=OaiConfig)
    watch: DuePolicy = field(default_factory=DuePolicy)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    feeds: tuple[FeedConfig, ...] = ()
    merge: MergeConfig = field(default_factory=MergeConfig)
    match: MatchConfig = field(default_factory=MatchConfig)
    retraction_watch: RetractionWatchConfig = field(default_factory=RetractionWatchConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    orcid: OrcidConfig = field(default_factory=OrcidConfig)
    ras: RasConfig = field(default_factory=RasConfig)
    people: PeopleConfig = field(default_factory=PeopleConfig)

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


def service_sections(config: Config) -> dict[str, Any]:
    """The sections of the upstream services, by name: every section with a base `url` or a
    rate limit (`[crossref]`, `[openalex]`, `[datacite]`, `[doi]`, `[repec]`, `[oai]`), so that
    a new source's section is validated and overridable as soon as it is declared."""
    return {
        f.name: value
        for f in dataclasses.fields(config)
        if hasattr(value := getattr(config, f.name), "url") or hasattr(value, "limit")
    }


#: Environment variable -> (section or None for top level, key): the top-level settings, each
#: service's base URL (`HARVEST_<SECTION>_URL`), and the API keys the services take.
ENV_OVERRIDES: dict[str, tuple[str | None, str]] = {
    "HARVEST_DB": (None, "database"),
    "HARVEST_MAILTO": (None, "mailto"),
    "HARVEST_LOG_FORMAT": (None, "log_format"),
    **{
        f"HARVEST_{name.upper()}_URL": (name, "url")
        for name, section in service_sections(Config()).items()
        if hasattr(section, "url")
    },
    "HARVEST_OPENALEX_API_KEY": ("openalex", "api_key"),
    "HARVEST_ORCID_TOKEN": ("orcid", "token"),
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
    try:
        _validate(config)
    except ConfigError as exc:
        # Name the file to fix, unless the environment may have set the value instead.
        overridden = [var for var in ENV_OVERRIDES if var in env]
        also = f" (or the environment: {', '.join(overridden)})" if overridden else ""
        if path.exists():
            raise ConfigError(f"{path}{also}: {exc}") from None
        raise
    secrets.remember(secrets.config_secrets(config))
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
        elif get_origin(hint) is tuple and dataclasses.is_dataclass(get_args(hint)[0]):
            # An array of tables ([[feeds]]): each table checked like a section of its own.
            item = get_args(hint)[0]
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise ConfigError(f"{where}: [[{name}]] must be tables")
            kwargs[name] = tuple(
                _build(item, v, where=f"{where} [[{name}]] #{i}") for i, v in enumerate(value, 1)
            )
        elif get_origin(hint) is dict and isinstance(value, dict):
            # A table of names ([oai.endpoints]) adds to the default names, rather than
            # making them vanish because one was added.
            default = getattr(cls(), name)
            kwargs[name] = _check_type({**default, **value}, hint, f"{where}: {name}")
        else:
            kwargs[name] = _check_type(value, hint, f"{where}: {name}")
    return cls(**kwargs)


def _check_type(value: Any, hint: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin is tuple:  # tuple[str, ...]: a TOML array of strings
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, not {value!r}")
        return tuple(value)
    if origin is dict:  # dict[str, tuple[str, ...]]: a TOML table of such arrays
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table, not {value!r}")
        inner = get_args(hint)[1]
        return {k: _check_type(v, inner, f"{where}.{k}") for k, v in value.items()}
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
    for name, section in service_sections(config).items():
        # [repec] url may be a folder (an rsync copy of RePEc's data) or empty (not set up);
        # [retraction_watch] url a local file.
        if hasattr(section, "url") and name not in ("repec", "retraction_watch", "ras"):
            _check_url(f"[{name}] url", section.url)
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
    for name in ("backoff_initial", "backoff_max", "retry_after_cap", "deadline"):
        if getattr(h, name) < 0:
            raise ConfigError(f"[http] {name} must not be negative, not {getattr(h, name)}")
    if c.batch_size < 1 or c.batch_size > 1000:
        raise ConfigError(f"[crossref] batch_size must be 1 to 1000, not {c.batch_size}")
    d = config.datacite
    if d.batch_size < 1 or d.batch_size > 1000:
        raise ConfigError(f"[datacite] batch_size must be 1 to 1000, not {d.batch_size}")
    if d.max_url_bytes < 200:
        raise ConfigError(f"[datacite] max_url_bytes must be at least 200, not {d.max_url_bytes}")
    for name, service in service_sections(config).items():
        if not hasattr(service, "limit"):
            continue  # Crossref's limits are checked above, pool by pool
        if service.rate <= 0:
            raise ConfigError(f"[{name}] rate must be above 0, not {service.rate}")
        if service.concurrency < 1:
            raise ConfigError(f"[{name}] concurrency must be at least 1, not {service.concurrency}")
        if getattr(service, "burst", 1) < 1:
            raise ConfigError(f"[{name}] burst must be at least 1, not {service.burst}")
        window, window_max = getattr(service, "window", 0), getattr(service, "window_max", 0)
        if window < 0 or window_max < 0 or (window > 0) != (window_max > 0):
            raise ConfigError(
                f"[{name}] window (seconds) and window_max (requests) go together, both above "
                f"0 or both 0, not {window} and {window_max}"
            )
    for name, url in config.oai.endpoints.items():
        _check_url(f"[oai.endpoints] {name}", url)
    _validate_watch(config.watch)
    _validate_feeds(config.feeds)
    if not config.schedule.jobs:
        raise ConfigError('[schedule] jobs: name at least one job, e.g. nightly = "0 3 * * *"')
    rw = config.retraction_watch
    if not rw.url.strip():
        raise ConfigError("[retraction_watch] url must name a URL or a file, not be empty")
    if rw.url.startswith(("http://", "https://")):
        _check_url("[retraction_watch] url", rw.url)
    for name in ("deadline", "max_bytes"):
        if getattr(rw, name) <= 0:
            raise ConfigError(f"[retraction_watch] {name} must be above 0, not {getattr(rw, name)}")
    if rw.refresh_days < 0:
        raise ConfigError(
            f"[retraction_watch] refresh_days must not be negative, not {rw.refresh_days}"
        )
    if not config.oai.metadata_prefix:
        raise ConfigError("[oai] metadata_prefix must not be empty")
    if not 1 <= config.chunk_size <= 10000:
        raise ConfigError(f"chunk_size must be 1 to 10000, not {config.chunk_size}")
    if config.recheck_not_found_days < 0:
        raise ConfigError(
            f"recheck_not_found_days must not be negative, not {config.recheck_not_found_days}"
        )
    _validate_merge(config.merge)
    _validate_match(config.match)
    _validate_digest(config.digest)
    _validate_ras(config.ras)
    if config.http.max_body_bytes < 1024:
        raise ConfigError(
            f"[http] max_body_bytes must be at least 1024, not {config.http.max_body_bytes}"
        )
    if not 0 < config.http.pace <= 1:
        raise ConfigError(f"[http] pace must be above 0 and at most 1, not {config.http.pace}")
    if config.http.max_attempts < 1:
        raise ConfigError(f"[http] max_attempts must be at least 1, not {config.http.max_attempts}")


def _check_url(where: str, url: str) -> None:
    """A base URL that cannot work is configuration to fix (exit 2), not an outage to retry: no
    http(s) scheme, no host, a space or a bad port. A well-formed URL whose host does not answer
    is an outage: those identifiers fail and are retried."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where} must start with http:// or https://, not {url!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"{where} {url!r} is not a valid URL: {exc}") from None
    if not parts.hostname or any(ch.isspace() for ch in url):
        raise ConfigError(f"{where} {url!r} is not a valid URL: no host, or a space in it")


def _validate_watch(watch: DuePolicy) -> None:
    for name, days in watch.refresh_days.items():
        if days <= 0:
            raise ConfigError(f"[watch] refresh_days.{name} must be above 0, not {days}")
    for name in (
        "default_refresh_days",
        "not_found_first_days",
        "not_found_max_days",
        "retry_first_minutes",
        "retry_max_days",
    ):
        if getattr(watch, name) <= 0:
            raise ConfigError(f"[watch] {name} must be above 0, not {getattr(watch, name)}")
    if watch.not_found_factor < 1:
        raise ConfigError(
            f"[watch] not_found_factor must be at least 1, not {watch.not_found_factor}"
        )


#: What each kind of feed is asked for (exactly one of them), and what else it may set.
_FEED_FIELDS = {
    "crossref": ("issn", "prefix", "member"),
    "repec": ("series", "archive"),
    "oai": ("endpoint",),
}
_FEED_OPTIONS = {"oai": ("set", "metadata_prefix")}


def _validate_feeds(feeds: tuple[FeedConfig, ...]) -> None:
    """Each feed names exactly what its kind needs, and nothing of another kind's."""
    labels = set()
    for number, feed in enumerate(feeds, start=1):
        where = f"[[feeds]] #{number}"
        if feed.kind not in FEED_KINDS:
            raise ConfigError(
                f"{where}: kind must be one of {', '.join(FEED_KINDS)}, not {feed.kind!r}"
            )
        own = _FEED_FIELDS[feed.kind]
        given = [f for f in own if getattr(feed, f)]
        if len(given) != 1:
            raise ConfigError(f"{where} ({feed.kind}): give exactly one of {', '.join(own)}")
        allowed = {*own, *_FEED_OPTIONS.get(feed.kind, ())}
        every = {f for fields in (*_FEED_FIELDS.values(), *_FEED_OPTIONS.values()) for f in fields}
        foreign = sorted(f for f in every - allowed if getattr(feed, f))
        if foreign:
            raise ConfigError(f"{where} ({feed.kind}): {foreign[0]} is not a {feed.kind} setting")
        if feed.label in labels:
            raise ConfigError(f"{where}: the same feed twice ({feed.label})")
        labels.add(feed.label)


def _validate_match(match: MatchConfig) -> None:
    if not 0 < match.review <= match.accept <= 1:
        raise ConfigError(
            f"[match] thresholds must satisfy 0 < review <= accept <= 1, not review = "
            f"{match.review}, accept = {match.accept}"
        )
    if not 1 <= match.rows <= 1000:
        raise ConfigError(f"[match] rows must be 1 to 1000 (Crossref's page), not {match.rows}")
    if not 0 <= match.year_window <= 100:
        raise ConfigError(f"[match] year_window must be 0 to 100 years, not {match.year_window}")


def _validate_digest(digest: DigestConfig) -> None:
    if not 1 <= digest.smtp_port <= 65535:
        raise ConfigError(f"[digest] smtp_port must be 1 to 65535, not {digest.smtp_port}")
    if digest.timeout <= 0:
        raise ConfigError(f"[digest] timeout must be above 0 seconds, not {digest.timeout}")
    for address in (*digest.recipients, *([digest.sender] if digest.sender else [])):
        if "@" not in address or any(ch.isspace() or ch in ",;" for ch in address.strip()):
            raise ConfigError(f"[digest] {address!r} is not one e-mail address")


def _validate_merge(merge: MergeConfig) -> None:
    if merge.dates not in DATE_RULES:
        raise ConfigError(
            f"[merge] dates must be one of {', '.join(DATE_RULES)}, not {merge.dates!r}"
        )
    for where, order in [("precedence", merge.precedence)] + [
        (f"fields.{name}", order) for name, order in merge.fields.items()
    ]:
        unknown = [s for s in order if s not in SOURCES]
        if unknown:
            raise ConfigError(
                f"[merge] {where}: unknown source {unknown[0]!r} (known: {', '.join(sorted(SOURCES))})"
            )
        if len(set(order)) != len(order):
            raise ConfigError(f"[merge] {where}: a source is named twice")
    unknown_fields = sorted(set(merge.fields) - set(COMPARED_FIELDS))
    if unknown_fields:
        raise ConfigError(
            f"[merge] fields: unknown field {unknown_fields[0]!r} "
            f"(known: {', '.join(COMPARED_FIELDS)})"
        )


def _validate_ras(ras: RasConfig) -> None:
    """[ras] url may be empty (not set up), a folder, or a URL; its path must name the person."""
    if ras.url.startswith(("http://", "https://")):
        _check_url("[ras] url", ras.url)
    if "{short_id}" not in ras.path:
        raise ConfigError(f"[ras] path must hold {{short_id}}, not {ras.path!r}")
    try:
        ras.path.format(short_id="pab1", letter="a")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"[ras] path {ras.path!r}: only {{short_id}} and {{letter}} may be filled in ({exc})"
        ) from None
