#!/usr/bin/env python3
"""The smallest node that passes `baton test`: a fixed primary, replicas that copy it.

    baton test --bin "python3 examples/nodes/minimal.py" --nodes 3 --seed 1

It never fails over (every promotion request is rejected), so it is safe and,
while its primary is down, unavailable for writes. docs/harness.md explains
it; examples/nodes/flawed.js is one that does fail over (with two flaws).
"""

import json
import os
import sys

state = {"role": "Replica", "epoch": 1, "wal": []}  # what survives a crash
me, peers, path, writable, next_id = "", [], "", False, 0


def send(dest, body):
    global next_id
    next_id += 1
    print(json.dumps({"src": me, "dest": dest, "body": {"msg_id": next_id, **body}}), flush=True)


def persist():  # atomically: temp file, fsync, rename, fsync the directory
    with open(path + ".tmp", "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)
    fd = os.open(os.path.dirname(path), os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def answer(msg, kind, **fields):  # a reply names the request it answers
    send(msg["src"], {"type": kind, "in_reply_to": msg["body"].get("msg_id"), **fields})


for line in sys.stdin:
    msg = json.loads(line)
    body, kind = msg["body"], msg["body"]["type"]

    if kind == "init":
        me, path = body["node_id"], os.path.join(body["data_dir"], "state.json")
        peers = [n for n in body["node_ids"] if n != me]
        if os.path.exists(path):
            with open(path) as f:
                state = json.load(f)
        else:
            state["role"] = "Primary" if me == body["initial_primary"] else "Replica"
            persist()
        writable = state["role"] == "Primary"
        answer(msg, "init_ok", protocol=1)
    elif kind == "tick":
        for peer in peers if writable else []:
            send(peer, {"type": "copy", "wal": state["wal"]})
        answer(msg, "tick_ok")
    elif kind == "copy" and len(body["wal"]) > len(state["wal"]):
        state["wal"] = body["wal"]
        persist()
    elif kind == "write" and writable:
        state["wal"].append([state["epoch"], len(state["wal"]) + 1])
        persist()  # durable before it is acknowledged
        epoch, lsn = state["wal"][-1]
        answer(msg, "write_ok", epoch=epoch, lsn=lsn)
    elif kind == "write":
        answer(msg, "error", code="not_primary", text=f"{me} does not admit writes")
    elif kind == "read":
        answer(msg, "read_ok", entries=state["wal"], epoch=state["epoch"], writable=writable)
    elif kind == "status":
        role, epoch, wal_end = state["role"], state["epoch"], len(state["wal"])
        answer(
            msg,
            "status_ok",
            role=role,
            epoch=epoch,
            writable=writable,
            wal_end=wal_end,
            lifecycle="Steady",
        )
    elif kind == "promote":
        answer(
            msg,
            "promote_ok",
            attempt=body["attempt"],
            outcome="rejected",
            reason="never fails over",
        )
