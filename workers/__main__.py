"""`python -m workers ...` is the `ticketflow` command (same entry point as the script)."""

from workers.cli import main

main()
