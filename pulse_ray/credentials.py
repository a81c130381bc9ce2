"""Where ``pulse auth login`` keeps the CLI's key: the user's config directory, 0600."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from platformdirs import user_config_path

__all__ = ["Credentials", "credentials_path", "load_credentials", "save_credentials"]


@dataclass(frozen=True)
class Credentials:
    api_key: str
    base_url: str


def credentials_path() -> Path:
    """``$PULSE_CONFIG_DIR/credentials.json``, else the platform's config dir for pulse."""
    base = os.environ.get("PULSE_CONFIG_DIR")
    return (Path(base) if base else user_config_path("pulse")) / "credentials.json"


def save_credentials(credentials: Credentials, path: Path | None = None) -> Path:
    """Writes the file readable by its owner only, from the first byte on."""
    path = path or credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(asdict(credentials), f)
    return path


def load_credentials(path: Path | None = None) -> Credentials | None:
    """The saved credentials, or None when there are none (or they are unreadable)."""
    path = path or credentials_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(api_key=str(data["api_key"]), base_url=str(data["base_url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
