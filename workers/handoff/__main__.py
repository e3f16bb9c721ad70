"""`python -m workers.handoff`: the same replica as `ticketflow worker handoff`."""

from workers.cli import main

main(["worker", "handoff"])
