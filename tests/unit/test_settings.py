"""Settings: those that reach the actors (the shards' and job monitors' records), the ingress's
limits, the upload limit, and the notebook client's own environment (NotebookSettings)."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import ValidationError

from hub import cli
from hub.settings import Settings


def test_the_ingress_lease_reaches_the_shards_and_outlasts_two_long_polls() -> None:
    assert Settings(ingress_lease=7, poll_timeout=3).shard_config().ingress_lease == 7
    with pytest.raises(ValidationError, match="twice poll_timeout"):
        Settings(ingress_lease=5, poll_timeout=3)  # a live, idle ingress would lapse between pulls


def test_job_monitor_restarts_default_to_one_and_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().job_max_restarts == 1
    monkeypatch.setenv("HUB_JOB_MAX_RESTARTS", "0")
    assert Settings().job_max_restarts == 0
    with pytest.raises(ValidationError):
        Settings(job_max_restarts=-2)


def test_the_store_busy_timeout_comes_from_the_environment_and_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().store_busy_timeout == 5.0
    monkeypatch.setenv("HUB_STORE_BUSY_TIMEOUT", "2.5")
    assert Settings().store_busy_timeout == 2.5
    for bad in (0, -1, 301):
        with pytest.raises(ValidationError):
            Settings(store_busy_timeout=bad)


# -- issue 14 item 6: every operator limit and timing is a Settings field, declared once -----------

SHARD_ENV = {
    "HUB_HISTORY_MAX": ("history_max", "7"),
    "HUB_HISTORY_AGE": ("history_age", "12.5"),
    "HUB_FEED_LIMIT": ("feed_limit", "300"),
    "HUB_POLL_TIMEOUT": ("poll_timeout", "4"),
    "HUB_INGRESS_LEASE": ("ingress_lease", "9"),
    "HUB_JOBS_PER_EDUCATOR": ("jobs_per_educator", "40"),
}
MONITOR_ENV = {
    "HUB_PROGRESS_INTERVAL": ("progress_interval", "0.2"),
    "HUB_PROGRESS_BURST": ("progress_burst", "2"),
    "HUB_TASK_LINK_MAX_FRAME": ("task_link_max_frame", "4096"),
    "HUB_TASK_LINK_DRAIN": ("task_link_drain", "2.5"),
    "HUB_TASK_LINK_TOKEN_TTL": ("task_link_token_ttl", "600"),
    "HUB_JOB_SLOW_AFTER": ("job_slow_after", "3"),
    "HUB_JOB_STORE_INTERVAL": ("job_store_interval", "0.5"),
    "HUB_JOB_ANNOUNCE_INTERVAL": ("job_announce_interval", "2"),
    "HUB_JOB_PUBLISH_RETRIES": ("job_publish_retries", "4"),
}


def test_shard_and_monitor_fields_are_declared_once_and_inherited_by_settings() -> None:
    from hub.core.config import MonitorConfig, ShardConfig

    own = set(Settings.__annotations__)  # the fields Settings itself declares
    for record in (ShardConfig, MonitorConfig):
        assert not own & set(record.model_fields), "a record's field is declared again in Settings"
        for name, field in record.model_fields.items():
            assert Settings.model_fields[name].default == field.default  # the same field, inherited
            assert Settings.model_fields[name].metadata == field.metadata  # and its bounds


def test_the_shard_settings_come_from_their_documented_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for env, (_, value) in SHARD_ENV.items():
        monkeypatch.setenv(env, value)
    config = Settings().shard_config()
    assert type(config).__name__ == "ShardConfig"
    for name, value in SHARD_ENV.values():
        assert getattr(config, name) == type(getattr(config, name))(value), name


def test_the_monitor_settings_come_from_their_env_names_and_reach_the_monitor_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for env, (_, value) in MONITOR_ENV.items():
        monkeypatch.setenv(env, value)
    config = Settings().monitor_config()
    for name, value in MONITOR_ENV.values():
        assert getattr(config, name) == type(getattr(config, name))(value), name


def test_the_records_that_cross_into_actors_hold_their_own_fields_only_and_are_frozen() -> None:
    import pickle

    settings = Settings(secret="s3cret-" + "x" * 30, history_max=9, job_publish_retries=2)
    for config in (settings.shard_config(), settings.monitor_config()):
        assert "secret" not in type(config).model_fields and "s3cret" not in repr(config)
        assert pickle.loads(pickle.dumps(config)) == config
        with pytest.raises(ValidationError):
            setattr(config, next(iter(type(config).model_fields)), 3)  # frozen: the actor's copy stays as made
    assert settings.shard_config().history_max == 9 and settings.monitor_config().job_publish_retries == 2


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("history_max", 0),
        ("history_age", 0),
        ("feed_limit", 0),
        ("poll_timeout", 0),
        ("jobs_per_educator", 0),
        ("progress_interval", -0.1),
        ("progress_burst", 0),
        ("task_link_max_frame", 1023),
        ("task_link_drain", 0),
        ("task_link_token_ttl", 0),
        ("job_slow_after", -1),
        ("job_store_interval", -1),
        ("job_announce_interval", 0),
        ("job_publish_retries", 0),
        ("max_control", 0),
        ("poll_max_messages", 0),
        ("max_upload", 0),
        ("port", -1),
        ("port", 65536),
        ("heartbeat", 0),
        ("hello_timeout", 0),
        ("max_frame", 0),
        ("send_queue_limit", 0),
        ("conflate_after", -1),
        ("batch_max", 0),
        ("max_connections", 0),
        ("max_connections_per_token", 0),
        ("inbound_rate", 0),
        ("inbound_burst", 0.5),
        ("inbound_strikes", -1),
        ("submit_rate", 0),
        ("submit_burst", 0.5),
        ("max_body", 0),
    ],
)
def test_limits_and_timings_out_of_bounds_are_refused_naming_the_setting(field: str, bad: float) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: bad})


def test_ingress_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert (defaults.max_control, defaults.poll_max_messages, defaults.max_upload) == (256, 1000, 20 * 2**20)
    monkeypatch.setenv("HUB_MAX_CONTROL", "32")
    monkeypatch.setenv("HUB_POLL_MAX_MESSAGES", "50")
    monkeypatch.setenv("HUB_MAX_UPLOAD", "1048576")
    settings = Settings()
    assert (settings.max_control, settings.poll_max_messages, settings.max_upload) == (32, 50, 2**20)


def test_the_upload_limit_must_fit_in_the_body_limit_as_base64() -> None:
    Settings(max_upload=3 * 2**20, max_body=4 * 2**20)  # exactly its base64
    with pytest.raises(ValidationError, match="max_body .* must hold a max_upload document in base64"):
        Settings(max_upload=3 * 2**20 + 1, max_body=4 * 2**20)
    with pytest.raises(ValidationError, match="max_body"):
        Settings(max_upload=30 * 2**20)  # past the default 28 MiB body once in base64


def test_the_upload_limit_is_the_one_the_submission_checks() -> None:
    import base64

    from hub.core.errors import InvalidParams
    from jobs.documents import size_text
    from jobs.kinds import KINDS, validate_with

    kind = KINDS["document_processing"]
    params = {"content": base64.b64encode(b"eleven char").decode(), "filename": "a.txt"}
    with pytest.raises(InvalidParams, match="the limit is 10 bytes"):
        validate_with(kind, params, max_upload=10)
    assert validate_with(kind, params, max_upload=11).upload_size() == 11  # type: ignore[attr-defined]
    assert validate_with(kind, params).upload_size() == 11  # type: ignore[attr-defined]  # a monitor re-reading
    assert (size_text(20 * 2**20), size_text(1000), size_text(2**20 + 1)) == (
        "20 MiB",
        "1,000 bytes",
        "1,048,577 bytes",
    )


def test_deflate_settings_reach_uvicorn_as_a_protocol_class_of_their_own() -> None:
    from hub.ingress import wsproto
    from hub.server import uvicorn_config

    assert not hasattr(wsproto, "DEFLATE")  # no module global patched at start-up
    small = uvicorn_config(None, Settings(deflate_window_bits=9, deflate_mem_level=1)).ws
    large = uvicorn_config(None, Settings(deflate_window_bits=15, deflate_mem_level=9)).ws
    assert issubclass(small, wsproto.HubWebSocketProtocol) and issubclass(large, wsproto.HubWebSocketProtocol)
    assert (small.window_bits, small.mem_level, large.window_bits, large.mem_level) == (9, 1, 15, 9)
    assert not hasattr(wsproto.HubWebSocketProtocol, "window_bits")  # two servers never share one

    async def negotiated() -> Any:  # what a connection of the `small` server offers in its handshake
        from uvicorn.server import ServerState

        config = uvicorn_config(None, Settings(deflate_window_bits=9, deflate_mem_level=1))
        return config.ws(config=config, server_state=ServerState(), app_state={}).conn.available_extensions[0]

    offer = asyncio.run(negotiated())
    assert (offer.server_max_window_bits, offer.client_max_window_bits, offer.compress_settings) == (
        9,
        9,
        {"memLevel": 1},
    )
    with pytest.raises(ValueError, match="window bits"):
        wsproto.HubWebSocketProtocol.with_deflate(8, 4)


def test_a_long_poll_answer_carries_at_most_poll_max_messages() -> None:
    from hub.core.stream import Envelope
    from hub.ingress.polling import PollWaiter

    waiter = PollWaiter("alice", 3)
    waiter.start(0, [Envelope("alice", seq, "notification", 1.0, {"n": seq}) for seq in range(1, 6)])
    assert len(waiter.messages) == 3 and waiter.last_seq == 3  # the next poll asks from seq 3


def monitor(config: Any, clock: Any = None) -> Any:
    from actors.job_monitor import JobMonitor

    state = {"jobId": "j1", "kind": "quiz_generation", "educatorId": "alice", "status": "queued", "progress": 0}
    state |= {"message": "", "createdAt": 1.0, "updatedAt": 1.0}
    return JobMonitor(state, {}, None, None, config=config, **({"clock": clock} if clock else {}))


def test_the_monitor_says_larger_documents_take_longer_after_job_slow_after() -> None:
    from hub.core.config import MonitorConfig

    now = [100.0]

    async def go() -> list[str]:
        job = monitor(MonitorConfig(job_slow_after=3.0), clock=lambda: now[0])
        seen = []
        for t in (101.0, 104.0):
            now[0] = t
            job.progress(10, "Reading")
            seen.append(job.state.message)
        return seen

    assert asyncio.run(go()) == ["Reading", "Reading (still working: larger documents take longer)"]


def test_the_monitor_gives_up_after_job_publish_retries() -> None:
    from hub.core.config import MonitorConfig
    from hub.core.errors import UpstreamError

    calls = []

    async def failing() -> None:
        calls.append(1)
        raise UpstreamError("the hub's registry shard did not answer; try again in a moment")

    async def go() -> Any:
        return await monitor(MonitorConfig(job_publish_retries=3))._retry("publish", failing)

    assert asyncio.run(go()) is None and len(calls) == 3


# -- the notebook client's environment ---------------------------------------------------------------

NOTEBOOK_ENV = ("HUB_URL", "HUB_TOKEN", "HUB_SECRET", "HUB_EDUCATOR", "USER", "HUB_DATA_DIR", "HUB_NAMESPACE")


def test_the_notebook_reads_its_environment_through_notebook_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from hub.settings import NotebookSettings

    for name in NOTEBOOK_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    bare = NotebookSettings()
    assert (bare.url, bare.token, bare.secret, bare.educator, bare.namespace) == (None, None, None, "notebook", "hub")
    assert bare.data_dir == tmp_path / "xdg" / "hub"
    monkeypatch.setenv("USER", "grace")
    assert NotebookSettings().educator == "grace"  # the login name when HUB_EDUCATOR is not set
    for name, value in {
        "HUB_URL": "http://hub.example:9000",
        "HUB_TOKEN": "a.b.c",
        "HUB_SECRET": "s" * 32,
        "HUB_EDUCATOR": "alice",
        "HUB_DATA_DIR": "~/hubdata",
        "HUB_NAMESPACE": "other",
    }.items():
        monkeypatch.setenv(name, value)
    env = NotebookSettings()
    assert (env.url, env.token, env.secret, env.educator, env.namespace) == (
        "http://hub.example:9000",
        "a.b.c",
        "s" * 32,
        "alice",
        "other",
    )
    assert env.data_dir == Path("~/hubdata").expanduser()
    for name in ("HUB_URL", "HUB_EDUCATOR", "HUB_DATA_DIR"):
        monkeypatch.setenv(name, "")  # empty counts as unset, as before
    empty = NotebookSettings()
    assert (empty.url, empty.educator, empty.data_dir) == (None, "grace", tmp_path / "xdg" / "hub")


def test_the_notebook_module_reads_no_environment_variable_itself() -> None:
    import inspect

    import hub.backend
    import hub.notebook
    from hub.notebook import default_educator

    for module in (hub.notebook, hub.backend):
        assert "os.environ" not in inspect.getsource(module) and "getenv" not in inspect.getsource(module)
    assert default_educator()  # through NotebookSettings


def test_joining_a_hub_takes_its_namespace_from_the_caller_not_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import inspect
    import json

    import ray

    from hub import raycluster

    source = inspect.getsource(raycluster)
    assert 'environ.get("HUB_' not in source and 'getenv("HUB_' not in source  # no HUB_* read of its own
    monkeypatch.setattr(ray, "is_initialized", lambda: True)  # on a Ray already: nothing is joined
    monkeypatch.setenv("HUB_NAMESPACE", "from-env")
    assert raycluster.join_hub(tmp_path, default_namespace="from-settings") == "from-settings"
    assert raycluster.join_hub(tmp_path, "given", default_namespace="from-settings") == "given"
    (tmp_path / raycluster.RECORD_FILE).write_text(json.dumps({"namespace": "recorded"}))
    assert raycluster.join_hub(tmp_path, default_namespace="from-settings") == "recorded"


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"HUB_HEARTBEAT": "0"}, "hub: bad settings: HUB_HEARTBEAT: Input should be greater than 0 (given '0')"),
        (
            {"HUB_PORT": "70000", "HUB_SHARDS": "0"},
            "hub: bad settings: HUB_PORT: Input should be less than or equal to 65535 (given '70000'); "
            "HUB_SHARDS: Input should be greater than or equal to 1 (given '0')",
        ),
        ({"HUB_MAX_UPLOAD": "100000000"}, "hub: bad settings: max_body (29,360,128 bytes) must hold a max_upload"),
    ],
)
def test_the_hub_command_says_which_setting_is_out_of_bounds_in_a_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], said: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["token", "alice"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(said) and "Traceback" not in err and err.count("\n") == 1


def test_the_drain_timeout_reaches_the_servers_shutdown_and_uvicorns(monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.server import HubServer, uvicorn_config

    monkeypatch.setenv("HUB_DRAIN_TIMEOUT", "2.5")
    settings = Settings()
    assert settings.drain_timeout == 2.5
    drained: list[float] = []

    class Relay:
        async def drain(self, timeout: float) -> None:
            drained.append(timeout)

    class App:
        class state:  # noqa: N801 (Starlette's app.state)
            relay = Relay()

    server = HubServer(uvicorn_config(App(), settings), drain_timeout=settings.drain_timeout)
    assert server.config.timeout_graceful_shutdown == 3  # uvicorn's whole seconds, rounded up

    async def stop() -> None:
        async def nothing(self: Any, sockets: Any = None) -> None:
            return None

        monkeypatch.setattr(uvicorn.Server, "shutdown", nothing)
        await server.shutdown()

    asyncio.run(stop())
    assert drained == [2.5]
    with pytest.raises(ValidationError, match="drain_timeout"):
        Settings(drain_timeout=-1)
