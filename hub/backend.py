"""Server-side helpers for a Python back end, as the web app used them: publish analytics and
notifications, re-send a job's status, update a job and notify in one call, and create job records
routed to an educator. The back end runs as a driver on the hub's Ray cluster:

    backend = Backend.connect()                       # joins the Ray of the hub in ~/.local/share/hub
    await backend.publish("analytics_update", {"updates": {"quizzesToday": 3}}, educator_ids=["alice"])
    job = await backend.create_job_record("alice", "question_replace", quiz_id="q1", question_id="q1-3")
    await backend.update_job_with_notification(job["jobId"], status="processing", progress=40,
                                                message="Rewriting the question")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.auth import Identity
from hub.ingress.desk import JobDesk, Publish
from hub.metrics import IngressMetrics

_BACKEND = Identity(sub="backend", role="admin")
_LEVEL = {"completed": "success", "failed": "error", "cancelled": "warning"}


class Backend:
    """A Python back end's door into the hub: the operations of `desk` (a JobDesk over the hub's
    actors) as the admin identity `backend`, so no ownership checks apply and broadcasts are
    allowed. Made by `connect`; its operations are coroutines. Errors are the desk's HubErrors (NotFound,
    InvalidParams, ...; UpstreamError when a shard or the store does not answer)."""

    def __init__(self, desk: JobDesk) -> None:
        self.desk = desk

    @classmethod
    def connect(
        cls,
        address: str | None = None,
        namespace: str | None = None,
        data_dir: str | Path | None = None,
        *,
        dataplane: bool = False,
    ) -> Backend:
        """Join the hub's Ray cluster (unless this process is on one): `address` when given, else the
        one the running hub recorded in its data dir (`data_dir`, $HUB_DATA_DIR, ~/.local/share/hub),
        else $RAY_ADDRESS; the namespace likewise (default "hub"). HubError, a sentence, when that
        cluster is gone or refuses this machine's Ray token.

        `dataplane`: reach the shards over their data-plane sockets (DESIGN.md, "The data path"), for
        a long-lived service that runs every call on one event loop and publishes often; the
        default, Ray calls, suits a notebook or script whose event loops live a cell or an
        `asyncio.run` long (a socket would outlive them)."""
        import ray

        from actors.cluster import Cluster, discover_shards
        from hub.raycluster import join, join_hub
        from hub.settings import NotebookSettings

        env = NotebookSettings()  # HUB_NAMESPACE, HUB_DATA_DIR
        if address is not None and not ray.is_initialized():
            namespace = namespace or env.namespace
            join(address, namespace, configure_logging=False)
        else:
            folder = Path(data_dir).expanduser() if data_dir else env.data_dir
            namespace = join_hub(folder, namespace, default_namespace=env.namespace)
        from hub.core.config import DataPlaneConfig

        cluster = Cluster(discover_shards(namespace), namespace, dataplane=DataPlaneConfig() if dataplane else None)
        return cls(JobDesk(cluster, IngressMetrics()))

    async def publish(
        self, type: str, data: dict[str, Any], educator_ids: list[str] | None = None, broadcast: bool = False
    ) -> int:
        """Deliver an `analytics_update` or a `notification`; returns how many educators it reached."""
        body = Publish(type=type, data=data, educatorIds=educator_ids, broadcast=broadcast)  # type: ignore[arg-type]
        return await self.desk.publish(_BACKEND, body)

    async def notify(self, educator_ids: list[str], title: str, body: str = "", level: str = "info") -> int:
        """Send `educator_ids` a `notification` (PROTOCOL.md section 3) with `title` (at most 200
        characters), `body` (at most 5,000) and `level` (info, success, warning or error); returns how
        many educators it reached. InvalidParams when a field is out of bounds or no educator is named."""
        return await self.publish("notification", {"title": title, "body": body, "level": level}, educator_ids)

    async def send_job_status_update(self, job_id: str) -> int:
        """Send the job's current status to its educator again; returns the message's seq."""
        return await self.desk.resend(job_id)

    async def update_job_with_notification(
        self,
        job_id: str,
        *,
        status: str | None = None,
        progress: float | None = None,
        message: str | None = None,
        notify: bool = True,
        title: str | None = None,
    ) -> dict[str, Any]:
        """Update a job (recorded and streamed as its job message) and, when `notify`, send its
        educator a notification saying so. Returns the job's new state as the wire carries it (a dict
        with camelCase keys: PROTOCOL.md section 4), as a back end reads it (`state["status"]`)."""
        found = await self.desk.get(_BACKEND, job_id)  # NotFound for an unknown job
        changes = {k: v for k, v in (("status", status), ("progress", progress), ("message", message)) if v is not None}
        state = await self.desk.update(job_id, found.educator_id, **changes)
        if notify:
            await self.notify(
                [state.educator_id], title or f"Job {state.status}", state.message, _LEVEL.get(state.status, "info")
            )
        return state.wire()

    async def create_job_record(
        self,
        educator_id: str,
        kind: str,
        *,
        quiz_id: str | None = None,
        question_id: str | None = None,
        document_id: str | None = None,
        job_id: str | None = None,
        message: str = "Waiting to start",
    ) -> dict[str, Any]:
        """A job record the back end drives itself (no monitor actor), routed by educator id. Returns its
        state as the wire carries it (a dict with camelCase keys: `job["jobId"]`, PROTOCOL.md section 4)."""
        state = await self.desk.create_record(
            educator_id,
            kind,
            quiz_id=quiz_id,
            question_id=question_id,
            document_id=document_id,
            job_id=job_id,
            message=message,
        )
        return state.wire()
