"""The account registry, telling the fire loop when an account's auto-close settings change.

A shorter period or turning auto-close on makes existing countdowns due earlier, so the
account's hint in the due index must move before the next fire pass (C6, A4).
"""

from __future__ import annotations

from collections.abc import Callable

from workers.runtime.settings import Settings
from workers.state.accounts import AccountRegistry


class WatchedAccounts(AccountRegistry):
    """AccountRegistry that calls `on_auto_close_change(account_id)` after an applied
    document changed (or first set) the account's auto-close settings."""

    def __init__(self, settings: Settings,
                 on_auto_close_change: Callable[[str], None] | None = None) -> None:
        super().__init__(settings)
        self.on_auto_close_change = on_auto_close_change

    def apply(self, key: bytes | None, value: bytes | None) -> str | None:
        account_id = None if key is None else key.decode("utf-8", "replace")
        before = None if account_id is None else self.get(account_id)
        reason = super().apply(key, value)
        after = None if account_id is None else self.get(account_id)
        if (reason is None and after is not None and self.on_auto_close_change is not None
                and (before is None or before.auto_close != after.auto_close)):
            self.on_auto_close_change(after.account_id)
        return reason
