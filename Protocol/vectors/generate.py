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
# A kiosk of 0.5.0 and after asks for the optional features it can use (0.6.0: history-compaction too); the server
# grants those it has (SPEC §4.5).
HELLO = client({"type": "hello", "versions": [3], "replicaId": KIOSK, "storeId": "store-12", "kioskId": "kiosk-a",
                "nonce": KIOSK_NONCE, "capabilities": ["fetch", "history-compaction"]})
CHALLENGE = server({"type": "challenge", "version": 3, "nonce": NONCE, "serverId": SERVER,
                    "serverKey": SERVER_PUBLIC, "serverSignature": server_proof()})
ENROLL = client({"type": "authenticate", "signature": sign(NONCE), "publicKey": PUBLIC, "tokenProof": token_proof()})
# serverTime is the server's clock when it answers: the replay takes any integer there (ProtocolVectorTests).
WELCOME = server({"type": "welcome", "replicaId": KIOSK, "storeId": "store-12", "serverTime": 1764806400000,
                  "capabilities": ["fetch", "history-compaction"]})
SETUP = {"nonce": NONCE, "serverKeySeed": base64.b64encode(SERVER_SEED).decode(),
         "enrollments": [{"token": TOKEN, "storeId": "store-12", "kioskId": "kiosk-a"}]}
RECORD = return_record("01a22800-0000-7000-8000-000000000001")

OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(65, 97)))   # another device claiming the kiosk's id
OTHER_PUBLIC = base64.b64encode(raw_public(OTHER_KEY)).decode()
KIOSK_B_PUBLIC = base64.b64encode(raw_public(Ed25519PrivateKey.from_private_bytes(bytes(range(97, 129))))).decode()

def enrolled(public=PUBLIC, kiosk="kiosk-a"):
    return {"token": TOKEN, "storeId": "store-12", "kioskId": kiosk, "publicKey": public}

def with_fields(record, **changes):
    """`record` with registers replaced (a value) or added, each written by the record's first write."""
    fields = dict(record["fields"])
    for name, value in changes.items():
        fields[name] = [[value, 0]]
    return {**record, "fields": fields}

A, B = "store-12/kiosk-a", "store-12/kiosk-b"
# SPEC §6's example, replayed: kiosk-a captures (a1); kiosk-b inspects it as damaged (b1) while kiosk-a, offline,
# inspects it as used (a2): both write status `inspected` (two writes, one value: no conflict) and the condition
# (a conflict). kiosk-a sees both and settles the condition as defective (a3: a history entry), then routes the
# item to recycle (a4), while kiosk-b, which saw a2 but not a3, routes it to repair (b2): a disposition conflict,
# shown as recycle (safety first) until someone edits it.
HISTORY_RECORD = {
    "type": "return",
    "id": "01a22800-0000-7000-8000-000000000006",
    "clock": {A: 4, B: 2},
    "writes": [[A, 1, 1780000000000, 0], [A, 2, 1780000060000, 0], [A, 3, 1780000120000, 0],
               [A, 4, 1780000180000, 0], [B, 1, 1780000030000, 0], [B, 2, 1780000150000, 0]],
    "fields": {
        "createdAt": [[1780000000000, 0]], "storeId": [["store-12", 0]], "kioskId": [["kiosk-a", 0]],
        "orderId": [["ORD-88123", 0]], "gtin": [["04006381333931", 0]], "quantity": [[1, 0]],
        "reason": [["defective", 0]],
        "status": [["inspected", 1], ["inspected", 4]],
        "condition": [["defective", 2]],
        "testResult": [["fail", 2]],
        "disposition": [["recycle", 3], ["repair", 5]],
    },
    "sets": {"notes": [["motor stalls", 0], ["box dented", 4]]},
    "history": [{"field": "condition", "replaced": [["used", 1], ["damaged", 4]], "resolution": ["defective", 2]}],
}

# The same return after kiosk-a, once HQ held it, dropped its settled history (SPEC §6, *Compacting history*) and then
# noted it (a5): a version that has seen everything HQ holds, without the history entry. HQ takes it and keeps its
# entry; the feed leaves the record out of kiosk-a's pull (it holds every write of it), and sends it to the store's
# other kiosks with the entry.
def _shift(entry):
    return [entry[0], entry[1] if entry[1] < 4 else entry[1] + 1]
COMPACTED_RECORD = {
    "type": "return",
    "id": HISTORY_RECORD["id"],
    "clock": {A: 5, B: 2},
    "writes": HISTORY_RECORD["writes"][:4] + [[A, 5, 1780000240000, 0]] + HISTORY_RECORD["writes"][4:],
    "fields": {name: [_shift(v) for v in values] for name, values in HISTORY_RECORD["fields"].items()},
    "sets": {"notes": [_shift(v) for v in HISTORY_RECORD["sets"]["notes"]] + [["checked again", 4]]},
}
# Version 4: a photo's bytes after its return (SPEC §5.5).
HELLO4 = client({**HELLO["frame"], "versions": [3, 4]})
CHALLENGE4 = server({**CHALLENGE["frame"], "version": 4})
PHOTO = b"\xff\xd8\xff\xdb" + b"returnsync" * 3            # 34 bytes that begin as a JPEG
PHOTO_DIGEST = hashlib.sha256(PHOTO).hexdigest()
PAGE = b"<html><script>alert(1)</script></html>"           # an HTML page its return calls a PNG
PAGE_DIGEST = hashlib.sha256(PAGE).hexdigest()
CLAIMED = b"\xff\xd8\xff\xe0claimed"                      # the bytes a return names ...
SENT = b"\xff\xd8\xff\xe0forged!"                         # ... and other bytes of that size
CLAIMED_DIGEST = hashlib.sha256(CLAIMED).hexdigest()
def b64(data): return base64.b64encode(data).decode()
PHOTO_RECORD = {**return_record("01a22800-0000-7000-8000-000000000010"), "sets": {"attachments": [
    [f"{PHOTO_DIGEST} image/jpeg {len(PHOTO)} dent on the lid", 0],
    [f"{PAGE_DIGEST} image/png {len(PAGE)}", 0],
    [f"{CLAIMED_DIGEST} image/jpeg {len(CLAIMED)}", 0],
]}}
def ack(digest, size, held, complete=False):
    return server({"type": "attachment-ack", "digest": digest, "size": size, "held": held, "complete": complete})

vectors = {
    "attachment-upload-and-fetch.json": {
        "description": "Version 4: a kiosk pushes a return naming three attachments, then sends their bytes. The "
                       "photo goes in two chunks (a chunk out of order is refused, a chunk sent again after the last "
                       "is answered with the complete state) and is read back; an HTML page its return calls a PNG is "
                       "refused at its first chunk; bytes that do not hash to their digest are dropped; a digest no "
                       "return of the store names is unknown. None of these closes the connection.",
        "setup": SETUP,
        "steps": [HELLO4, CHALLENGE4, ENROLL, WELCOME,
                  client({"type": "push", "batch": 1, "records": [PHOTO_RECORD]}),
                  server({"type": "push-ack", "batch": 1, "merged": 1, "unchanged": 0, "conflicts": []}),
                  client({"type": "attachment-offer", "digest": PHOTO_DIGEST}),
                  ack(PHOTO_DIGEST, 34, 0),
                  client({"type": "attachment-put", "digest": PHOTO_DIGEST, "offset": 16, "data": b64(PHOTO[16:])}),
                  server(error("chunk-out-of-order", retryable=True)),
                  client({"type": "attachment-put", "digest": PHOTO_DIGEST, "offset": 0, "data": b64(PHOTO[:16])}),
                  ack(PHOTO_DIGEST, 34, 16),
                  client({"type": "attachment-put", "digest": PHOTO_DIGEST, "offset": 16, "data": b64(PHOTO[16:])}),
                  ack(PHOTO_DIGEST, 34, 34, True),
                  client({"type": "attachment-put", "digest": PHOTO_DIGEST, "offset": 16, "data": b64(PHOTO[16:])}),
                  ack(PHOTO_DIGEST, 34, 34, True),
                  client({"type": "attachment-get", "digest": PHOTO_DIGEST, "offset": 0}),
                  server({"type": "attachment-data", "digest": PHOTO_DIGEST, "offset": 0, "size": 34,
                          "data": b64(PHOTO)}),
                  client({"type": "attachment-get", "digest": PHOTO_DIGEST, "offset": 34}),
                  server(error("limit-exceeded")),
                  client({"type": "attachment-put", "digest": PAGE_DIGEST, "offset": 0, "data": b64(PAGE)}),
                  server(error("media-type-mismatch")),
                  client({"type": "attachment-get", "digest": PAGE_DIGEST, "offset": 0}),
                  server(error("attachment-unavailable", retryable=True)),
                  client({"type": "attachment-put", "digest": CLAIMED_DIGEST, "offset": 0, "data": b64(SENT)}),
                  server(error("digest-mismatch", retryable=True)),
                  client({"type": "attachment-offer", "digest": CLAIMED_DIGEST}),
                  ack(CLAIMED_DIGEST, len(CLAIMED), 0),
                  client({"type": "attachment-offer", "digest": "5e" * 32}),
                  server(error("unknown-attachment")),
                  client({"type": "bye"}), server({"type": "bye"}), {"from": "server", "close": True}],
    },
    "spec-example-conflict-and-history.json": {
        "description": "The record of SPEC §6, pushed by kiosk-a with kiosk-b's writes (kiosks of one store pass "
                       "returns to each other): concurrent values of one field are a conflict the push-ack reports; "
                       "two writes of one value are not; a settled conflict travels as history. The feed leaves the "
                       "record out of kiosk-a's pull, which holds it.",
        "setup": {**SETUP, "enrolled": [enrolled(KIOSK_B_PUBLIC, "kiosk-b")]},
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
                  client({"type": "push", "batch": 1, "records": [HISTORY_RECORD]}),
                  server({"type": "push-ack", "batch": 1, "merged": 1, "unchanged": 0,
                          "conflicts": [{"recordId": HISTORY_RECORD["id"], "field": "disposition"}]}),
                  client({"type": "pull", "cursor": "0", "limit": 500}),
                  server({"type": "pull-batch", "records": [], "cursor": "1", "more": False}),
                  client({"type": "bye"}), server({"type": "bye"}), {"from": "server", "close": True}],
    },
    "history-compaction.json": {
        "description": "Capability `history-compaction` (SPEC §4.5, §6 *Compacting history*): the return of SPEC §6, "
                       "then a version of it that has seen every write HQ holds but lacks the settled history entry "
                       "(a kiosk dropped it once HQ held it) and adds a note. HQ takes it — not a conflicting write — "
                       "and keeps its entry; the feed leaves the record out of this kiosk's pull, which holds every "
                       "write of it (the store's other kiosks get it, entry included).",
        "setup": {**SETUP, "enrolled": [enrolled(KIOSK_B_PUBLIC, "kiosk-b")]},
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
                  client({"type": "push", "batch": 1, "records": [HISTORY_RECORD]}),
                  server({"type": "push-ack", "batch": 1, "merged": 1, "unchanged": 0,
                          "conflicts": [{"recordId": HISTORY_RECORD["id"], "field": "disposition"}]}),
                  client({"type": "push", "batch": 2, "records": [COMPACTED_RECORD]}),
                  server({"type": "push-ack", "batch": 2, "merged": 1, "unchanged": 0, "conflicts": []}),
                  client({"type": "pull", "cursor": "0", "limit": 500}),
                  server({"type": "pull-batch", "records": [], "cursor": "2", "more": False}),
                  client({"type": "bye"}), server({"type": "bye"}), {"from": "server", "close": True}],
    },
    "record-contract.json": {
        "description": "What a pushed return must hold (SPEC §6): the 14-digit form of its GTIN, values spelled as "
                       "the field's vocabulary spells them — each refused as invalid-record, the connection left "
                       "open, nothing stored. A field the server does not know (a newer kiosk's) is kept and "
                       "forwarded, within bounds, and so is a value a newer release added to a known field's "
                       "vocabulary (spelled as one: lower-case words joined by hyphens). A cursor beyond the change log is answered with nothing and the same cursor; an "
                       "estimate counts what waits after the cursor, records the feed then leaves out included.",
        "setup": SETUP,
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
                  {**client({"type": "push", "batch": 1, "records": [with_fields(RECORD, gtin="4006381333931")]}),
                   "schemaInvalid": "an EAN-13 where records hold 14 digits"},
                  server(error("invalid-record")),
                  client({"type": "push", "batch": 2, "records": [
                      with_fields(return_record("01a22800-0000-7000-8000-000000000009"), loyaltyPoints=500)]}),
                  server({"type": "push-ack", "batch": 2, "merged": 1, "unchanged": 0, "conflicts": []}),
                  {**client({"type": "push", "batch": 3, "records": [with_fields(RECORD, **{"Loyalty points": 500})]}),
                   "schemaInvalid": "a field name no return could have"},
                  server(error("invalid-record")),
                  {**client({"type": "push", "batch": 4, "records": [with_fields(RECORD, reason="Lost in transit")]}),
                   "schemaInvalid": "a reason no vocabulary could hold"},
                  server(error("invalid-record")),
                  client({"type": "push", "batch": 5, "records": [
                      with_fields(return_record("01a22800-0000-7000-8000-00000000000a"), reason="gift-return")]}),
                  server({"type": "push-ack", "batch": 5, "merged": 1, "unchanged": 0, "conflicts": []}),
                  client({"type": "push", "batch": 6, "records": [RECORD]}),
                  server({"type": "push-ack", "batch": 6, "merged": 1, "unchanged": 0, "conflicts": []}),
                  client({"type": "pull", "cursor": "1000", "limit": 500}),
                  server({"type": "pull-batch", "records": [], "cursor": "1000", "more": False}),
                  client({"type": "pull", "cursor": "0", "limit": 500, "estimate": True}),
                  server({"type": "pull-batch", "records": [], "cursor": "3", "more": False, "estimate": 3}),
                  client({"type": "bye"}), server({"type": "bye"}), {"from": "server", "close": True}],
    },
    "fetch-by-id.json": {
        "description": "A kiosk that asked for the capability `fetch` in hello, and was granted it in welcome, asks "
                       "for its store's returns by id (ones it pruned, say): they come back whole in `fetched`; an id "
                       "the server holds no return of the kiosk's store for — unknown, or another store's — is "
                       "listed in `missing`, the same either way. No ids, or more than 100, is limit-exceeded; an id "
                       "that is not a lower-case UUID is malformed-frame (closed).",
        "setup": SETUP,
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
                  client({"type": "push", "batch": 1, "records": [RECORD]}),
                  server({"type": "push-ack", "batch": 1, "merged": 1, "unchanged": 0, "conflicts": []}),
                  client({"type": "fetch", "ids": [RECORD["id"], "01a22800-0000-7000-8000-0000000000ff"]}),
                  server({"type": "fetched", "records": [RECORD], "missing": ["01a22800-0000-7000-8000-0000000000ff"]}),
                  {**client({"type": "fetch", "ids": []}), "schemaInvalid": "a fetch of no ids"},
                  server(error("limit-exceeded")),
                  {**client({"type": "fetch", "ids": [RECORD["id"].upper()]}), "schemaInvalid": "an id in capitals"},
                  server(error("malformed-frame")), {"from": "server", "close": True}],
    },
    "pipelined-requests.json": {
        "description": "Requests may be sent before earlier ones are answered: two pushes and a pull go out at once, "
                       "and the answers come back one each, in the order of the requests; the pull sees what the "
                       "pushes merged (here: the kiosk's own records, which the feed leaves out, moving the cursor "
                       "past them). A refused push in between is answered in its place.",
        "setup": SETUP,
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
                  client({"type": "push", "batch": 1, "records": [RECORD]}),
                  {**client({"type": "push", "batch": 2, "records": [with_fields(RECORD, quantity=0)]}),
                   "schemaInvalid": "a quantity of 0"},
                  client({"type": "push", "batch": 3, "records": [return_record("01a22800-0000-7000-8000-000000000007")]}),
                  client({"type": "pull", "cursor": "0", "limit": 500}),
                  server({"type": "push-ack", "batch": 1, "merged": 1, "unchanged": 0, "conflicts": []}),
                  server(error("invalid-record")),
                  server({"type": "push-ack", "batch": 3, "merged": 1, "unchanged": 0, "conflicts": []}),
                  server({"type": "pull-batch", "records": [], "cursor": "2", "more": False}),
                  client({"type": "bye"}), server({"type": "bye"}), {"from": "server", "close": True}],
    },
    "clock-skew.json": {
        "description": "A write stamped more than 5 minutes ahead of the server's clock is refused as clock-skew, "
                       "retryable (one of the two clocks is wrong; the push succeeds once they agree), and not "
                       "witnessed: the server's clock does not jump. The connection stays open.",
        "setup": SETUP,
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
                  client({"type": "push", "batch": 1, "records": [{**RECORD, "writes": [[KIOSK, 1, 9000000000000, 0]]}]}),
                  server(error("clock-skew", retryable=True)),
                  client({"type": "push", "batch": 2, "records": [RECORD]}),
                  server({"type": "push-ack", "batch": 2, "merged": 1, "unchanged": 0, "conflicts": []}),
                  client({"type": "bye"}), server({"type": "bye"}), {"from": "server", "close": True}],
    },
    "pull-limit-zero.json": {
        "description": "A pull of at most 0 records could never move its cursor: malformed-frame, and the connection "
                       "is closed.",
        "setup": SETUP,
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
                  {**client({"type": "pull", "cursor": "0", "limit": 0}), "schemaInvalid": "limit below 1"},
                  server(error("malformed-frame")), {"from": "server", "close": True}],
    },
    "push-batch-zero.json": {
        "description": "Batches are numbered from 1: a batch 0 is malformed-frame, and the connection is closed.",
        "setup": SETUP,
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
                  {**client({"type": "push", "batch": 0, "records": [RECORD]}), "schemaInvalid": "batch below 1"},
                  server(error("malformed-frame")), {"from": "server", "close": True}],
    },
    "enrolled-kiosk.json": {
        "description": "An enrolled kiosk authenticates with its signature alone.",
        "setup": {**SETUP, "enrollments": [], "enrolled": [enrolled()]},
        "steps": [HELLO, CHALLENGE, client({"type": "authenticate", "signature": sign(NONCE)}), WELCOME,
                  client({"type": "bye"}), server({"type": "bye"}), {"from": "server", "close": True}],
    },
    "enrolled-kiosk-other-key.json": {
        "description": "Another device claiming an enrolled kiosk's id, without a token, is refused: the server "
                       "holds the kiosk's key, and a signature by any other does not verify.",
        "setup": {**SETUP, "enrollments": [], "enrolled": [enrolled(OTHER_PUBLIC)]},
        "steps": [HELLO, CHALLENGE, client({"type": "authenticate", "signature": sign(NONCE)}),
                  server(error("authentication-failed")), {"from": "server", "close": True}],
    },
    "reenroll-used-token.json": {
        "description": "An enrolled kiosk proving a token again — the one it used, or none pending — is refused "
                       "(enrollment-refused), even with the key the server holds: a token enrolls once.",
        "setup": {**SETUP, "enrollments": [], "enrolled": [enrolled()]},
        "steps": [HELLO, CHALLENGE, ENROLL, server(error("enrollment-refused")), {"from": "server", "close": True}],
    },
    "reenroll-new-key.json": {
        "description": "A kiosk enrolled with one key enrolls again with another (a replaced device) by proving a new "
                       "token issued for it: the new key replaces the old one (and lifts a revocation).",
        "setup": {**SETUP, "enrolled": [enrolled(OTHER_PUBLIC)]},
        "steps": [HELLO, CHALLENGE, ENROLL, WELCOME,
                  client({"type": "bye"}), server({"type": "bye"}), {"from": "server", "close": True}],
    },
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
                  {**client({"type": "push", "batch": 3, "records": [{**RECORD, "fields": {"status": [["received", 5]]}}]}),
                   "schemaInvalid": "a return without its required fields"},
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
