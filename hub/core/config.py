"""Plain configuration records that cross into actors as they are (no environment is read here:
`hub.settings.Settings` reads it once at start-up and builds these).

Each field is declared once, here, with its default, bounds and meaning: `Settings` inherits these
records' fields, so each is also the operator's setting `HUB_<FIELD>` (`HUB_HISTORY_MAX`, ...),
and `Settings.shard_config()` / `Settings.monitor_config()` copy them into a record of their own
(the records carry no secret and nothing else of the hub's settings into the actors).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DataPlaneConfig(BaseModel):
    """How the hub's processes reach a registry shard's socket (DESIGN.md, "The data path"): shards,
    job monitors and ingresses all need it, so ShardConfig and MonitorConfig inherit it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Publishes, deliveries and hellos over each shard's socket (True), or over Ray calls only (False:
    # the hub before the data plane; for comparisons and for networks that allow no extra port).
    dataplane: bool = True
    # "auto": TLS to a shard on another node, plain TCP on the shard's own loopback address for a
    # caller on its node (nothing leaves the machine; the JWT still opens it). "always": TLS for all.
    dataplane_tls: Literal["auto", "always"] = "auto"
    # Bytes of one frame a shard reads from its socket; past it the connection is closed (1009) and
    # the caller reconnects. A publish of one message to many educators is the largest frame.
    dataplane_max_frame: int = Field(default=16 * 1024 * 1024, ge=1024)
    # Seconds to open a shard's socket (TCP, TLS and the upgrade) before the caller falls back to Ray.
    dataplane_connect_timeout: float = Field(default=3.0, gt=0)
    # Seconds a caller that could not open a shard's socket uses Ray calls before trying it again.
    dataplane_retry: float = Field(default=10.0, gt=0)
    # Seconds a data-plane token (the JWT a shard hands out over Ray) opens a connection for.
    dataplane_token_ttl: float = Field(default=300.0, gt=0)


class WaitingConfig(BaseModel):
    """When the hub reads Ray's state to say why a job waits (PROTOCOL.md section 9, "Why a job
    waits"): a registry shard for its queued jobs' monitors, a job's monitor for its Ray tasks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Seconds a job is `queued` (its monitor asked of Ray), or a job's task unfinished, before Ray's
    # state is first read for why it waits: most are placed well within it, and cost no reading.
    waiting_grace: float = Field(default=1.0, ge=0)
    # Seconds between readings of Ray's state while a job is queued past the grace, or has unfinished
    # tasks (each reading: one or two small requests to Ray's control store; the task events, which
    # list every task Ray keeps, only while Ray reports requests it cannot place).
    waiting_interval: float = Field(default=3.0, gt=0)


class ShardConfig(DataPlaneConfig, WaitingConfig):
    """What a registry shard needs. Frozen, plain values: it crosses into the shard actor as it is."""

    # Messages each educator's stream keeps for resumes; a client further behind gets a snapshot.
    history_max: int = Field(default=1000, ge=1)
    # Seconds a stream's messages are kept for resumes (at most history_max of them).
    history_age: float = Field(default=300.0, gt=0)
    # Messages a shard holds for one ingress until its next pull acknowledges them; past it, the
    # oldest go and that ingress's clients resume from the streams' history.
    feed_limit: int = Field(default=100_000, ge=1)
    # Seconds an ingress's pull waits at a shard for something to deliver (one long poll).
    poll_timeout: float = Field(default=15.0, gt=0)
    # A shard drops the feed of an ingress that has not pulled for this long (a dead ingress): at
    # least twice poll_timeout (Settings checks it), since a live but idle ingress pulls once per
    # poll_timeout.
    ingress_lease: float = Field(default=60.0, gt=0)
    # Seconds a shard holds a pull's answer when it answered the same ingress less than this long
    # before: under load the messages of that time leave in one answer instead of one each (fewer
    # frames and wake-ups per message); an idle feed is answered at once. 0: never held.
    feed_linger: float = Field(default=0.001, ge=0, le=0.1)
    # Jobs a shard keeps per educator (the newest; finished ones beyond it are forgotten, and a
    # snapshot built from more in the store is marked `snapshotTruncated`).
    jobs_per_educator: int = Field(default=500, ge=1)
    # Members a room's `joined` answer and GET /api/rooms/{room}/members list at most (PROTOCOL.md
    # section 7: 1,000; `memberCount` is always exact).
    room_members_listed: int = Field(default=1000, ge=1)


class MonitorConfig(DataPlaneConfig, WaitingConfig):
    """What a job's monitor actor needs. Frozen, plain values: it crosses into the actor as it is."""

    # Seconds between a job's progress messages to its shard: ticks in between are coalesced
    # (transitions always go out at once).
    progress_interval: float = Field(default=0.05, ge=0)
    # Progress messages a job may send at once before its ticks are held to one every
    # progress_interval (hub.core.pacing.UpdateCoalescer): a lone tick, or a job reporting about as
    # often as progress_interval with jitter, goes at once; a chattier job is paced to the interval.
    progress_burst: int = Field(default=4, ge=1, le=1000)
    # A job's Ray tasks report to its monitor over its task-link socket (actors/tasklink.py) when
    # `dataplane` is on: plain on 127.0.0.1 from its node, TLS from others (as `dataplane_tls` says);
    # else, or where no socket can be made, by actor calls to the monitor. Bytes of one frame on it;
    # a bigger frame closes that connection (1009) and its task goes on by actor calls.
    task_link_max_frame: int = Field(default=1 << 20, ge=1024)
    # Seconds a job's monitor waits, after a task returned, for the items it sent before (a link
    # still open past it is logged and the job goes on).
    task_link_drain: float = Field(default=10.0, gt=0)
    # Seconds a task link's token (a JWT the monitor signs, handed to the task over Ray) opens the
    # monitor's socket: long, since a task may wait for a CPU before it connects; the monitor's key
    # dies with its process.
    task_link_token_ttl: float = Field(default=86400.0, gt=0)
    # Seconds after a job's start past which its progress messages add "still working: larger
    # documents take longer".
    job_slow_after: float = Field(default=15.0, ge=0)
    # Seconds between job-store writes of a job's progress (every transition is written at once).
    job_store_interval: float = Field(default=1.0, ge=0)
    # A silent job checks this often (seconds) that its shard has not restarted, and re-announces
    # its state to one that did.
    job_announce_interval: float = Field(default=5.0, gt=0)
    # Attempts at a publish or store write whose actor is restarting (backing off 0.05 s doubling
    # to 2 s: 30 attempts span about 50 s) before the monitor gives up on it.
    job_publish_retries: int = Field(default=30, ge=1)
    # The ETA before a job's first progress (hub.core.eta): the completed jobs of a kind whose paces
    # (seconds per item of their size) give its median, the newest first; the store keeps this many.
    eta_pace_jobs: int = Field(default=20, ge=1, le=1000)
    # Seconds a starting job's `processing` message waits for its kind's pace from the job store; a
    # slower answer gives the ETA to the job's next message instead.
    eta_pace_wait: float = Field(default=0.1, ge=0, le=10)
