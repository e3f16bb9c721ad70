"""`ticketflow handoff verify` and `stats` (H7, H8): check an account's helpdesk
credentials against the helpdesk's identity endpoint, and read its conversation counts.

The account document comes from `accounts.config`, as every worker sees it; the secret
comes from the environment variable the document names, and only that name is printed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import aiohttp

from schemas.config import AccountDocument
from workers.handoff.gorgias import Gorgias
from workers.handoff.helpdesk import Helpdesk, account_secret, secret_variable
from workers.handoff.retry import HelpdeskError
from workers.handoff.store import HandoffStore
from workers.handoff.zendesk import Zendesk
from workers.runtime.settings import Settings
from workers.state.accounts import AccountRegistry
from workers.state.store import connect


async def load_account(settings: Settings, account_id: str) -> AccountDocument | None:
    """The newest valid document of an account on `accounts.config`."""
    registry = AccountRegistry(settings)
    await registry.start()
    try:
        return registry.get(account_id)
    finally:
        await registry.stop()


async def verify_credentials(account: AccountDocument, env: Mapping[str, str],
                             timeout_s: float) -> tuple[bool, str]:
    """(accepted, what to print) for the account's configured handoff method."""
    config = account.handoff
    if config.method in ("internal", "message"):
        return True, f"method {config.method}: no helpdesk credentials to check"
    secret_name = secret_variable(config)
    secrets = account_secret(account.account_id, config, env)
    async with aiohttp.ClientSession() as session:
        helpdesk: Helpdesk = (Zendesk if config.method == "zendesk" else Gorgias)(
            config, secrets, session, timeout_s)
        try:
            who = await helpdesk.whoami()
        except HelpdeskError as exc:
            return False, (f"{config.method} credentials from ${secret_name} refused: "
                           f"{exc.reason}")
    return True, f"{config.method} credentials from ${secret_name} accepted: {who}"


async def verify_account(settings: Settings, account_id: str,
                         env: Mapping[str, str]) -> tuple[bool, str]:
    account = await asyncio.wait_for(load_account(settings, account_id), 60)
    if account is None:
        return False, f"account {account_id!r} not found on accounts.config"
    return await verify_credentials(account, env, settings.handoff_http_timeout_s)


async def conversation_stats(settings: Settings, account_id: str) -> dict[str, int]:
    """H8 counts of one account, shared by every replica."""
    client = connect(settings)
    try:
        return await HandoffStore(settings, client).conversation_ends(account_id)
    finally:
        await client.aclose()
