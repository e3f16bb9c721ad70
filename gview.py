import asyncio, json, time, os
from aiokafka import AIOKafkaConsumer, TopicPartition
WID=os.environ.get("WID","v1")
async def main():
    c = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:19092", group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
    await c.start()
    parts = c.partitions_for_topic("accounts.config") or (await c._client.force_metadata_update() and c.partitions_for_topic("accounts.config"))
    tps = [TopicPartition("accounts.config", p) for p in sorted(parts)]
    c.assign(tps); await c.seek_to_beginning(*tps)
    view = {}; t0=time.time(); last=0
    while time.time()-t0 < 14:
        b = await c.getmany(timeout_ms=200)
        for tp, ms in b.items():
            for m in ms:
                if m.value is None: view.pop(m.key, None)
                else: view[m.key] = json.loads(m.value)
        if time.time()-last > 2:
            last=time.time(); vs={}
            for v in view.values(): vs[v["ver"]]=vs.get(v["ver"],0)+1
            print(f"[{WID}] t={time.time()-t0:.1f} len={len(view)} versions={vs}", flush=True)
    await c.stop()
asyncio.run(main())
