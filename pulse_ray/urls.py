"""URLs as they may be shown: in responses, logs and the CLI's messages.

Pure string handling (no SQLAlchemy), so the wire schemas and the SDK that share it
stay light.
"""

from __future__ import annotations

import re

__all__ = ["redact_url"]

# scheme://user:password@host...: the password runs to the last "@" before the path,
# as URL parsers read it, so a password holding "@" is masked whole.
_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^/]*@")


def redact_url(url: str) -> str:
    """The URL with any password masked (``postgresql://pulse:***@db/shop``)."""
    return _PASSWORD.sub(r"\g<head>:***@", url, count=1)
