"""workers/router: not built yet (see the open issues)."""
