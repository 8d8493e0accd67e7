"""The cluster tests' hub: a three-node Ray cluster on this machine (`ray.cluster_utils.Cluster`: a
head and two workers) and two `hub serve` ingress processes joined to it, for the whole session.

These tests run as a pytest session of their own (`make test-cluster`, or `python -m pytest
tests/cluster`): one Ray per test session, and the main session already has its local Ray. The
default run leaves this folder out (pyproject.toml). Time-outs scale with HUB_TEST_TIME_FACTOR.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray
from ray.cluster_utils import Cluster

from actors.names import shard_name
from hub.auth import issue_token
from jobs.kinds import Params
from tests.conftest import SECRET, free_port, scaled

NAMESPACE = "hub-cluster-test"
SHARDS = 3
POLL_TIMEOUT = 2.0  # short long-polls, so a lapsed lease is noticed soon
INGRESS_LEASE = 5.0  # the shards drop a silent ingress's feed after this
NODE_CPUS = 2  # logical CPUs per node (the machine has 2 cores: the tasks here mostly sleep)
HUB = str(Path(sys.executable).parent / "hub")


class Ingress:
    """A `hub serve --address CLUSTER` process, as cluster.yaml starts on each node."""

    def __init__(self, name: str, address: str, data_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "serve.log"
        env = {
            **os.environ,
            "HUB_NAMESPACE": NAMESPACE,
            "HUB_SECRET": SECRET,
            "HUB_SHARDS": str(SHARDS),
            "HUB_POLL_TIMEOUT": str(POLL_TIMEOUT),
            "HUB_INGRESS_LEASE": str(INGRESS_LEASE),
            "HUB_HELLO_TIMEOUT": str(scaled(5)),
            # Every data-plane socket over TLS: the three nodes share this machine's address, where
            # "auto" would take the shards' plain loopback ports, as on one real node.
            "HUB_DATAPLANE_TLS": "always",
        }
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [HUB, "serve", "--address", address, "--port", str(self.port), "--data-dir", str(data_dir)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + scaled(timeout)
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, f"ingress {self.name} exited {self.proc.returncode}:\n{self.tail()}"
            assert time.monotonic() < deadline, f"ingress {self.name} did not start:\n{self.tail()}"
            time.sleep(0.2)

    @property
    def ingress_id(self) -> str:
        """The relay's id, which the shards key its feed by (from its start-up log line)."""
        found = re.search(r"ingress (ingress-[0-9a-f]+) relaying", self.log_path.read_text(errors="replace"))
        assert found, f"no relay id in the log of {self.name}:\n{self.tail()}"
        return found.group(1)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=scaled(timeout))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=30)


@dataclass
class HubCluster:
    cluster: Cluster
    ingresses: list[Ingress]
    tmp: Path
    workers: list[Any] = field(default_factory=list)  # the worker nodes (ray._private.node.Node)

    @property
    def head_id(self) -> str:
        return str(self.cluster.head_node.node_id)

    def token(self, educator_id: str, role: str = "educator") -> str:
        return issue_token(SECRET, educator_id, role=role, ttl=3600.0, now=time.time())

    def add_worker(self) -> Any:
        node = self.cluster.add_node(num_cpus=NODE_CPUS, resources={"worker": 100})
        self.workers.append(node)
        return node

    def remove_worker(self, node: Any) -> None:
        self.workers.remove(node)
        self.cluster.remove_node(node)

    def start_ingress(self, name: str) -> Ingress:
        return Ingress(name, self.cluster.address, self.tmp / name)

    def dataplane_counters(self) -> list[dict[str, int]]:
        """Each shard's data-plane server counters: connections open, frames dropped, upgrades refused."""
        shards = [ray.get_actor(shard_name(k), namespace=NAMESPACE) for k in range(SHARDS)]
        return list(ray.get([s.dataplane_counters.remote() for s in shards], timeout=scaled(30)))

    def shard_stats(self) -> list[dict[str, Any]]:
        """Each shard's stats(), with the node it runs on."""
        shards = [ray.get_actor(shard_name(k), namespace=NAMESPACE) for k in range(SHARDS)]
        stats = ray.get([s.stats.remote() for s in shards], timeout=scaled(30))
        nodes = ray.get([s.node_id.remote() for s in shards], timeout=scaled(30))
        return [{**st._asdict(), "node": node} for st, node in zip(stats, nodes, strict=True)]


@pytest.fixture(scope="session")
def hub_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubCluster]:
    """Head and two workers; two ingresses (the first makes the job store and the shards, the
    second finds them by name); this process joins as a driver (kinds, shard stats)."""
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": NODE_CPUS, "resources": {"head": 100}, "include_dashboard": False},
    )
    hc = HubCluster(cluster, [], tmp_path_factory.mktemp("hub-cluster"))
    try:
        for _ in range(2):
            hc.add_worker()
        cluster.wait_for_nodes(timeout=scaled(60))
        ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False, configure_logging=False)
        first = hc.start_ingress("ingress-a")
        hc.ingresses.append(first)
        first.wait_ready()  # the store and the shards exist before the second looks for them
        second = hc.start_ingress("ingress-b")
        hc.ingresses.append(second)
        second.wait_ready()
        yield hc
    finally:
        for ingress in hc.ingresses:
            ingress.stop()
        ray.shutdown()
        cluster.shutdown()


class WhereParams(Params):
    steps: int = 10
    delay: float = 0.05


def where_kind(ctx: Any, params: WhereParams) -> dict[str, Any]:
    """A job that computes in its monitor and says on which node: in every progress message and
    in its result."""
    node = ray.get_runtime_context().get_node_id()
    for i in range(params.steps):
        if ctx.cancelled:
            return {"node": node, "stopped": i}
        ctx.progress(100 * i / params.steps, f"Step {i + 1} of {params.steps} on node {node}")
        time.sleep(params.delay)
    return {"node": node, "steps": params.steps}


NODE_IN_MESSAGE = re.compile(r"on node ([0-9a-f]+)")


@pytest.fixture(scope="session")
def where_registered(hub_cluster: HubCluster) -> str:
    """The `where` kind, registered through Ray as a notebook would; returns its name."""
    from jobs import connect

    nb = connect(hub_cluster.ingresses[0].url, hub_cluster.token("kind-registrar"), namespace=NAMESPACE)
    nb.register_kind("where", where_kind, WhereParams)
    nb.close()
    return "where"


def submit(http: httpx.Client, steps: int, delay: float = 0.05) -> str:
    reply = http.post("/api/jobs", json={"kind": "where", "params": {"steps": steps, "delay": delay}})
    assert reply.status_code == 202, reply.text
    return str(reply.json()["jobId"])


def api(ingress: Ingress, token: str) -> httpx.Client:
    return httpx.Client(base_url=ingress.url, headers={"Authorization": f"Bearer {token}"}, timeout=scaled(30))
