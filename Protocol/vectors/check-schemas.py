#!/usr/bin/env python3
"""Validates every frame of every golden conversation against Protocol/schema (tooling; run by .ci/run)."""
import glob, json, os, sys
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
schemas = {os.path.basename(p)[:-5]: json.load(open(p)) for p in glob.glob(os.path.join(root, "schema", "*.json"))}
registry = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in schemas.values()])
for schema in schemas.values():
    Draft202012Validator.check_schema(schema)
count = 0
refused = 0
for path in sorted(glob.glob(os.path.join(root, "vectors", "*.json"))):
    for index, step in enumerate(json.load(open(path))["steps"]):
        frame = step.get("frame")
        if frame is None:
            continue
        errors = list(Draft202012Validator(schemas[frame["type"]], registry=registry).iter_errors(frame))
        # A step marked schemaInvalid sends what the contract forbids on purpose: the schema must refuse it too.
        if "schemaInvalid" in step:
            if not errors:
                print(f"{os.path.basename(path)} step {index}: the schema accepts {step['schemaInvalid']}",
                      file=sys.stderr)
                sys.exit(1)
            refused += 1
        elif errors:
            print(f"{os.path.basename(path)} step {index}: {errors[0].message}", file=sys.stderr)
            sys.exit(1)
        count += 1
print(f"schemas: {len(schemas)} valid; vectors: {count} frames checked, {refused} refused as they must be")
