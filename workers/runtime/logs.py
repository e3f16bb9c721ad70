"""Process-wide logging set-up for workers and the CLI."""

from __future__ import annotations

import logging
import os
import sys


def configure_logging() -> None:
    """One line per record on stderr; level from TICKETFLOW_LOG_LEVEL (default INFO)."""
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("TICKETFLOW_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.WARNING)
