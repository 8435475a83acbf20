"""An administrator's side of the camera test in tests/grpc_serve.rs: a Python grpcio client
(stubs generated from grpc/proto at start, helpers shared with grpc/tests/python/client.py) that
logs in with password + TOTP over mutual TLS; checks that a camera of the appliance's config file
is reported and cannot be changed over the API; registers a camera with Cameras.AddCamera, waits
until Cameras.CameraStatus says it streams, holds it for a while, removes it. Prints progress
lines ("streaming" when the registered camera streams) and a final JSON line; exits non-zero on
any failure.

usage: cameras_client.py --proto DIR --port N --ca CA --cert CERT --key KEY --user NAME
                         --password-file F --totp-secret BASE32 --camera ID --url URL
                         --configured ID [--hold S]
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "grpc", "tests", "python")
)
from client import connection_args, generate_stubs, login, secure_channel  # noqa: E402


def wait_for(status, cam_id, md, want_streaming, timeout):
    from custos.v1 import cameras_pb2

    deadline = time.time() + timeout
    while True:
        s = status(cameras_pb2.CameraId(id=cam_id), metadata=md, timeout=10)
        if (s.state == "streaming") == want_streaming:
            return s
        if time.time() > deadline:
            sys.exit(f"camera {cam_id}: still {s.state!r} ({s.detail}) after {timeout} s")
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser()
    connection_args(ap)
    ap.add_argument("--camera", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--configured", required=True)
    ap.add_argument("--hold", type=float, default=10.0)
    args = ap.parse_args()

    generate_stubs(args.proto)
    import grpc
    from custos.v1 import cameras_pb2, cameras_pb2_grpc, common_pb2

    channel = secure_channel(args)
    _, md = login(args, channel)
    cameras = cameras_pb2_grpc.CamerasStub(channel)

    # The config file's camera: reported, but changed only in the file.
    configured = wait_for(cameras.CameraStatus, args.configured, md, True, 60)
    try:
        cameras.UpdateCamera(
            cameras_pb2.Camera(id=args.configured, url="rtsp://10.0.0.1/x", enabled=False),
            metadata=md,
            timeout=30,
        )
        sys.exit("UpdateCamera changed a camera of the config file")
    except grpc.RpcError as e:
        configured_refused = e.code().name

    cameras.AddCamera(
        cameras_pb2.Camera(id=args.camera, name="registered over gRPC", url=args.url, enabled=True),
        metadata=md,
        timeout=30,
    )
    listed = [c.id for c in cameras.ListCameras(common_pb2.Empty(), metadata=md, timeout=30).cameras]
    added_at = time.time()
    s = wait_for(cameras.CameraStatus, args.camera, md, True, 60)
    streaming_after = time.time() - added_at
    print(f"streaming: {s.detail}", flush=True)
    time.sleep(args.hold)

    cameras.RemoveCamera(cameras_pb2.CameraId(id=args.camera), metadata=md, timeout=30)
    try:
        cameras.CameraStatus(cameras_pb2.CameraId(id=args.camera), metadata=md, timeout=10)
        after_removal = "FOUND"
    except grpc.RpcError as e:
        after_removal = e.code().name
    print(
        json.dumps(
            {
                "ok": True,
                "listed": listed,
                "configured_state": configured.state,
                "configured_refused": configured_refused,
                "streaming_after_s": round(streaming_after, 1),
                "state_after_removal": after_removal,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
