"""workers/handoff: not built yet (see the open issues)."""
