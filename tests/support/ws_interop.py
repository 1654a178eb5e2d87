"""A WebSocket client that is not ours: the Python `websockets` library (Debian
python3-websockets 10.4) subscribes to hosod's push channel in JSON text frames,
reads the replay, says READY, then reports the next live event.

usage: ws_interop.py PORT TOKEN
Prints SUBSCRIBED <head> <recovered>, READY, EVENT <type> <seq> <event> <status>;
exits 0, 1 on a failure, 77 when the library is missing.
"""
import asyncio
import json
import sys

try:
    import websockets
except ImportError:
    print("SKIP python3-websockets is not installed", flush=True)
    sys.exit(77)


async def recv_json(ws, timeout=15):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def main(port, token):
    url = "ws://127.0.0.1:%d/v1/ws" % port
    async with websockets.connect(url, extra_headers={"Authorization": "Bearer " + token}) as ws:
        await ws.send(json.dumps({"type": "subscribe", "since": 0}))
        sub = await recv_json(ws)
        if sub.get("type") != "subscribed":
            raise SystemExit("expected subscribed, got %r" % sub)
        print("SUBSCRIBED", sub["head"], str(sub["recovered"]).lower(), flush=True)
        last = 0
        while last < sub["head"]:
            ev = await recv_json(ws)
            if ev.get("type") != "event" or ev.get("seq") != last + 1:
                raise SystemExit("replay out of order after %d: %r" % (last, ev))
            last = ev["seq"]
        print("READY", flush=True)
        ev = await recv_json(ws)
        status = (ev.get("dossier") or {}).get("status")
        print("EVENT", ev.get("type"), ev.get("seq"), ev.get("event"), status, flush=True)
        await ws.send(json.dumps({"type": "ack", "seq": ev.get("seq")}))
        await ws.send(json.dumps({"type": "ping"}))
        pong = await recv_json(ws)
        print("PONG" if pong.get("type") == "pong" else "NOPONG", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
    except SystemExit:
        raise
    except Exception as e:  # anything else is a failed interop check
        print("ERROR", type(e).__name__, e, flush=True)
        sys.exit(1)
