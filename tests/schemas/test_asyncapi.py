"""The AsyncAPI document is generated from the Structs, is current, and passes the official
parser (installed by `make asyncapi`, which `make test` runs first)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from schemas import asyncapi
from schemas.codec import TOPICS
from schemas.generate import ASYNCAPI_FILE
from workers.kinds import KINDS
from workers.runtime.topics import COMPACTED, PARTITIONS

TOOL = Path(__file__).parents[2] / "tools" / "asyncapi"


def test_committed_asyncapi_document_matches_the_structs() -> None:
    assert ASYNCAPI_FILE.read_text() == asyncapi.rendered(), \
        "run `make schemas` and commit docs/asyncapi.yaml"


def test_every_topic_is_a_channel_with_a_message_per_struct_and_a_kafka_key() -> None:
    document = asyncapi.document()
    by_address = {c["address"]: c for c in document["channels"].values()}
    assert set(by_address) == set(TOPICS)
    messages = document["components"]["messages"]
    for topic in TOPICS:
        named = set(by_address[topic]["messages"])
        assert {s.__name__ for s in asyncapi.members(topic)} <= named, topic
        for name in named:
            key = messages[name]["bindings"]["kafka"]["key"]
            assert key["type"] == "string" and key["description"], (topic, name)


def test_payloads_are_the_structs_json_schema() -> None:
    schemas = asyncapi.document()["components"]["schemas"]
    sms = schemas["SmsMessage"]
    assert set(sms["required"]) >= {"account_id", "message_id", "from_number", "body"}
    assert sms["properties"]["tags"]["maxItems"] == 50


def test_operations_send_and_receive_the_records_of_their_channel() -> None:
    document = asyncapi.document()
    for name, operation in document["operations"].items():
        channel = operation["channel"]["$ref"].removeprefix("#/channels/")
        prefix = f"#/channels/{channel}/messages/"
        assert all(m["$ref"].startswith(prefix) for m in operation["messages"]), name
        assert {m["$ref"].removeprefix(prefix) for m in operation["messages"]} \
            <= set(document["channels"][channel]["messages"]), name


@pytest.mark.parametrize("kind", asyncapi.KINDS)
def test_each_kind_receives_what_its_consumer_group_reads(kind: str) -> None:
    received = {op.topic for op in asyncapi.OPERATIONS
                if op.party == kind and op.action == "receive"}
    assert received == set(KINDS[kind].topics) | {"accounts.config"}


def test_accounts_config_binding_is_how_topics_are_created() -> None:
    channel = asyncapi.document()["channels"]["accountsConfig"]["bindings"]["kafka"]
    assert channel["partitions"] == PARTITIONS["accounts.config"] == 1
    assert channel["topicConfiguration"]["cleanup.policy"] == ["compact"]
    assert COMPACTED == {"accounts.config"}


def test_tuples_and_discriminators_in_asyncapi_schema_format() -> None:
    written = {"type": "array", "prefixItems": [{"type": "string"}, {"type": "string"}],
               "items": False, "minItems": 2, "maxItems": 2,
               "discriminator": {"propertyName": "type", "mapping": {}}}
    assert asyncapi.to_asyncapi_schema(written) == {
        "type": "array", "items": [{"type": "string"}, {"type": "string"}],
        "additionalItems": False, "minItems": 2, "maxItems": 2, "discriminator": "type"}


def parse(path: Path) -> subprocess.CompletedProcess[str]:
    """Run the official AsyncAPI parser over a file; it prints every diagnostic."""
    node = shutil.which("node")
    if node is None or not (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail("the AsyncAPI parser is not installed: run `make asyncapi` "
                    "(needs Node.js and npm)")
    return subprocess.run([node, str(TOOL / "validate.mjs"), str(path)], capture_output=True,
                          text=True, timeout=60, check=False)


def test_asyncapi_document_passes_the_official_parser() -> None:
    checked = parse(ASYNCAPI_FILE)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert " 0 error(s)" in checked.stdout


def test_the_parser_check_fails_on_a_broken_document(tmp_path: Path) -> None:
    document = asyncapi.document()
    document["operations"]["ingest-receive-inboundSms"]["action"] = "listen"
    del document["components"]["schemas"]["Customer"]
    broken = tmp_path / "asyncapi.yaml"
    broken.write_text(yaml.safe_dump(document, sort_keys=False))
    checked = parse(broken)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "ingest-receive-inboundSms.action" in checked.stdout
    assert "#/components/schemas/Customer" in checked.stdout
