"""Upload checks of mTLS material: valid now, the key is the certificate's own, PEM everywhere."""

from __future__ import annotations

import datetime as dt

import pytest
import trustme

from herald.domain.certificates import CertificateProblem, inspect_material

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def pem(blob: trustme.Blob) -> str:
    return blob.bytes().decode()


def test_valid_material_gives_fingerprint_and_expiry(ca: trustme.CA) -> None:
    leaf = ca.issue_cert("client.example.com")
    info = inspect_material(pem(leaf.cert_chain_pems[0]), pem(leaf.private_key_pem), pem(ca.cert_pem))
    assert len(info.fingerprint) == 64
    assert info.not_after > NOW.timestamp()
    assert "client.example.com" in info.subject or info.subject


@pytest.mark.parametrize(
    ("not_before", "not_after", "message"),
    [
        (NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1), "expired"),
        (NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=30), "not valid before"),
    ],
)
def test_certificate_outside_its_validity_is_refused(
    ca: trustme.CA, not_before: dt.datetime, not_after: dt.datetime, message: str
) -> None:
    leaf = ca.issue_cert("client.example.com", not_before=not_before, not_after=not_after)
    with pytest.raises(CertificateProblem, match=message) as caught:
        inspect_material(pem(leaf.cert_chain_pems[0]), pem(leaf.private_key_pem), None)
    assert caught.value.field == "certificate"


def test_key_of_another_certificate_is_refused(ca: trustme.CA) -> None:
    one, other = ca.issue_cert("one.example.com"), ca.issue_cert("other.example.com")
    with pytest.raises(CertificateProblem, match="does not match") as caught:
        inspect_material(pem(one.cert_chain_pems[0]), pem(other.private_key_pem), None)
    assert caught.value.field == "private_key"


@pytest.mark.parametrize(
    ("field", "cert", "key", "bundle"),
    [
        ("certificate", "not a certificate", None, None),
        ("private_key", None, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", None),
        ("ca_bundle", None, None, "garbage"),
    ],
)
def test_garbage_names_the_field(
    ca: trustme.CA, field: str, cert: str | None, key: str | None, bundle: str | None
) -> None:
    leaf = ca.issue_cert("client.example.com")
    with pytest.raises(CertificateProblem) as caught:
        inspect_material(cert or pem(leaf.cert_chain_pems[0]), key or pem(leaf.private_key_pem), bundle)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
