#!/usr/bin/env python3
"""Writes the golden conversations in this folder.

Tooling only (Python's `cryptography` for Ed25519): the vectors are committed and the Swift test suite replays them
against the real server (Tests/SyncTests/ProtocolVectorTests.swift). Run from this folder after changing the protocol
on purpose: `python3 generate.py`, then review the diff.
"""
import base64, json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

SEED = bytes(range(1, 33))                      # the kiosk's fixed private key (raw, 32 bytes)
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
PUBLIC = base64.b64encode(KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
NONCE = base64.b64encode(bytes(32)).decode()    # the server's fixed challenge nonce for replay
SERVER = "hq"
KIOSK = "store-12/kiosk-a"
TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef"

def sign(nonce, replica=KIOSK, server=SERVER):
    payload = f"returnsync-auth-v1\n{nonce}\n{replica}\n{server}".encode()
    return base64.b64encode(KEY.sign(payload)).decode()

def return_record(record_id, store="store-12", kiosk="kiosk-a", extra_writer=None):
    writer = f"{store}/{kiosk}"
    writes = [[writer, 1, 1780000000000, 0]]
    clock = {writer: 1}
    fields = {
        "condition": [["unknown", 0]], "createdAt": [[1780000000000, 0]], "disposition": [["undecided", 0]],
        "gtin": [["04006381333931", 0]], "kioskId": [[kiosk, 0]], "orderId": [["ORD-1", 0]], "quantity": [[1, 0]],
        "reason": [["defective", 0]], "status": [["received", 0]], "storeId": [[store, 0]],
        "testResult": [["not-tested", 0]],
    }
    if extra_writer:
        writes.append([extra_writer, 1, 1780000000500, 0])
        writes.sort()
        clock[extra_writer] = 1
        index = [w[0] for w in writes].index(extra_writer)
        fields = {k: [[v[0][0], [w[0] for w in writes].index(writer)]] for k, v in fields.items()}
        fields["disposition"] = [["restock", index]]
    return {"type": "return", "id": record_id, "clock": clock, "writes": writes, "fields": fields}

def client(frame): return {"from": "client", "frame": frame}
def server(frame): return {"from": "server", "frame": frame}
def error(code, retryable=False): return {"type": "error", "code": code, "message": "(any)", "retryable": retryable}
HELLO = client({"type": "hello", "versions": [1], "replicaId": KIOSK, "storeId": "store-12", "kioskId": "kiosk-a"})
CHALLENGE = server({"type": "challenge", "version": 1, "nonce": NONCE, "serverId": SERVER})
ENROLL = client({"type": "authenticate", "signature": sign(NONCE), "publicKey": PUBLIC, "token": TOKEN})
WELCOME = server({"type": "welcome", "replicaId": KIOSK, "storeId": "store-12"})
SETUP = {"nonce": NONCE, "enrollments": [{"token": TOKEN, "storeId": "store-12", "kioskId": "kiosk-a"}]}
RECORD = return_record("01a22800-0000-7000-8000-000000000001")

vectors = {
    "enroll-push-pull.json": {
        "description": "First sync of a kiosk: enrollment with its token and public key, one return pushed and "
                       "acknowledged after commit, the store's change feed pulled (without the kiosk's own push, which it holds; "
                       "the cursor still moves past it), then bye.",
        "setup": SETUP,
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
                  client({"type": "push", "batch": 1, "records": [RECORD]}),
                  server({"type": "push-ack", "batch": 1, "merged": 1, "unchanged": 0, "conflicts": []}),
                  client({"type": "push", "batch": 2, "records": [RECORD]}),
                  server({"type": "push-ack", "batch": 2, "merged": 0, "unchanged": 1, "conflicts": []}),
                  client({"type": "pull", "cursor": "0", "limit": 500}),
                  server({"type": "pull-batch", "records": [], "cursor": "1", "more": False}),
                  client({"type": "pull", "cursor": "1", "limit": 500}),
                  server({"type": "pull-batch", "records": [], "cursor": "1", "more": False}),
                  client({"type": "bye"}), server({"type": "bye"}), {"from": "server", "close": True}],
    },
    "unsupported-version.json": {
        "description": "A kiosk offering only versions the server does not speak is refused and disconnected.",
        "setup": SETUP,
        "steps": [client({"type": "hello", "versions": [99], "replicaId": KIOSK, "storeId": "store-12", "kioskId": "kiosk-a"}),
                  server(error("unsupported-version")), {"from": "server", "close": True}],
    },
    "malformed-frame.json": {
        "description": "A line that is not JSON gets malformed-frame and the connection is closed.",
        "setup": SETUP,
        "steps": [{"from": "client", "raw": "hello, server?"}, server(error("malformed-frame")), {"from": "server", "close": True}],
    },
    "replayed-handshake.json": {
        "description": "An enrolled kiosk's authenticate frame captured on another connection (signed over another "
                       "nonce) does not authenticate: the signature covers this connection's nonce.",
        "setup": {**SETUP, "enrolled": [{"token": TOKEN, "storeId": "store-12", "kioskId": "kiosk-a", "publicKey": PUBLIC}]},
        "steps": [HELLO, CHALLENGE,
                  client({"type": "authenticate", "signature": sign(base64.b64encode(b"another connection's nonce!!!!!!").decode())}),
                  server(error("authentication-failed")), {"from": "server", "close": True}],
    },
    "live-push-watch.json": {
        "description": "Version 2: a kiosk offering versions 1 and 2 gets 2; after its sync it waits with watch. A watch "
                       "with nothing new is answered quiet when its time runs out; a request sent during a watch ends "
                       "it, and the watch's answer comes first, then the request's. (A change for the store would be "
                       "answered changed at once; that needs a second writer, so the test suite covers it.)",
        "setup": SETUP,
        "steps": [client({"type": "hello", "versions": [1, 2], "replicaId": KIOSK, "storeId": "store-12", "kioskId": "kiosk-a"}),
                  server({"type": "challenge", "version": 2, "nonce": NONCE, "serverId": SERVER}),
                  ENROLL, WELCOME,
                  client({"type": "push", "batch": 1, "records": [RECORD]}),
                  server({"type": "push-ack", "batch": 1, "merged": 1, "unchanged": 0, "conflicts": []}),
                  client({"type": "pull", "cursor": "0", "limit": 500, "estimate": True}),
                  server({"type": "pull-batch", "records": [], "cursor": "1", "more": False, "estimate": 1}),
                  client({"type": "watch", "cursor": "1", "seconds": 1}),
                  server({"type": "quiet"}),
                  client({"type": "watch", "cursor": "1", "seconds": 50}),
                  client({"type": "pull", "cursor": "1", "limit": 500}),
                  server({"type": "quiet"}),
                  server({"type": "pull-batch", "records": [], "cursor": "1", "more": False}),
                  client({"type": "watch", "cursor": "1", "seconds": 50}),
                  client({"type": "bye"}),
                  server({"type": "quiet"}), server({"type": "bye"}), {"from": "server", "close": True}],
    },
    "forged-clock-and-wrong-store.json": {
        "description": "A push claiming a write by HQ the server never made is refused as forged; a push of another "
                       "store's return is refused as forbidden; a record referring to a write it does not list is "
                       "invalid. None closes the connection or stores anything.",
        "setup": SETUP,
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
                  client({"type": "push", "batch": 1, "records": [return_record("01a22800-0000-7000-8000-000000000002", extra_writer="hq")]}),
                  server(error("forged-clock")),
                  client({"type": "push", "batch": 2, "records": [return_record("01a22800-0000-7000-8000-000000000003", store="store-99", kiosk="kiosk-z")]}),
                  server(error("forbidden-store")),
                  client({"type": "push", "batch": 3, "records": [{**RECORD, "fields": {"status": [["received", 5]]}}]}),
                  server(error("invalid-record")),
                  client({"type": "pull", "cursor": "0", "limit": 500}),
                  server({"type": "pull-batch", "records": [], "cursor": "0", "more": False}),
                  client({"type": "bye"}), server({"type": "bye"}), {"from": "server", "close": True}],
    },
}

for name, vector in vectors.items():
    with open(name, "w") as f:
        json.dump(vector, f, indent=2, sort_keys=True)
        f.write("\n")
    print("wrote", name)
