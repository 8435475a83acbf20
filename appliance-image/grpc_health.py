#!/usr/bin/env python3
"""gRPC health check (grpc.health.v1.Health/Check) against the appliance, with grpcio only.

The request and response are encoded by hand (an empty HealthCheckRequest is zero bytes; a
SERVING response is field 1 = 1, bytes 08 01), so no generated stubs or grpcio-health-checking
package are needed. With --ca/--cert/--key it speaks TLS with a client certificate, as the
appliance requires; without them, plaintext (custos serve --insecure-dev on loopback).
Exit status 0 when the server answers SERVING.
"""
import argparse
import sys

import grpc

STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("target", help="host:port")
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--server-name", default="localhost",
                   help="name to check the server certificate against")
    p.add_argument("--timeout", type=float, default=5.0)
    a = p.parse_args()
    if a.ca:
        def read(path):
            with open(path, "rb") as f:
                return f.read()
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(a.ca),
            private_key=read(a.key) if a.key else None,
            certificate_chain=read(a.cert) if a.cert else None)
        channel = grpc.secure_channel(
            a.target, creds, options=[("grpc.ssl_target_name_override", a.server_name)])
    else:
        channel = grpc.insecure_channel(a.target)
    check = channel.unary_unary("/grpc.health.v1.Health/Check")
    try:
        raw = check(b"", timeout=a.timeout)
    except grpc.RpcError as e:
        print(f"grpc_health: {a.target}: {e.code().name}: {e.details()}", file=sys.stderr)
        return 1
    status = raw[1] if len(raw) == 2 and raw[0] == 0x08 else (0 if raw == b"" else -1)
    print(f"grpc_health: {a.target}: {STATUS.get(status, repr(raw))}")
    return 0 if status == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
