"""Joining a Ray cluster as a driver (`hub serve --address`, a notebook's custom job kinds), with a
sentence instead of a hang or a traceback when that fails; the hub's data-dir lock; and the record
(DATA_DIR/ray.json) that tells a notebook which Ray cluster the hub in that data dir runs on.

Ray token authentication (Ray >= 2.52, https://docs.ray.io/en/latest/ray-security/token-auth.html):
a head started with a token present (`ray start --head` with ~/.ray/auth_token, or RAY_AUTH_MODE=token)
refuses drivers without it. Ray itself turns token mode on for `ray.init()` / `address="auto"` when it
finds a token, but not for an explicit address, so such a driver is refused ("InvalidAuthToken").
`join()` turns it on for an explicit address too when a token is at hand and RAY_AUTH_MODE is unset.
Ray reads the token from, in order: RAY_AUTH_TOKEN, the file at RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from hub.core.errors import HubError

log = logging.getLogger("hub.raycluster")

RECORD_FILE = "ray.json"
LOCK_FILE = "hub.lock"
AUTH_MODE = "RAY_AUTH_MODE"


def ray_token_source(environ: Mapping[str, str], home: Path) -> str | None:
    """Where Ray would read its auth token from (its own order: RAY_AUTH_TOKEN, then the file at
    RAY_AUTH_TOKEN_PATH, then HOME/.ray/auth_token), as words for a message; None when none holds one."""
    if environ.get("RAY_AUTH_TOKEN", "").strip():
        return "RAY_AUTH_TOKEN"
    if environ.get("RAY_AUTH_TOKEN_PATH"):
        path = Path(environ["RAY_AUTH_TOKEN_PATH"]).expanduser()
        return f"RAY_AUTH_TOKEN_PATH ({path})" if _non_empty(path) else None
    path = home / ".ray" / "auth_token"
    return str(path) if _non_empty(path) else None


def _non_empty(path: Path) -> bool:
    try:
        return bool(path.read_text().strip())
    except OSError:
        return False


def needs_token_mode(address: str | None, environ: Mapping[str, str], token_source: str | None) -> bool:
    """Whether to set RAY_AUTH_MODE=token before joining `address`: an explicit host:port (Ray already
    does it for None, "auto" and "local"), a token at hand, and the user did not choose a mode."""
    explicit = address not in (None, "", "auto", "local")
    return explicit and AUTH_MODE not in environ and token_source is not None


def split_address(address: str) -> tuple[str, int] | None:
    """(host, port) of a "host:port" GCS address (IPv6 in brackets); None for "auto", "ray://..." etc."""
    if "://" in address or ":" not in address:
        return None
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def join_failure(address: str, cause: str, token_source: str | None, auth_mode: str | None) -> str:
    """The sentence a person sees when this process could not join the Ray cluster at `address`.
    `cause`: "unreachable" (nothing listens), "not-ray" (something listens, no GCS answers),
    "refused-token" (the cluster answered but refused us) or "timeout" (ray.init gave up)."""
    if cause == "unreachable":
        return (
            f"no Ray cluster answers at {address}: it has stopped or the address is wrong "
            "(start one with `ray start --head`, or leave out --address to start a local Ray)"
        )
    if cause == "refused-token":
        if auth_mode is not None and auth_mode.lower() != "token":
            return (
                f"the Ray cluster at {address} requires a Ray auth token, but RAY_AUTH_MODE={auth_mode} here: "
                "unset it or set RAY_AUTH_MODE=token, with the cluster's token in RAY_AUTH_TOKEN or ~/.ray/auth_token"
            )
        if token_source is None:
            return (
                f"the Ray cluster at {address} requires a Ray auth token and this machine has none: copy the "
                "head node's ~/.ray/auth_token here (`ray get-auth-token` on the head prints it), or set "
                "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH"
            )
        return (
            f"the Ray cluster at {address} refused the Ray auth token from {token_source}: it is not the "
            "cluster's token (`ray get-auth-token` on the head prints the right one)"
        )
    if cause == "not-ray":
        return (
            f"something listens at {address}, but no Ray cluster answered there within seconds: check the port "
            "(a head's GCS port, 6379 unless `ray start --head --port` said otherwise; `ray status` on the head "
            "shows the address)"
        )
    return f"the Ray cluster at {address} did not answer in time; check that it is running and reachable"


def _reachable(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _gcs_answer(address: str, timeout: float) -> str | None:
    """Ask the GCS at `address` one cheap question with Ray's own client, on a thread so that a port
    that is not a GCS cannot hold us (Ray's client waits 40 s there). "refused-token" when it
    refuses this process's (missing or wrong) token, "not-ray" when nothing answered in time, None
    when it answered (or on a Ray without token auth, where there is nothing to check)."""
    try:
        from ray._raylet import GcsClient  # type: ignore[attr-defined]
        from ray.exceptions import AuthenticationError
    except ImportError:  # a Ray before token authentication
        return None
    answer: list[str | None] = []

    def ask() -> None:
        try:
            GcsClient(address=address).internal_kv_get(b"hub-join-probe", None, timeout=timeout)
            answer.append(None)
        except AuthenticationError:
            answer.append("refused-token")
        except Exception:  # noqa: BLE001 - anything else is ray.init's to report
            answer.append(None)

    thread = threading.Thread(target=ask, name="hub-gcs-probe", daemon=True)
    thread.start()
    thread.join(2 * timeout)
    return answer[0] if answer else "not-ray"


def enable_token_auth(address: str | None) -> str | None:
    """Turn on Ray token mode for this process (and its children) when joining an explicit address
    with a token at hand and RAY_AUTH_MODE unset; returns where the token is, or None."""
    source = ray_token_source(os.environ, Path.home())
    if needs_token_mode(address, os.environ, source):
        os.environ[AUTH_MODE] = "token"
        with contextlib.suppress(ImportError):
            from ray._raylet import Config  # type: ignore[attr-defined]

            Config.initialize("")  # Ray caches its config; re-read RAY_AUTH_MODE, as Ray's own code does
        log.info("joining %s with Ray token authentication (token from %s)", address, source)
    return source


def join(address: str, namespace: str, *, timeout: float = 5.0, **kwargs: Any) -> None:
    """`ray.init(address=..., namespace=...)`, but first: Ray token mode for an explicit address when
    a token is at hand, a TCP check that something listens there, and a check that it accepts our
    token; each failure is a HubError with one sentence (no 20-40 s of retries, no traceback).
    `timeout`: seconds each check may take; `kwargs` go to ray.init."""
    import ray

    source = enable_token_auth(address)
    target = split_address(address)
    if target is not None:
        if not _reachable(*target, timeout=timeout):
            raise HubError(join_failure(address, "unreachable", source, os.environ.get(AUTH_MODE)))
        answer = _gcs_answer(address, timeout)
        if answer is not None:
            raise HubError(join_failure(address, answer, source, os.environ.get(AUTH_MODE)))
    try:
        ray.init(address=address, namespace=namespace, **kwargs)
    except ConnectionError as exc:
        raise HubError(join_failure(address, "timeout", source, os.environ.get(AUTH_MODE))) from exc
    except Exception as exc:
        if type(exc).__name__ == "AuthenticationError":
            raise HubError(join_failure(address, "refused-token", source, os.environ.get(AUTH_MODE))) from exc
        raise


def join_hub(
    data_dir: Path, namespace: str | None = None, *, timeout: float = 5.0, default_namespace: str = "hub"
) -> str:
    """Join, as a driver, the Ray cluster of the hub running with `data_dir` (the address and namespace
    it recorded in DATA_DIR/ray.json), else $RAY_ADDRESS; nothing when this process is on a Ray
    already. Returns the namespace (`namespace`, else the recorded one, else `default_namespace`: the
    caller's NotebookSettings.namespace, HUB_NAMESPACE or "hub").
    HubError, a sentence, when there is no record, its hub has stopped, or the cluster is gone or
    refuses this machine's Ray token; never Ray's hang on a stale `address="auto"`. `timeout`:
    seconds each of `join`'s checks may take."""
    import ray

    record = read_record(data_dir)
    namespace = namespace or str((record or {}).get("namespace") or default_namespace)
    if ray.is_initialized():
        return namespace
    given = os.environ.get("RAY_ADDRESS")
    if not given and record is not None and not hub_running(data_dir):
        raise HubError(
            f"the hub that recorded its Ray cluster in {data_dir / RECORD_FILE} (pid {record.get('pid')}) "
            "is no longer running: start it again (`hub serve` or `make serve`)"
        )
    address = given or (record or {}).get("address")
    if not address:
        raise HubError(
            f"no running hub recorded its Ray cluster in {data_dir / RECORD_FILE}: start the hub with `hub serve` "
            "(or `make serve`) on this machine, give the data dir of the hub you mean (HUB_DATA_DIR, "
            "connect(data_dir=...)), or set RAY_ADDRESS and HUB_NAMESPACE"
        )
    join(str(address), namespace, timeout=timeout, configure_logging=False, log_to_driver=False)
    return namespace


# -- the local Ray `hub serve` starts: without the daemons a one-node hub does not use ---------------


def local_head_options(log_monitor: bool) -> dict[str, bool]:
    """The settings (Ray's RayParams fields) the hub gives the head node of a local Ray it starts
    itself, over what `ray.init(address="local")` gives it: no autoscaler monitor (one node that
    nothing adds to; 0.1 % of a core, 46 MiB idle) and, unless `log_monitor`, no log monitor (it
    reads every worker's log file ten times a second to copy them to the driver's output; 0.7 %
    of a core, 43 MiB idle; without it the actors' output stays in Ray's log files). Figures:
    docs/benchmarks.md, "Idle hub cost". A joined cluster is never changed: these go only to
    start_local."""
    return {"no_monitor": True, "include_log_monitor": log_monitor}


@contextlib.contextmanager
def _head_node_options(options: Mapping[str, Any]) -> Iterator[None]:
    """While inside, a Ray head node made in this process takes `options` as its RayParams fields.
    ray.init offers no argument for them (`ray start --head` has --no-monitor), so Node's
    constructor is wrapped for the one ray.init call; a Ray whose Node takes its parameters
    otherwise gets its defaults (all daemons), with a warning, never an error."""
    from ray._private import node as ray_node

    original = ray_node.Node.__init__
    applied: list[bool] = []

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        params = kwargs.get("ray_params", args[0] if args else None)
        if kwargs.get("head") and params is not None and all(hasattr(params, k) for k in options):
            for name, value in options.items():
                setattr(params, name, value)
            applied.append(True)
        original(self, *args, **kwargs)

    ray_node.Node.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        ray_node.Node.__init__ = original  # type: ignore[method-assign]
    if not applied:
        log.warning("this Ray starts its head node another way: the local Ray runs all its daemons (%s)", options)


def start_local(namespace: str, num_cpus: int | None, *, log_monitor: bool, **kwargs: Any) -> None:
    """Start a new local Ray for this process (`ray.init(address="local")`, never joining one this
    machine already runs) with `num_cpus` CPUs (None: all) in `namespace`, its head node set as
    local_head_options says; `log_to_driver` follows `log_monitor`. `kwargs` go to ray.init."""
    import ray

    with _head_node_options(local_head_options(log_monitor)):
        ray.init(address="local", namespace=namespace, num_cpus=num_cpus, log_to_driver=log_monitor, **kwargs)


def logs_dir() -> str | None:
    """Where this node's Ray writes its logs (the actors' output: worker-*.out/.err), or None when
    this Ray does not say (its private node object changed) or this process is on no Ray."""
    try:
        from ray._private import worker

        return str(worker._global_node.get_logs_dir_path())  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a private API, and no Ray yet: either only loses a printed line
        return None


# -- the data dir: one hub (one job store) per data dir, and its Ray cluster on record --------------


class DataDirLock:
    """An exclusive `fcntl.flock` on DATA_DIR/hub.lock held while a hub runs (released when its
    process ends, even on a crash), with DATA_DIR/ray.json saying which Ray cluster that hub is on."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._fh: IO[str] | None = None

    def try_acquire(self) -> bool:
        """Take the lock if free and write this process's pid into it; False when another holds it."""
        if not self.try_acquire_quietly():
            return False
        assert self._fh is not None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(f"{os.getpid()}\n")
        self._fh.flush()
        return True

    def try_acquire_quietly(self) -> bool:
        """Take the lock if free, leaving the file as it is; False when another process holds it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        self._fh = fh
        return True

    @property
    def held(self) -> bool:
        """True while this process holds the lock (between a successful acquire and release)."""
        return self._fh is not None

    def record(self, address: str, namespace: str, url: str) -> None:
        """Write DATA_DIR/ray.json: how a notebook joins this hub's Ray (custom job kinds)."""
        info = {"address": address, "namespace": namespace, "url": url, "pid": os.getpid()}
        tmp = self.data_dir / (RECORD_FILE + ".tmp")
        tmp.write_text(json.dumps(info) + "\n")
        tmp.replace(self.data_dir / RECORD_FILE)

    def release(self) -> None:
        """Remove the record and drop the lock (at stop)."""
        if self._fh is None:
            return
        with contextlib.suppress(OSError):
            record = read_record(self.data_dir)
            if record is not None and record.get("pid") == os.getpid():
                (self.data_dir / RECORD_FILE).unlink()
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()
        self._fh = None


def read_record(data_dir: Path) -> dict[str, Any] | None:
    """DATA_DIR/ray.json as written by the running hub, or None when there is none (or it is torn)."""
    try:
        value = json.loads((data_dir / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def hub_running(data_dir: Path) -> bool:
    """Whether a hub holds DATA_DIR/hub.lock now (a hub that crashed left its record but not its lock)."""
    path = data_dir / LOCK_FILE
    if not path.exists():
        return False
    probe = DataDirLock(data_dir)
    if probe.try_acquire_quietly():
        probe.release()
        return False
    return True


def holder_pid(data_dir: Path) -> int | None:
    """The pid written into DATA_DIR/hub.lock by the hub that holds it."""
    try:
        text = (data_dir / LOCK_FILE).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def in_use_message(data_dir: Path, pid: int | None) -> str:
    """The sentence for a second hub on a data dir whose hub is running."""
    who = f"another hub (pid {pid})" if pid else "another hub"
    return (
        f"{who} is running with data dir {data_dir} and owns its job store; stop it, or give this hub "
        "its own data dir (`hub serve --data-dir DIR`, HUB_DATA_DIR, or local_hub(data_dir=DIR))"
    )
