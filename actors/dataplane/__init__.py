"""The data plane (DESIGN.md, "The data path"): a registry shard's socket, served with the
websockets library (binary frames, MessagePack: hub.core.wire), and the callers' side of it.
Ray stays the control plane: a caller asks the shard actor over Ray for its DataPlaneEndpoint
(address, pinned certificate, a short-lived token), then talks over the socket; where no socket
can be made it uses Ray calls, as before, and says so (actors.handles.ShardClient).

Picked by measurement (`bench/ray_channel.py`, docs/benchmarks.md "Data-plane transports"): per lone
acknowledged message the websockets library with a JWT cost 0.16-0.23 x a Ray actor call's CPU
(0.20-0.30 x with TLS), pyzmq 0.22-0.37 x (0.24-0.36 x with CURVE), on 2 cores."""
