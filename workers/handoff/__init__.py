"""workers/handoff: AI conversations escalated to humans (SPEC H1-H8).

`decide.py` and `notices.py` are the pure rules; `internal.py`, `zendesk.py`, `gorgias.py`
and `message.py` are one adapter per target; `retry.py` is the bounded backoff every
helpdesk call goes through; `store.py` with its Lua scripts keeps one outcome per
handoff id; `agent.py` wires the consumer loop to them.
"""
