"""CPU per message of the channels a shard could feed an ingress by: one actor call per message
(the relay's long-poll at light load), one item of a Ray streaming generator, and, for scale, a
plain TCP connection between the same two processes (length-prefixed pickles, outside Ray).

    python bench/ray_channel.py [--messages 1000] [--gap 0.005]

Each message is a pull-shaped reply with one envelope; the caller and the actor's process CPU
(user + system, Ray's threads included) is divided by the messages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import cpu_seconds  # noqa: E402


def reply(seq: int) -> dict[str, Any]:
    return {"epoch": "e", "items": [(seq, ("alice", "e", seq, "notification", time.time(), {"x": 1}, None))]}


async def over_tcp(shard: Any, messages: int, gap: float) -> None:
    """Have the actor push `messages` replies to a server in this process over plain TCP."""
    received: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def take(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(messages):
            size = int.from_bytes(await reader.readexactly(4), "big")
            pickle.loads(await reader.readexactly(size))
        writer.close()
        received.set_result(messages)

    server = await asyncio.start_server(take, "127.0.0.1", 0)
    pushed = shard.push.remote(server.sockets[0].getsockname()[1], messages, gap)
    await received
    await pushed
    server.close()


async def measure(messages: int, gap: float) -> list[tuple[str, float, float, float]]:
    import ray

    @ray.remote(num_cpus=0)
    class Shard:
        async def pid(self) -> int:
            return os.getpid()

        async def pull(self, ack: int) -> dict[str, Any]:
            return reply(ack + 1)

        async def stream(self, count: int, gap: float) -> Any:
            for i in range(count):
                await asyncio.sleep(gap)
                yield reply(i + 1)

        async def push(self, port: int, count: int, gap: float) -> None:
            """The same replies over a plain TCP connection (length-prefixed pickles)."""
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for i in range(count):
                await asyncio.sleep(gap)
                data = pickle.dumps(reply(i + 1))
                writer.write(len(data).to_bytes(4, "big") + data)
            await writer.drain()
            writer.close()

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    shard = Shard.remote()  # type: ignore[attr-defined]
    shard_pid = await shard.pid.remote()
    rows = []
    for name in ("actor call per message", "streaming generator item", "plain TCP, outside Ray"):
        me, sh, t0 = cpu_seconds(os.getpid()), cpu_seconds(shard_pid), time.time()
        if name.startswith("actor"):
            ack = 0
            for _ in range(messages):
                ack = (await shard.pull.remote(ack))["items"][-1][0]
                await asyncio.sleep(gap)
        elif name.startswith("streaming"):
            async for ref in shard.stream.options(num_returns="streaming").remote(messages, gap):
                await ref
        else:
            await over_tcp(shard, messages, gap)
        rows.append((name, time.time() - t0, cpu_seconds(os.getpid()) - me, cpu_seconds(shard_pid) - sh))
    ray.shutdown()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--gap", type=float, default=0.005, help="seconds between messages (light load)")
    args = parser.parse_args()
    print(f"| channel | seconds | caller CPU ms / message | shard CPU ms / message | {os.cpu_count()} cores |")
    print("|---|---|---|---|---|")
    for name, took, caller, shard in asyncio.run(measure(args.messages, args.gap)):
        n = args.messages
        print(f"| {name} | {took:.2f} | {1e3 * caller / n:.3f} | {1e3 * shard / n:.3f} | |")


if __name__ == "__main__":
    main()
