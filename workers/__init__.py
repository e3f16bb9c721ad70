"""ticketflow's worker kinds (ingest, router, closer, handoff) and what they share."""
