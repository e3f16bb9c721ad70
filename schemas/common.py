"""Field types shared by every topic: ids, timestamps, text limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

# Account ids become Redis hash tags (`tf:{acme}:...`), so braces and spaces are refused.
AccountId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+?[0-9]{3,20}$")]
Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]{1,128}@[^@\s]{1,255}$")]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Name = Annotated[str, msgspec.Meta(max_length=256)]
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://", max_length=2048)]
Subject = Annotated[str, msgspec.Meta(max_length=998)]
# A message body above 64 KiB is refused: providers split longer texts, and a ticket
# event must stay well under the broker's default 1 MiB record limit.
MAX_BODY_CHARS = 65536
Body = Annotated[str, msgspec.Meta(max_length=MAX_BODY_CHARS)]
# RFC 3339 with an offset; naive times are refused because their zone is unknowable.
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]


class Wire(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every wire record: immutable, keyword-only, unknown fields ignored.

    Unknown fields are ignored rather than refused because CONTRACT lets producers
    add optional fields.
    """
