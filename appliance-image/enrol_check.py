#!/usr/bin/env python3
"""The first admin's enrolment on a booted appliance, as the person at its console does it, with
grpcio (stubs generated from grpc/proto at start, helpers of grpc/tests/python/client.py):

1. log in with the one-time enrolment code and the TOTP secret shown on the console, over
   mutual TLS with the admin's client certificate: the session must say must_change_password;
2. any other call (Admin.ListPrincipals) is refused with FAILED_PRECONDITION;
3. Auth.ChangePassword replaces the code;
4. the new password logs in (next TOTP step) without must_change_password, and
   Admin.ListPrincipals lists the admin.

usage: enrol_check.py HOST:PORT --proto DIR --ca CA --cert CERT --key KEY --user NAME
                      --code CODE --totp-secret BASE32
Exit status 0 when every step holds; otherwise a line naming the step that failed.
"""
import argparse
import os
import secrets
import sys
import time

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "grpc", "tests", "python")
)
from client import generate_stubs, totp  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    for a in ("--proto", "--ca", "--cert", "--key", "--user", "--code", "--totp-secret"):
        ap.add_argument(a, required=True)
    args = ap.parse_args()
    generate_stubs(args.proto)
    import grpc
    from custos.v1 import admin_pb2_grpc, auth_pb2, auth_pb2_grpc, common_pb2

    read = lambda p: open(p, "rb").read()
    creds = grpc.ssl_channel_credentials(read(args.ca), read(args.key), read(args.cert))
    channel = grpc.secure_channel(
        args.target, creds, options=[("grpc.ssl_target_name_override", "localhost")])
    auth = auth_pb2_grpc.AuthStub(channel)
    admin = admin_pb2_grpc.AdminStub(channel)

    def fail(step, why):
        print(f"enrol_check: {step}: {why}", file=sys.stderr)
        return 1

    now = time.time()
    try:
        first = auth.Login(auth_pb2.LoginRequest(
            username=args.user, password=args.code, totp_code=totp(args.totp_secret, now)), timeout=30)
    except grpc.RpcError as e:
        return fail("login with the enrolment code", f"{e.code().name}: {e.details()}")
    if not first.must_change_password:
        return fail("login with the enrolment code", "the session does not say must_change_password")
    md = [("authorization", f"Bearer {first.session_token}")]
    print(f"enrol_check: logged in with the enrolment code: role {first.role}, must change password")

    try:
        admin.ListPrincipals(common_pb2.Empty(), metadata=md, timeout=30)
        return fail("a call before ChangePassword", "was allowed")
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.FAILED_PRECONDITION:
            return fail("a call before ChangePassword", f"{e.code().name}: {e.details()}")
        print(f"enrol_check: ListPrincipals before ChangePassword: FAILED_PRECONDITION ({e.details()})")

    new_password = secrets.token_urlsafe(18)
    try:
        auth.ChangePassword(auth_pb2.ChangePasswordRequest(
            current_password=args.code, new_password=new_password), metadata=md, timeout=30)
    except grpc.RpcError as e:
        return fail("ChangePassword", f"{e.code().name}: {e.details()}")
    print("enrol_check: enrolment code replaced")

    # Each TOTP code is accepted once: the next step's (within the ±1 step window).
    try:
        second = auth.Login(auth_pb2.LoginRequest(
            username=args.user, password=new_password, totp_code=totp(args.totp_secret, now + 30)),
            timeout=30)
    except grpc.RpcError as e:
        return fail("login with the new password", f"{e.code().name}: {e.details()}")
    if second.must_change_password:
        return fail("login with the new password", "still must_change_password")
    md = [("authorization", f"Bearer {second.session_token}")]
    try:
        listed = admin.ListPrincipals(common_pb2.Empty(), metadata=md, timeout=30)
    except grpc.RpcError as e:
        return fail("ListPrincipals after enrolment", f"{e.code().name}: {e.details()}")
    names = [p.name for p in listed.principals]
    if args.user not in names:
        return fail("ListPrincipals after enrolment", f"{args.user} not among {names}")
    print(f"enrol_check: new password logs in; ListPrincipals: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
