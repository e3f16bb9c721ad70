"""`python -m workers.closer`: the same replica as `ticketflow worker closer`."""

from workers.cli import main

main(["worker", "closer"])
