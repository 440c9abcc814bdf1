#!/usr/bin/env python3
"""Writes the golden conversations in this folder.

Tooling only (Python's `cryptography` for Ed25519): the vectors are committed and the Swift test suite replays them
against the real server (Tests/SyncTests/ProtocolVectorTests.swift). Run from this folder after changing the protocol
on purpose: `python3 generate.py`, then review the diff.
"""
import base64, hashlib, json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

def raw_public(key):
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

SEED = bytes(range(1, 33))                      # the kiosk's fixed private key (raw, 32 bytes)
KEY = Ed25519PrivateKey.from_private_bytes(SEED)
PUBLIC = base64.b64encode(raw_public(KEY)).decode()
SERVER_SEED = bytes(range(33, 65))              # the server's fixed identity key (raw, 32 bytes)
SERVER_KEY = Ed25519PrivateKey.from_private_bytes(SERVER_SEED)
SERVER_PUBLIC = base64.b64encode(raw_public(SERVER_KEY)).decode()
FINGERPRINT = hashlib.sha256(raw_public(SERVER_KEY)).hexdigest()
NONCE = base64.b64encode(bytes(32)).decode()    # the server's fixed challenge nonce for replay
KIOSK_NONCE = base64.b64encode(bytes([7] * 32)).decode()
SERVER = "hq"
KIOSK = "store-12/kiosk-a"
SECRET = "0123456789abcdef0123456789abcdef0123456789abcdef"
TOKEN = f"{SECRET}.{FINGERPRINT}"               # as `returns-server enroll` prints it
# The key the token's secret derives; the server stores its public half, the kiosk signs with it.
TOKEN_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"returnsync-token-v3\n{SECRET}".encode()).digest())

def b64sign(key, text):
    return base64.b64encode(key.sign(text.encode())).decode()

def sign(nonce, replica=KIOSK, server=SERVER, kiosk_nonce=KIOSK_NONCE):
    return b64sign(KEY, f"returnsync-auth-v3\n{nonce}\n{kiosk_nonce}\n{replica}\n{server}")

def server_proof(nonce=NONCE, kiosk_nonce=KIOSK_NONCE, replica=KIOSK, server=SERVER):
    return b64sign(SERVER_KEY, f"returnsync-server-v3\n{kiosk_nonce}\n{nonce}\n{server}\n{replica}")

def token_proof(nonce=NONCE, kiosk_nonce=KIOSK_NONCE, replica=KIOSK, server=SERVER, public=PUBLIC):
    return b64sign(TOKEN_KEY, f"returnsync-enroll-v3\n{nonce}\n{kiosk_nonce}\n{replica}\n{server}\n{public}")

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
HELLO = client({"type": "hello", "versions": [3], "replicaId": KIOSK, "storeId": "store-12", "kioskId": "kiosk-a",
                "nonce": KIOSK_NONCE})
CHALLENGE = server({"type": "challenge", "version": 3, "nonce": NONCE, "serverId": SERVER,
                    "serverKey": SERVER_PUBLIC, "serverSignature": server_proof()})
ENROLL = client({"type": "authenticate", "signature": sign(NONCE), "publicKey": PUBLIC, "tokenProof": token_proof()})
WELCOME = server({"type": "welcome", "replicaId": KIOSK, "storeId": "store-12"})
SETUP = {"nonce": NONCE, "serverKeySeed": base64.b64encode(SERVER_SEED).decode(),
         "enrollments": [{"token": TOKEN, "storeId": "store-12", "kioskId": "kiosk-a"}]}
RECORD = return_record("01a22800-0000-7000-8000-000000000001")

vectors = {
    "impostor-check.json": {
        "description": "Version 3: the server proves who it is before the kiosk sends anything that matters. Its "
                       "challenge carries its public key (the kiosk checks its SHA-256 against the fingerprint pinned "
                       "from the enrollment token) and its signature of the kiosk's nonce. The kiosk enrolls by "
                       "proving it holds the token (a signature by the key the token derives), never sending the "
                       "token itself.",
        "setup": SETUP,
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
                  client({"type": "bye"}), server({"type": "bye"}), {"from": "server", "close": True}],
    },
    "enrollment-proof-for-another-key.json": {
        "description": "A token proof made for one public key does not enroll another: an eavesdropper who saw a "
                       "kiosk's first authenticate cannot enroll a key of its own with it.",
        "setup": SETUP,
        "steps": [HELLO, CHALLENGE,
                  client({"type": "authenticate", "signature": sign(NONCE), "publicKey": PUBLIC,
                          "tokenProof": token_proof(public=base64.b64encode(bytes(32)).decode())}),
                  server(error("enrollment-refused")), {"from": "server", "close": True}],
    },
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
        "description": "A kiosk offering only versions the server does not speak — here 1 and 2, whose handshake "
                       "let an impostor pose as the server — is refused (the message says to upgrade) and disconnected.",
        "setup": SETUP,
        "steps": [client({"type": "hello", "versions": [1, 2], "replicaId": KIOSK, "storeId": "store-12", "kioskId": "kiosk-a"}),
                  server(error("unsupported-version")), {"from": "server", "close": True}],
    },
    "malformed-frame.json": {
        "description": "A line that is not JSON gets malformed-frame and the connection is closed.",
        "setup": SETUP,
        "steps": [{"from": "client", "raw": "hello, server?"}, server(error("malformed-frame")), {"from": "server", "close": True}],
    },
    "replayed-handshake.json": {
        "description": "An enrolled kiosk's authenticate frame captured on another connection (signed over another "
                       "server nonce) does not authenticate: the signature covers this connection's nonces.",
        "setup": {**SETUP, "enrolled": [{"token": TOKEN, "storeId": "store-12", "kioskId": "kiosk-a", "publicKey": PUBLIC}]},
        "steps": [HELLO, CHALLENGE,
                  client({"type": "authenticate", "signature": sign(base64.b64encode(b"another connection's nonce!!!!!!").decode())}),
                  server(error("authentication-failed")), {"from": "server", "close": True}],
    },
    "live-push-watch.json": {
        "description": "Live push (since version 2): after its sync the kiosk waits with watch. A watch "
                       "with nothing new is answered quiet when its time runs out; a request sent during a watch ends "
                       "it, and the watch's answer comes first, then the request's. (A change for the store would be "
                       "answered changed at once; that needs a second writer, so the test suite covers it.)",
        "setup": SETUP,
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
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
