"""The OpenAPI document against the live server: schemathesis, every check, bounded examples per operation.

What must hold: no server error, no status a route answers that its operation does not declare, answers
matching the declared error schema, content types and Allow headers. Two checks judge the API's business
rules against bare JSON Schema (a schema-valid subscription URL of "0" is refused with 422; a numeric
`timestamp` is read as epoch seconds), so they are reported, not failures."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
from e2e_harness import HERALD_BIN, Herald

# Failure codes (`st explain <code>`) that are the schema's looseness, not defects of the server.
BUSINESS_RULES = {
    "ST201",  # negative_data_rejection: a schema-violating value the server reads anyway
    "ST202",  # positive_data_acceptance: a schema-valid value a business rule refuses (422, 404, 409)
}
# Long-lived by design (the inspector's event stream, the `herald listen` long poll): see test_fuzz.py.
LONG_LIVED = r"^/v1/(inspect/bins/\{bin_id\}/stream|listen/sessions/\{session_id\}/requests)$"
SUMMARY_LINE = re.compile(r"❌ (ST\d+) ([^:]+): (\d+)")


def test_every_status_is_documented_and_no_server_error(
    herald_factory: Callable[..., Herald], tmp_path: Path
) -> None:
    # Fuzzing sends bad tokens by design (ignored_auth): keep the failed-auth limiter out of the way.
    herald = herald_factory("sqlite", workers=0, HERALD_AUTH_FAILURE_LIMIT="1000000")
    st = str(Path(HERALD_BIN).with_name("st"))
    done = subprocess.run(
        [
            st, "run", f"{herald.base_url}/openapi.json",
            "--header", f"Authorization: Bearer {herald.token}",
            "--checks", "all",
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", "4",  # per operation: under three minutes on two cores
            "--workers", "1",  # CPython 3.11's ast.parse is not thread-safe (see test_fuzz.py)
            "--request-timeout", "10",
            "--exclude-path-regex", LONG_LIVED,
            "--generation-database", "none",
            "--suppress-health-check", "all",
            "--seed", "11",
            "--no-color",
        ],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    out = done.stdout + done.stderr
    summary = out[out.rfind("SUMMARY") :]
    found = {code: (name, int(n)) for code, name, n in SUMMARY_LINE.findall(summary)}
    defects = {code: v for code, v in found.items() if code not in BUSINESS_RULES}
    assert "Tested: " in summary, out[-5000:]
    assert not defects, f"schemathesis found {defects}:\n{out[-20000:]}"
    assert "Errors:" not in summary, out[-20000:]
    print(summary)  # the business-rule findings, for the record


def test_the_document_declares_the_error_statuses_with_the_error_schema(herald: Herald) -> None:
    document = httpx.get(f"{herald.base_url}/openapi.json", timeout=10).json()
    error = {"$ref": "#/components/schemas/Error"}
    publish = document["paths"]["/v1/accounts/{account_id}/events"]["post"]["responses"]
    for status in ("400", "401", "403", "404", "409", "413", "415", "422", "429", "503"):
        assert publish[status]["content"]["application/json"]["schema"] == error, status
    assert "HTTPValidationError" not in document["components"]["schemas"]
    token = document["paths"]["/oauth/token"]["post"]["responses"]
    assert token["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/OAuthErrorOut")
    health = document["paths"]["/healthz"]["get"]["responses"]
    assert set(health) == {"200", "503"}, health
