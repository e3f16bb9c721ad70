"""`python -m workers.ingest`: the same replica as `ticketflow worker ingest`."""

from workers.cli import main

main(["worker", "ingest"])
