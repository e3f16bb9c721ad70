"""H7 in the handoff worker: a document that names another account's secret, or a host the
deployment does not allow, is refused (the account keeps its previous settings and
nothing is sent); a request for an account whose document was published just before it
waits for that document; a helpdesk's error body is not echoed into the result."""

from __future__ import annotations

import msgspec
import pytest

from schemas.config import AccountDocument, HandoffSettings
from tests.handoff.conftest import (
    ZENDESK_SECRET,
    Spawn,
    configure,
    request,
    result_of,
    send,
    zendesk_config,
)
from tests.handoff.fakes import FakeHelpdesk
from tests.pipeline import Pipeline
from workers.state.config_publish import publish_accounts

pytestmark = pytest.mark.e2e

BETA_SECRET = "beta-zendesk-s3cret-19f2"


def publish_handoff(pipeline: Pipeline, acme: AccountDocument, version: int,
                    **handoff: object) -> None:
    """Publish acme with these handoff settings as raw JSON: the document's own checks
    would refuse to build it in this process."""
    document = msgspec.to_builtins(msgspec.structs.replace(acme, version=version))
    document["handoff"] = handoff
    pipeline.publish_raw("accounts.config", "acme", msgspec.json.encode(document))


def test_documents_reaching_for_other_secrets_or_hosts_are_refused(
        pipeline: Pipeline, acme: AccountDocument, spawn: Spawn) -> None:
    # "elsewhere" accepts Beta's token: it stands for any host that would take it.
    elsewhere = FakeHelpdesk("zendesk", token=BETA_SECRET).start()
    try:
        worker = spawn(TICKETFLOW_SECRET_BETA_ZENDESK=BETA_SECRET)
        since = len(worker.lines)
        publish_handoff(pipeline, acme, 2, method="zendesk", base_url=elsewhere.url,
                        email=elsewhere.email, token_env="TICKETFLOW_SECRET_BETA_ZENDESK")
        worker.wait_for_log(r"refused accounts.config offset \d+: .*handoff\.token_env: "
                            r"TICKETFLOW_SECRET_BETA_ZENDESK", since=since, timeout_s=20)
        # Same port, other name: `localhost` is not in the deployment's allow-list.
        publish_handoff(pipeline, acme, 3, method="zendesk",
                        base_url=elsewhere.url.replace("127.0.0.1", "localhost"),
                        email=elsewhere.email, token_env="TICKETFLOW_SECRET_ACME_ZENDESK")
        worker.wait_for_log(r"refused accounts.config offset \d+: field \$\.handoff\."
                            r"base_url: localhost:\d+ over http", since=since, timeout_s=20)

        req = request()
        send(pipeline, req)
        result = result_of(pipeline, req.handoff_id)
        assert (result.status, result.target) == ("created", "internal")  # version 1
        assert elsewhere.requests == []
        assert BETA_SECRET not in "\n".join(worker.lines)
    finally:
        elsewhere.stop()


def test_a_request_right_behind_its_new_accounts_document_waits_for_it(
        pipeline: Pipeline, acme: AccountDocument, zendesk: FakeHelpdesk,
        spawn: Spawn) -> None:
    # The production fetch wait, which tansu holds an empty fetch for: the account reader's
    # fetch in flight when the document is published comes back empty up to 500 ms later.
    # The request's own fetch starts once the batch in hand is done, and finds it at once.
    configure(pipeline, acme, **zendesk_config(zendesk))
    spawn(TICKETFLOW_FETCH_MAX_WAIT_MS="500")
    busy = request()
    zendesk.behave(busy.handoff_id, ["hold"])
    send(pipeline, busy)
    assert zendesk.arrived(busy.handoff_id).wait(30)

    delta = msgspec.structs.replace(acme, account_id="delta",
                                    handoff=HandoffSettings(method="message", message="Bye"))
    publish_accounts(pipeline.settings, [delta])
    req = request(account_id="delta")
    send(pipeline, req)  # no wait in between
    zendesk.release(busy.handoff_id)
    assert result_of(pipeline, busy.handoff_id).status == "created"
    result = result_of(pipeline, req.handoff_id, timeout_s=15)
    assert (result.status, result.visitor_notice) == ("message_sent", "Bye")
    assert not pipeline.tail("deadletter").drain()


def test_a_helpdesk_error_body_is_summed_up_not_echoed(
        pipeline: Pipeline, acme: AccountDocument, zendesk: FakeHelpdesk,
        spawn: Spawn) -> None:
    configure(pipeline, acme, **zendesk_config(zendesk))
    req = request()
    zendesk.behave(req.handoff_id, ["422_verbose"])
    spawn()
    send(pipeline, req)
    result = result_of(pipeline, req.handoff_id)
    assert result.status == "failed" and result.error is not None
    assert result.error.startswith("zendesk create ticket: HTTP 422: RecordInvalid")
    assert len(result.error) <= 200
    assert all(c.isprintable() for c in result.error)
    assert ZENDESK_SECRET not in result.error
