"""The hub's settings, read once at start-up (environment `HUB_*`, then command-line options), and
the notebook client's (`NotebookSettings`, read when a notebook connects)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.core.config import MonitorConfig, ShardConfig
from hub.core.sharding import shards_for_cpus


def default_data_dir() -> Path:
    """Where the hub keeps its files unless told (HUB_DATA_DIR): $XDG_DATA_HOME/hub, else
    ~/.local/share/hub (not created here)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hub"


def machine_cpus() -> int:
    """The CPUs this process may run on (its CPU affinity, as `taskset` or a container's cpuset sets
    it), else os.cpu_count(), else 1."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no sched_getaffinity (macOS)
        return os.cpu_count() or 1


def base64_size(n: int) -> int:
    """Characters of `n` bytes in (padded) base64: 4 for every 3 bytes or part of 3."""
    return 4 * -(-n // 3)


class Settings(BaseSettings, ShardConfig, MonitorConfig):
    """Every operator setting of a hub process: environment `HUB_<FIELD>` (any case), then
    command-line options. The fields of `ShardConfig` (history_max, history_age, feed_limit,
    poll_timeout, ingress_lease, jobs_per_educator, room_members_listed; with MonitorConfig, waiting_grace and
    waiting_interval) and `MonitorConfig` (progress_interval,
    progress_burst, task_link_max_frame, task_link_drain, task_link_token_ttl, job_slow_after,
    job_store_interval, job_announce_interval, job_publish_retries, eta_pace_jobs, eta_pace_wait) are declared
    there, once, and inherited here; `shard_config()` and `monitor_config()` hand them to the actors.
    ValidationError (naming the field) for a value out of bounds."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", frozen=False)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)  # 0: any free port (tests)
    address: str | None = Field(default=None, description="Ray address to join; None starts a local Ray")
    namespace: str = "hub"
    # Registry shards. None: the process that creates them picks one per `cpus_per_shard` CPUs of its
    # machine (hub.core.sharding.shards_for_cpus); every later hub process of that Ray namespace uses
    # the count the creator chose (actors.shardcount.settle_shard_count).
    shards: int | None = Field(default=None, ge=1, le=1024)
    cpus_per_shard: int = Field(default=4, ge=1, le=1024)
    secret: str | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    db: Path | None = Field(default=None, description="the job store's SQLite file; default DATA_DIR/jobs.db")
    # Seconds a job-store write waits out a database another connection holds locked before it gives
    # up (a submission then gets 503 and leaves no trace).
    store_busy_timeout: float = Field(default=5.0, gt=0, le=300)
    allowed_origins: str = ""
    heartbeat: float = Field(default=20.0, gt=0)  # seconds between WebSocket pings; the welcome's `heartbeat`
    hello_timeout: float = Field(default=10.0, gt=0)  # seconds to the first frame (`hello`); then 4408
    # Clock skew allowed between a token's issuer and this host, in seconds, for the token's `iat`,
    # `nbf` and `exp` (PyJWT's leeway), on HTTP and WebSocket alike; a connection is closed 4401
    # this long after its token's `exp` unless it sent a `refresh`.
    token_leeway: float = Field(default=30.0, ge=0, le=3600)
    max_frame: int = Field(default=64 * 1024, ge=1)  # bytes of an inbound WebSocket frame; past it 1009
    send_queue_limit: int = Field(default=2000, ge=1)  # messages queued for one connection; past it 4409
    conflate_after: int = Field(default=64, ge=0)  # queued messages past which a job's older tick goes
    batch_max: int = Field(default=500, ge=1)  # messages one `batch` frame carries at most
    # Answers (pong, error) a WebSocket connection may have waiting to be sent; past it the client
    # is deemed not reading and is closed 4409.
    max_control: int = Field(default=256, ge=1)
    # Messages one long-poll answer (`GET /api/events`) carries at most; the next poll (after the
    # last one carried) gets the rest.
    poll_max_messages: int = Field(default=1000, ge=1)
    # Times Ray restarts a job's monitor actor whose node or process was lost (it runs the job
    # again from the start); past them, or at 0, the job fails. -1: without limit.
    job_max_restarts: int = Field(default=1, ge=-1)
    # Warm job monitors each ingress process keeps ready (actors.pool): processes started, modules
    # imported, store and shard handles looked up, so that a job's `processing` comes without an
    # actor start on its path. Each is one idle Ray worker process (about one bare actor's memory).
    # 0: every job starts its own monitor actor (the job waits for it). Kinds asking for resources
    # (a GPU, custom resources) always start their own.
    monitor_pool: int = Field(default=2, ge=0, le=64)
    # Seconds an idle warm monitor lives without its ingress renewing its lease (renewed every
    # quarter of it): how long warm monitors outlive an ingress that was killed (a stopping one ends
    # them at once).
    monitor_pool_lease: float = Field(default=20.0, ge=1, le=3600)
    # Seconds after a warm monitor takes a job before its replacement starts: a new actor process
    # takes a core for about half a second, which on a small node would slow the very start the pool
    # is for (bench/job_start.py: `processing` at 0.08-0.09 x a bare actor start with 0.5 s, 0.20-0.25
    # x with 0, 2 cores, 2026-12-01). A second job within it still takes the pool's next warm monitor.
    monitor_pool_refill_delay: float = Field(default=0.5, ge=0, le=60)
    max_connections: int = Field(default=15_000, ge=1)  # per ingress process (open files are capped at 20,000)
    max_connections_per_token: int = Field(default=20, ge=1)
    inbound_rate: float = Field(default=20.0, gt=0)  # client frames a second per connection...
    inbound_burst: float = Field(default=40.0, ge=1)  # ...with this burst; past it an error frame, then 4429
    inbound_strikes: int = Field(default=20, ge=0)  # frames refused in a row before the connection is closed 4429
    # Rooms (PROTOCOL.md section 7): rooms one WebSocket connection may be in (a join past it gets an
    # error, `too_large`), and `publish` + `typing` ops a second per connection, with a burst (past
    # it an error, `rate_limited`: the connection stays open).
    rooms_per_connection: int = Field(default=100, ge=1, le=10_000)
    room_op_rate: float = Field(default=20.0, gt=0)
    room_op_burst: float = Field(default=20.0, ge=1)
    submit_rate: float = Field(default=1.0, gt=0)  # jobs a second per educator...
    submit_burst: float = Field(default=20.0, ge=1)  # ...with this burst; past it HTTP 429 with Retry-After
    # seconds an Idempotency-Key on POST /api/jobs names its first job (PROTOCOL.md section 9: 24 hours)
    idempotency_ttl: float = Field(default=86400.0, gt=0, le=30 * 86400)
    # Idempotency keys each ingress remembers of those it recorded (least recently used go first), so
    # that a repeat is answered without a job-store call (its status from the shard); 0: always ask
    # the store. About 200 bytes each.
    idempotency_memo: int = Field(default=10_000, ge=0, le=10_000_000)
    max_body: int = Field(default=28 * 1024 * 1024, ge=1)  # bytes of an HTTP request body (a 20 MiB upload in base64)
    # Bytes of a document upload (`document_processing`'s `content`, decoded): past it the
    # submission is refused with 422. Its base64 (4/3 of it) must fit in max_body.
    max_upload: int = Field(default=20 * 1024 * 1024, ge=1)
    deflate_window_bits: int = Field(default=10, ge=9, le=15)  # permessage-deflate LZ77 window
    deflate_mem_level: int = Field(default=4, ge=1, le=9)  # zlib memLevel: memory against speed
    deflate_idle: float = Field(default=15.0, ge=0)  # free an idle connection's compressor after this; 0: never
    # Seconds a client has to send a request's whole header block (WebSocket upgrades too) before
    # the connection is closed (408): a client that trickles or sends nothing holds no socket for long.
    header_timeout: float = Field(default=15.0, gt=0)
    # Seconds a stopping ingress (SIGTERM) spends sending its connections what is queued for them
    # before closing them 1001, and at most as long again for uvicorn to finish open requests.
    drain_timeout: float = Field(default=5.0, ge=0, le=300)
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    num_cpus: int | None = None
    # Ray's log monitor in the local Ray the hub starts: it copies the actors' output (their logs and
    # tracebacks) to the hub's own output, at about 0.7 % of a core and 43 MiB while idle. Off: that
    # output stays in Ray's log files only (`hub serve` prints where). None (unset): off for `hub
    # serve` and LocalHub, on for a notebook's local_hub(). A joined cluster keeps its own.
    ray_log_monitor: bool | None = None
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"

    @model_validator(mode="after")
    def _queue_holds_a_resume(self) -> Settings:
        if self.send_queue_limit <= self.history_max:
            raise ValueError("send_queue_limit must exceed history_max, or a resume backlog could never fit")
        if self.ingress_lease < 2 * self.poll_timeout:
            raise ValueError("ingress_lease must be at least twice poll_timeout, or idle live ingresses would lapse")
        if base64_size(self.max_upload) > self.max_body:
            raise ValueError(
                f"max_body ({self.max_body:,} bytes) must hold a max_upload document in base64 "
                f"({base64_size(self.max_upload):,} bytes), or no upload that large could arrive"
            )
        return self

    @field_validator("data_dir", mode="before")
    @classmethod
    def _expand(cls, v: object) -> object:
        return Path(str(v)).expanduser() if v else v

    @property
    def origins(self) -> list[str]:
        """The browser origins allowed on `/ws` and by CORS: HUB_ALLOWED_ORIGINS split at commas, each stripped
        of spaces and a trailing "/" (`*`: any). Empty: none listed, so loopback origins and same origin
        only (hub.ingress.ws.origin_allowed; PROTOCOL.md section 6)."""
        return [o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()]

    def default_shards(self, cpus: int | None = None) -> int:
        """The shard count this process would create when `shards` is None: shards_for_cpus over
        `num_cpus` (the local Ray's CPUs) when set, else `cpus`, else this machine's (machine_cpus)."""
        return shards_for_cpus(self.num_cpus or cpus or machine_cpus(), self.cpus_per_shard)

    def shard_config(self) -> ShardConfig:
        """The shards' settings as a record of their own (what crosses into the shard actors)."""
        return ShardConfig(**{name: getattr(self, name) for name in ShardConfig.model_fields})

    def monitor_config(self) -> MonitorConfig:
        """The job monitors' settings as a record of their own (what crosses into each monitor actor)."""
        return MonitorConfig(**{name: getattr(self, name) for name in MonitorConfig.model_fields})

    @property
    def db_path(self) -> Path:
        """The job store's SQLite file: `db` (HUB_DB) when given, else DATA_DIR/jobs.db."""
        return self.db or self.data_dir / "jobs.db"

    @property
    def scheme(self) -> str:
        """The URL scheme: "https" when a TLS certificate is configured (`ssl_certfile`), else "http"."""
        return "https" if self.ssl_certfile else "http"

    @property
    def public_url(self) -> str:
        """The URL clients on this machine reach the hub at (printed at start and recorded for notebooks):
        `scheme://host:port`, with a wildcard host (0.0.0.0, ::, empty) given as 127.0.0.1."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"{self.scheme}://{host}:{self.port}"


class NotebookSettings(BaseSettings):
    """What a notebook or script client (`jobs.connect`, `hub.notebook.Hub`, `hub.backend.Backend`)
    takes from its environment, each an override of a default; empty variables count as unset.
    Arguments given to `connect()` win over these."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", env_ignore_empty=True)

    # The hub's URL (HUB_URL); None: the one the running hub recorded in its data dir, else :8000.
    url: str | None = None
    # A token to use as it is (HUB_TOKEN); None: one is made with the hub's secret.
    token: str | None = None
    # The hub's token-signing secret (HUB_SECRET); None: the data dir's `secret` file.
    secret: str | None = None
    # Whom jobs are filed under when connect() names no educator: HUB_EDUCATOR, else the login name.
    educator: str = Field(default="notebook", validation_alias=AliasChoices("HUB_EDUCATOR", "USER"))
    # The hub's data dir (HUB_DATA_DIR): its secret and the running hub's record (ray.json).
    data_dir: Path = Field(default_factory=default_data_dir)
    # The hub's Ray namespace (HUB_NAMESPACE) when its data dir's record names none.
    namespace: str = "hub"

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser()
