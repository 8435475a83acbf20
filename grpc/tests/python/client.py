"""A custos.v1 client nobody here wrote the transport of: Python grpcio, with stubs generated
from grpc/proto by grpc_tools.protoc into a temporary directory at start.

Logs in with password + TOTP (computed here, RFC 6238) over mutual TLS, searches, checks that a
search without a reason, a replayed TOTP code and a plaintext connection are refused with the
right status codes, and optionally waits for one alert on StreamAlerts. Prints progress lines and
a final JSON line; exits non-zero on any failure.

usage: client.py --proto DIR --port N --ca CA --cert CERT --key KEY --user NAME
                 --password-file F --totp-secret BASE32 [--alerts]
"""

import argparse
import atexit
import base64
import hashlib
import hmac
import json
import os
import shutil
import struct
import sys
import tempfile
import time


def totp(secret_b32, at=None):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = digest[19] & 0x0F
    value = (struct.unpack(">I", digest[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def generate_stubs(proto_dir):
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="custos-stubs-")
    # Removed when the client exits, so repeated test runs do not pile stubs up in /tmp.
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    files = sorted(
        os.path.join("custos", "v1", f)
        for f in os.listdir(os.path.join(proto_dir, "custos", "v1"))
        if f.endswith(".proto")
    )
    rc = protoc.main(
        ["grpc_tools.protoc", f"-I{proto_dir}", f"--python_out={out}", f"--grpc_python_out={out}"]
        + files
    )
    if rc != 0:
        sys.exit(f"protoc failed ({rc})")
    sys.path.insert(0, out)
    return out


def connection_args(ap):
    """The connection and login arguments every client script here takes."""
    for a in ("--proto", "--ca", "--cert", "--key", "--user", "--password-file", "--totp-secret"):
        ap.add_argument(a, required=True)
    ap.add_argument("--port", type=int, required=True)


def secure_channel(args):
    """Mutual TLS to 127.0.0.1:PORT with the client certificate (the server's is for localhost)."""
    import grpc

    read = lambda p: open(p, "rb").read()
    creds = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca),
        private_key=read(args.key),
        certificate_chain=read(args.cert),
    )
    return grpc.secure_channel(
        f"127.0.0.1:{args.port}", creds, options=[("grpc.ssl_target_name_override", "localhost")]
    )


def password(args):
    return open(args.password_file).readline().rstrip("\n")


def login(args, channel):
    """Password + TOTP login; the LoginResponse and the metadata that carries its session."""
    from custos.v1 import auth_pb2, auth_pb2_grpc

    resp = auth_pb2_grpc.AuthStub(channel).Login(
        auth_pb2.LoginRequest(username=args.user, password=password(args), totp_code=totp(args.totp_secret)),
        timeout=30,
    )
    return resp, [("authorization", f"Bearer {resp.session_token}")]


def expect_code(fn, code, what):
    import grpc

    try:
        fn()
    except grpc.RpcError as e:
        if e.code() != code:
            sys.exit(f"{what}: expected {code}, got {e.code()} {e.details()}")
        print(f"{what}: {code.name} ({e.details()})", flush=True)
        return
    sys.exit(f"{what}: expected {code}, got OK")


def main():
    ap = argparse.ArgumentParser()
    connection_args(ap)
    ap.add_argument("--alerts", action="store_true")
    args = ap.parse_args()

    generate_stubs(args.proto)
    import grpc
    from custos.v1 import auth_pb2, auth_pb2_grpc, common_pb2, hotlists_pb2, hotlists_pb2_grpc
    from custos.v1 import reads_pb2, reads_pb2_grpc

    target = f"127.0.0.1:{args.port}"
    channel = secure_channel(args)
    auth = auth_pb2_grpc.AuthStub(channel)
    code = totp(args.totp_secret)
    login_request = auth_pb2.LoginRequest(username=args.user, password=password(args), totp_code=code)
    resp = auth.Login(login_request, timeout=30)
    print(f"login: role {resp.role}, agency {resp.agency}", flush=True)
    md = [("authorization", f"Bearer {resp.session_token}")]

    expect_code(
        lambda: auth.Login(login_request, timeout=30), grpc.StatusCode.UNAUTHENTICATED, "replayed TOTP"
    )

    reads = reads_pb2_grpc.ReadsStub(channel)
    why = common_pb2.Justification(reason="stolen_vehicle")
    found = {}
    for name, query in [
        ("exact", reads_pb2.PlateQuery(exact="AB12CDE")),
        ("wildcard", reads_pb2.PlateQuery(wildcard="AB12*")),
        ("fuzzy", reads_pb2.PlateQuery(fuzzy=reads_pb2.Fuzzy(plate="AB12CDX", max_edits=1))),
    ]:
        r = reads.Search(
            reads_pb2.SearchRequest(query=query, justification=why), metadata=md, timeout=30
        )
        found[name] = len(r.reads)
        print(f"search {name}: {len(r.reads)} reads", flush=True)
    expect_code(
        lambda: reads.Search(
            reads_pb2.SearchRequest(query=reads_pb2.PlateQuery(exact="AB12CDE")),
            metadata=md,
            timeout=30,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "search without a reason",
    )
    expect_code(
        lambda: reads.Search(
            reads_pb2.SearchRequest(
                query=reads_pb2.PlateQuery(exact="AB12CDE"),
                justification=common_pb2.Justification(reason="immigration_enforcement"),
            ),
            metadata=md,
            timeout=30,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
        "search for a prohibited purpose",
    )

    plain = auth_pb2_grpc.AuthStub(grpc.insecure_channel(target))
    expect_code(
        lambda: plain.Login(login_request, timeout=30),
        grpc.StatusCode.UNAUTHENTICATED,
        "plaintext to the TLS port",
    )

    alert = None
    if args.alerts:
        stream = hotlists_pb2_grpc.HotlistsStub(channel).StreamAlerts(
            hotlists_pb2.StreamAlertsRequest(), metadata=md, timeout=60
        )
        print("streaming alerts", flush=True)
        msg = next(stream)
        alert = {"plate": msg.plate, "hotlist": msg.hotlist_name, "camera": msg.camera}
        print(f"alert: {alert}", flush=True)
        stream.cancel()

    print(json.dumps({"ok": True, "found": found, "alert": alert}), flush=True)


if __name__ == "__main__":
    main()
