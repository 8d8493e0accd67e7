"""The hub: an actor-model notification hub (Ray actors -> FastAPI ingress -> WebSocket clients)."""

__version__ = "0.1.0"
