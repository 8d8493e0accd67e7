"""The ingress: a FastAPI + uvicorn process that joins the Ray cluster as a driver."""
