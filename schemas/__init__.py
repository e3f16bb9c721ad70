"""Wire schemas of every ticketflow topic (docs/contract.md, docs/asyncapi.yaml) as msgspec
Structs."""
