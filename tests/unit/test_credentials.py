from __future__ import annotations

import stat
from pathlib import Path

from pulse_ray.credentials import Credentials, credentials_path, load_credentials, save_credentials


def test_saved_credentials_are_owner_only_and_round_trip(tmp_path: Path) -> None:
    creds = Credentials(api_key="pulse_sk_x", base_url="http://127.0.0.1:8000")
    path = save_credentials(creds)
    assert path == credentials_path() and path.is_relative_to(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_credentials() == creds


def test_an_existing_world_readable_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    path.write_text("{}")
    path.chmod(0o644)
    save_credentials(Credentials(api_key="k", base_url="u"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_missing_or_corrupt_file_reads_as_none(tmp_path: Path) -> None:
    assert load_credentials(tmp_path / "absent.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert load_credentials(tmp_path / "bad.json") is None
