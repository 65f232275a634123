"""Secrets at rest: MultiFernet, rotation, clear errors for wrong keys."""

from __future__ import annotations

import pytest

from herald.config import ConfigError
from herald.store.secretbox import SecretBox


def test_round_trip(box: SecretBox) -> None:
    token = box.encrypt("whsec_abc")
    assert token != "whsec_abc"
    assert "whsec_abc" not in token
    assert box.decrypt(token) == "whsec_abc"
    assert box.encrypt("whsec_abc") != token  # random IV per encryption


def test_rotation_with_two_keys() -> None:
    old, new = SecretBox.generate_key(), SecretBox.generate_key()
    before = SecretBox([old]).encrypt("secret-1")
    rotating = SecretBox([new, old])
    assert rotating.decrypt(before) == "secret-1"  # old ciphertexts still readable
    after_new = rotating.encrypt("secret-2")
    assert SecretBox([new]).decrypt(after_new) == "secret-2"  # the first key encrypts
    with pytest.raises(ConfigError):
        SecretBox([old]).decrypt(after_new)
    rotated = rotating.rotate(before)
    assert SecretBox([new]).decrypt(rotated) == "secret-1"


def test_wrong_key_is_config_error() -> None:
    token = SecretBox([SecretBox.generate_key()]).encrypt("x")
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        SecretBox([SecretBox.generate_key()]).decrypt(token)


@pytest.mark.parametrize("keys", [[], ["not-a-key"], ["c2hvcnQ="]])
def test_bad_keys_are_config_errors(keys: list[str]) -> None:
    with pytest.raises(ConfigError):
        SecretBox(keys)
