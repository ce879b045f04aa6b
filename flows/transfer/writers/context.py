"""What every writer may need beyond the frame and its spec, fixed once per transfer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class WriteContext:
    studyid: str
    created: datetime  # from the data cut or the inputs, never the clock: same inputs, same bytes
    lengths: dict[str, dict[str, int]]  # domain -> variable -> length as written to XPT
    ig_version: str = ""  # SDTMIG version, part of the define.xml MetaDataVersion OID
