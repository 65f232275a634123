"""The management API (FastAPI): one router module per resource."""
