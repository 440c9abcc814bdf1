#!/usr/bin/env python3
"""Writes every frame of the golden conversations to DIRECTORY, one file each: a seed corpus for fuzzing."""
import json
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
count = 0
for vector in sorted(pathlib.Path(__file__).parent.glob("*.json")):
    for index, step in enumerate(json.loads(vector.read_text())["steps"]):
        frame = step.get("raw") or (json.dumps(step["frame"], separators=(",", ":")) if "frame" in step else None)
        if frame is None:
            continue
        (out / f"{vector.stem}-{index}").write_text(frame)
        count += 1
print(f"{count} frames written to {out}")
