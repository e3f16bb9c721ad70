"""Wire schemas of every ticketflow topic (CONTRACT.md) as msgspec Structs."""
