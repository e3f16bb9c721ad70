"""workers/closer: close tickets whose customer went quiet (SPEC C1-C6)."""
