"""`ticketflow simulate` (SPEC X7): a day of traffic through the real router, ingest and
closer code on a simulated clock, once per account document, compared side by side."""
