"""`python -m workers.router`: the same replica as `ticketflow worker router`."""

from workers.cli import main

main(["worker", "router"])
