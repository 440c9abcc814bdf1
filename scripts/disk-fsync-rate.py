#!/usr/bin/env python3
"""How many durable commits this disk allows: appends of SIZE bytes, each followed by fdatasync, for SECONDS, in a
temporary file under DIR (default: the system's temporary directory). A SQLite commit in WAL mode with
synchronous=FULL is one such append and fdatasync, so the figure bounds how many transactions a second one writer
can commit here, whatever the CPU does — the bound group commit works around.

    scripts/disk-fsync-rate.py [DIR] [SECONDS] [SIZE]
"""
import json, os, sys, tempfile, time

directory = sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
size = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
block = os.urandom(size)
with tempfile.NamedTemporaryFile(dir=directory) as handle:
    fd = handle.fileno()
    count = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        os.write(fd, block)
        os.fdatasync(fd)
        count += 1
    elapsed = time.monotonic() - start
print(json.dumps({"benchmark": "fdatasync", "bytesPerWrite": size, "writes": count, "seconds": round(elapsed, 3),
                  "fsyncsPerSecond": round(count / elapsed, 1), "msPerFsync": round(1000 * elapsed / count, 3)}))
