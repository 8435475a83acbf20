"""The control room's side of tests/e2e.rs: a Python grpcio client (stubs generated from
grpc/proto at start, helpers shared with grpc/tests/python/client.py) that logs in with password
+ TOTP over mutual TLS, puts plates on a hotlist, follows Reads.StreamLive and
Hotlists.StreamAlerts, and when the first alert arrives searches for its plate (with a stated
reason) to find the stored read. Prints progress lines and a final JSON line; exits non-zero on
any failure.

usage: e2e_client.py --proto DIR --port N --ca CA --cert CERT --key KEY --user NAME
                     --password-file F --totp-secret BASE32 --plates P1,P2 [--timeout S]
"""

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "grpc", "tests", "python")
)
from client import connection_args, generate_stubs, login, secure_channel  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    connection_args(ap)
    ap.add_argument("--plates", required=True)
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args()

    generate_stubs(args.proto)
    import grpc
    from custos.v1 import common_pb2, hotlists_pb2, hotlists_pb2_grpc
    from custos.v1 import reads_pb2, reads_pb2_grpc

    channel = secure_channel(args)
    resp, md = login(args, channel)
    print(f"login: role {resp.role}, agency {resp.agency}", flush=True)

    hotlists = hotlists_pb2_grpc.HotlistsStub(channel)
    lst = hotlists.CreateHotlist(
        hotlists_pb2.CreateHotlistRequest(name="stolen", description="e2e test"),
        metadata=md,
        timeout=30,
    )
    plates = [p for p in args.plates.split(",") if p]
    for p in plates:
        hotlists.AddEntry(
            hotlists_pb2.AddEntryRequest(hotlist_id=lst.id, plate=p, note="e2e"),
            metadata=md,
            timeout=30,
        )
    print(f"hotlist {lst.id}: {len(plates)} entries", flush=True)

    reads = reads_pb2_grpc.ReadsStub(channel)
    live = {}
    live_lock = threading.Lock()
    live_stream = reads.StreamLive(reads_pb2.StreamLiveRequest(), metadata=md)

    def follow_live():
        try:
            for msg in live_stream:
                with live_lock:
                    live[msg.read.id] = (time.time(), msg.read.plate)
        except grpc.RpcError:
            pass  # cancelled at the end

    threading.Thread(target=follow_live, daemon=True).start()

    alerts = hotlists.StreamAlerts(
        hotlists_pb2.StreamAlertsRequest(), metadata=md, timeout=args.timeout
    )
    print("streaming alerts", flush=True)
    try:
        msg = next(alerts)
    except grpc.RpcError as e:
        sys.exit(f"no alert: {e.code()} {e.details()}; {len(live)} live reads seen")
    arrived = time.time()
    alert = {
        "read_id": msg.read_id,
        "plate": msg.plate,
        "hotlist": msg.hotlist_name,
        "camera": msg.camera,
        "captured_at_ms": msg.captured_at_ms,
        "match_kind": msg.match_kind,
        "retroactive": msg.retroactive,
        # From the frame of the stored crop to the alert here: includes the rest of the
        # vehicle's time in view and the tracker's hold, not only the pipeline.
        "capture_to_alert_ms": int(arrived * 1000) - msg.captured_at_ms,
    }
    print(f"alert: {alert}", flush=True)
    alerts.cancel()

    # The read behind the alert is stored: a search (with a reason, audited) finds it.
    why = common_pb2.Justification(reason="stolen_vehicle", case_number="E2E-1")
    r = reads.Search(
        reads_pb2.SearchRequest(query=reads_pb2.PlateQuery(exact=msg.plate), justification=why),
        metadata=md,
        timeout=30,
    )
    ids = [x.id for x in r.reads]
    print(f"search exact: {len(ids)} reads", flush=True)
    if msg.read_id not in ids:
        sys.exit(f"the alert's read {msg.read_id} is not found by a search for its plate: {ids}")
    r = reads.Search(
        reads_pb2.SearchRequest(query=reads_pb2.PlateQuery(wildcard="*"), justification=why),
        metadata=md,
        timeout=30,
    )
    print(f"search all: {len(r.reads)} reads", flush=True)

    # A plate already read goes on the hotlist: the retroactive search over the retained reads
    # finds it and alerts.
    retro = None
    earlier = [x for x in r.reads if x.plate not in plates and len(x.plate) >= 4]
    if earlier:
        target = earlier[0].plate
        target_ids = {x.id for x in r.reads if x.plate == target}
        stream = hotlists.StreamAlerts(
            hotlists_pb2.StreamAlertsRequest(), metadata=md, timeout=60
        )
        time.sleep(0.5)
        hotlists.AddEntry(
            hotlists_pb2.AddEntryRequest(hotlist_id=lst.id, plate=target, note="seen before"),
            metadata=md,
            timeout=30,
        )
        try:
            for m in stream:
                if m.read_id in target_ids:
                    retro = {
                        "plate": m.plate,
                        "read_id": m.read_id,
                        "captured_at_ms": m.captured_at_ms,
                        "match_kind": m.match_kind,
                        "retroactive": m.retroactive,
                    }
                    break
        except grpc.RpcError as e:
            sys.exit(f"no retroactive alert for a stored plate: {e.code()} {e.details()}")
        stream.cancel()
        print(f"retroactive alert: {retro}", flush=True)
    time.sleep(1.0)
    live_stream.cancel()
    with live_lock:
        live_reads = len(live)
        alert["live_read_seen"] = msg.read_id in live
    print(
        json.dumps(
            {
                "ok": True,
                "alert": alert,
                "found_all": len(r.reads),
                "live_reads": live_reads,
                "retro": retro,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
