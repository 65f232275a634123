"""Runs LiveChat's own SDK (`lc-sdk-python`, import `livechat`) for test_livechat_sdk.py, in its own
process so two releases of it can be used by one test run (PYTHONPATH picks the release).

Reads one JSON request per line on stdin, writes one JSON answer per line on stdout:
  {"op": "version"}                                     → {"file", "release"} of the SDK loaded
  {"op": "call", "version", "token", "method", "kwargs"} → {"status", "json"}  (Configuration API)
  {"op": "parse", "version", "body"}                     → {"class", "payload_class"} or {"error"}
The API is reached at `base_url` (host:port; the SDK always speaks https) trusting the CA file `ca`.
"""

from __future__ import annotations

import json
import ssl
import sys
from importlib import metadata
from typing import Any

from livechat.configuration.base import ConfigurationApi
from livechat.webhooks.parser import parse_webhook


def main(base_url: str, ca: str) -> None:
    trust = ssl.create_default_context(cafile=ca)
    for line in sys.stdin:
        request = json.loads(line)
        answer: dict[str, Any]
        if request["op"] == "version":
            import livechat

            answer = {"file": livechat.__file__, "release": metadata.version("lc-sdk-python")}
        elif request["op"] == "call":
            client = ConfigurationApi.get_client(
                token=request["token"], version=request["version"], base_url=base_url, verify=trust
            )
            response = getattr(client, request["method"])(**request["kwargs"])
            answer = {"status": response.status_code, "json": response.json() if response.content else None}
        else:
            try:
                parsed = parse_webhook(request["body"], request["version"])
                answer = {"class": type(parsed).__name__, "payload_class": type(parsed.payload).__name__}
            except ValueError as exc:
                answer = {"error": str(exc)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
