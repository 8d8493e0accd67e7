"""The hub's pure protocol core: message models, streams and their positions, feeds, conflation,
batching decisions, limits, errors and close codes.

Everything here imports only the standard library, pydantic and msgpack: no Ray, no asyncio, no
clock, no logging, no environment (DESIGN.md, "Layout"; enforced by tests/unit/test_import_graph.py).
The adapters (actors/, hub/ingress/, the server and clients) pass time and settings in."""
