"""Ticket state shared by the worker kinds: the Redis connection and key names, tickets,
presence, account documents and business hours."""
