"""Settings: defaults, environment, TOML file, clear errors naming the variable at fault."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from herald.config import ConfigError, Settings, load_settings
from herald.domain.retry import RetryConfig
from herald.store.secretbox import SecretBox


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run each test in an empty directory so a stray ./herald.toml cannot leak in."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_defaults() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert settings.database_url == "sqlite:///herald.db"
    assert settings.is_sqlite
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.allow_private_targets is False
    assert settings.retry_config() == RetryConfig()


def test_environment_overrides() -> None:
    settings = load_settings(
        {
            "HERALD_DATABASE_URL": "postgresql://u@db/herald",
            "HERALD_LISTEN": "0.0.0.0:9000",
            "HERALD_CONNECT_TIMEOUT": "2.5",
            "HERALD_CLAIM_BATCH": "7",
            "HERALD_ALLOW_PRIVATE_TARGETS": "yes",
            "HERALD_ADMIN_TOKEN": "tok",
            "HERALD_READ_TIMEOUT": "",  # empty means unset
            "UNRELATED": "x",
        }
    )
    assert settings.database_url == "postgresql://u@db/herald"
    assert not settings.is_sqlite
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert settings.connect_timeout == 2.5
    assert settings.claim_batch == 7
    assert settings.allow_private_targets is True
    assert settings.admin_token == "tok"
    assert settings.read_timeout == Settings().read_timeout


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1", True),
        ("TRUE", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_boolean_spellings(raw: str, value: bool) -> None:
    assert load_settings({"HERALD_ALLOW_PRIVATE_TARGETS": raw}).allow_private_targets is value


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("HERALD_CLAIM_BATCH", "many"),
        ("HERALD_CLAIM_BATCH", "1.5"),
        ("HERALD_CONNECT_TIMEOUT", "fast"),
        ("HERALD_ALLOW_PRIVATE_TARGETS", "maybe"),
        ("HERALD_MAX_BODY_BYTES", "1MB"),
    ],
)
def test_bad_environment_values_name_the_variable(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: raw})


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "conf.toml"
    path.write_text(
        '[herald]\ndatabase_url = "postgresql://toml/db"\nconnect_timeout = 3\n'
        'HERALD_CLAIM_BATCH = 11\nallow_private_targets = true\nlisten = "[::1]:7000"\n'
    )
    settings = load_settings({"HERALD_CONFIG": str(path)})
    assert settings.database_url == "postgresql://toml/db"
    assert settings.connect_timeout == 3.0
    assert isinstance(settings.connect_timeout, float)
    assert settings.claim_batch == 11
    assert settings.allow_private_targets is True
    assert (settings.host, settings.port) == ("::1", 7000)


def test_environment_beats_toml(tmp_path: Path) -> None:
    path = tmp_path / "conf.toml"
    path.write_text('claim_batch = 11\nlog_level = "debug"\n')  # no [herald] section: top level
    settings = load_settings({"HERALD_CONFIG": str(path), "HERALD_CLAIM_BATCH": "22"})
    assert settings.claim_batch == 22
    assert settings.log_level == "debug"


def test_herald_toml_in_working_directory_is_read(_empty_cwd: Path) -> None:
    (_empty_cwd / "herald.toml").write_text("[herald]\npoll_interval = 0.5\n")
    assert load_settings({}).poll_interval == 0.5


def test_toml_unknown_key(tmp_path: Path) -> None:
    path = tmp_path / "conf.toml"
    path.write_text("[herald]\ndatabse_url = 'x'\n")
    with pytest.raises(ConfigError, match="databse_url"):
        load_settings({"HERALD_CONFIG": str(path)})


def test_toml_bad_value_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "conf.toml"
    path.write_text("[herald]\nlease_seconds = 'long'\n")
    with pytest.raises(ConfigError, match="HERALD_LEASE_SECONDS"):
        load_settings({"HERALD_CONFIG": str(path)})


def test_toml_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings({"HERALD_CONFIG": str(tmp_path / "missing.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("[herald\n")
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_settings({"HERALD_CONFIG": str(broken)})


def test_bad_listen() -> None:
    with pytest.raises(ConfigError, match="HERALD_LISTEN"):
        _ = load_settings({"HERALD_LISTEN": "nowhere"}).port


def test_retry_config() -> None:
    settings = Settings(retry_schedule=" 0.05, 0.05 ,,", liveperson_retry_interval=2.0)
    config = settings.retry_config()
    assert config.schedule == (0.05, 0.05)
    assert config.liveperson_interval == 2.0
    assert config.jitter == RetryConfig().jitter


@pytest.mark.parametrize("schedule", ["", " , ", "5,soon", "-1", "5,-0.5", "nan", "5,nan"])
def test_retry_config_rejects_bad_schedules(schedule: str) -> None:
    with pytest.raises(ConfigError, match="HERALD_RETRY_SCHEDULE"):
        Settings(retry_schedule=schedule).retry_config()


def test_with_overrides_ignores_none() -> None:
    settings = Settings().with_overrides(listen="0.0.0.0:1", admin_token=None)
    assert settings.listen == "0.0.0.0:1"
    assert settings.admin_token is None


def test_secret_keys_from_comma_list() -> None:
    k1, k2 = SecretBox.generate_key(), SecretBox.generate_key()
    assert Settings(secret_key=f" {k1} ,{k2},").secret_keys() == [k1, k2]


def test_secret_key_file_created_once(tmp_path: Path) -> None:
    path = tmp_path / "data" / "herald.key"
    path.parent.mkdir()
    settings = Settings(secret_key_file=str(path))
    first = settings.secret_keys()
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.secret_keys() == first  # the second call reads, it does not regenerate
    assert len(first) == 1
    box = SecretBox(first)
    assert box.decrypt(box.encrypt("hello")) == "hello"


def test_explicit_key_wins_over_key_file(tmp_path: Path) -> None:
    path = tmp_path / "herald.key"
    key = SecretBox.generate_key()
    assert Settings(secret_key=key, secret_key_file=str(path)).secret_keys() == [key]
    assert not path.exists()
