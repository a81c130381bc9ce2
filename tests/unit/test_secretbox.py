"""The key ring: where its keys come from, and what it refuses."""

from __future__ import annotations

import stat

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from pulse_ray.config import Settings
from pulse_ray.errors import InternalError
from pulse_ray.secretbox import SecretBox, key_file, load_keys, write_key_file


@pytest.fixture
def on_file(settings: Settings) -> Settings:
    """Settings whose keys are the key file's (no PULSE_SECRET_KEYS)."""
    return settings.model_copy(update={"secret_keys": None})


def test_the_key_file_is_made_once_readable_by_its_owner_only(on_file: Settings) -> None:
    first = load_keys(on_file, create=True)
    mode = stat.S_IMODE(key_file(on_file).stat().st_mode)
    assert mode == 0o600
    assert load_keys(on_file, create=True) == first  # kept, not replaced
    assert len(first) == 1 and Fernet(first[0])


def test_without_a_key_nothing_is_made_up(on_file: Settings) -> None:
    with pytest.raises(InternalError, match="PULSE_SECRET_KEYS"):
        load_keys(on_file)
    assert not key_file(on_file).exists()


def test_the_setting_wins_over_the_file(on_file: Settings) -> None:
    load_keys(on_file, create=True)
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    keys = load_keys(on_file.model_copy(update={"secret_keys": SecretStr(f"{new}, {old}")}))
    assert keys == [new, old]


def test_a_value_that_is_not_a_key_is_refused_without_echoing_it(settings: Settings) -> None:
    bad = settings.model_copy(update={"secret_keys": SecretStr("hunter2hunter2")})
    with pytest.raises(InternalError) as caught:
        load_keys(bad)
    assert "hunter2" not in str(caught.value)


def test_sealed_values_open_with_any_key_of_the_ring_and_not_without() -> None:
    old, new = SecretBox.generate(), SecretBox.generate()
    token = old.seal("postgresql://u:hunter2@db/x")
    assert "hunter2" not in token
    keys = [Fernet.generate_key().decode()]
    assert SecretBox([*keys]).seal("x") != SecretBox([*keys]).seal("x")  # a fresh IV each
    with pytest.raises(InternalError) as caught:
        new.open(token)
    assert "hunter2" not in str(caught.value)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(InternalError):
        old.open(tampered)  # authenticated: a changed value fails, it does not open wrong


def test_a_process_started_before_a_rotation_reloads_the_ring(on_file: Settings) -> None:
    box = SecretBox.from_settings(on_file, create=True)
    rotated = [Fernet.generate_key().decode(), *load_keys(on_file)]
    write_key_file(key_file(on_file), rotated)
    token = SecretBox(rotated).seal("whsec_abc")
    assert box.open(token) == "whsec_abc"
