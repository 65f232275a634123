"""Which request bodies are JSON: `application/json` and `application/*+json`, as FastAPI reads them."""

from __future__ import annotations


def is_json(content_type: bytes | str | None) -> bool:
    if not content_type:
        return False
    text = content_type.decode("latin-1") if isinstance(content_type, bytes) else content_type
    kind = text.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))
