"""workers/ingest: customer messages become tickets (SPEC I1-I5)."""
