"""Write the JSON Schema file of each public topic and the AsyncAPI document of every topic:
`python -m schemas.generate` (`make schemas`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from schemas import asyncapi
from schemas.codec import PUBLIC_TOPICS, json_schema

SCHEMA_DIR = Path(__file__).with_name("jsonschema")
ASYNCAPI_FILE = Path(__file__).parent.parent / "docs" / "asyncapi.yaml"


def rendered() -> dict[str, str]:
    """File name -> the text the committed schema file must have."""
    return {
        f"{topic}.json": json.dumps(json_schema(topic), indent=2, sort_keys=True) + "\n"
        for topic in PUBLIC_TOPICS
    }


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (SCHEMA_DIR / name).write_text(text)
    ASYNCAPI_FILE.write_text(asyncapi.rendered())
    print(f"wrote {len(PUBLIC_TOPICS)} schema files to {SCHEMA_DIR} and {ASYNCAPI_FILE}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
