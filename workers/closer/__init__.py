"""workers/closer: not built yet (see the open issues)."""
