#!/usr/bin/env bash
# The Intel TDX vectors copied into tests/vectors/tdx are exactly what PROVENANCE.json records: every
# file listed exists with its SHA-256 and size, every file present is listed, and every entry names
# its source repository, commit, path and licence.
set -euo pipefail
dir=${CCG_SOURCE_DIR:?CCG_SOURCE_DIR must name the source tree}/tests/vectors/tdx
python3 - "$dir" <<'PY'
import hashlib, json, os, re, sys
d = sys.argv[1]
doc = json.load(open(os.path.join(d, "PROVENANCE.json")))
bad = []
listed = set()
for e in doc["files"]:
    for key in ("file", "repo", "commit", "path", "sha256", "bytes", "license"):
        if not e.get(key):
            bad.append(f"{e.get('file')}: no {key}")
    if not re.fullmatch(r"[0-9a-f]{40}", e.get("commit", "")):
        bad.append(f"{e['file']}: commit is not a full hash")
    if e.get("license") not in doc["licenses"].get(e.get("repo"), {}).get("spdx", ""):
        bad.append(f"{e['file']}: licence {e.get('license')} is not the one recorded for {e.get('repo')}")
    p = os.path.join(d, e["file"])
    listed.add(e["file"])
    if not os.path.isfile(p):
        bad.append(f"{e['file']}: missing"); continue
    data = open(p, "rb").read()
    if hashlib.sha256(data).hexdigest() != e["sha256"]:
        bad.append(f"{e['file']}: sha256 differs from the record")
    if len(data) != e["bytes"]:
        bad.append(f"{e['file']}: {len(data)} bytes, recorded {e['bytes']}")
present = {os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs} - {"PROVENANCE.json"}
for f in sorted(present - listed):
    bad.append(f"{f}: present but not in PROVENANCE.json")
for b in bad:
    print("FAIL", b)
print(f"checked {len(listed)} files, {len(bad)} problems")
sys.exit(1 if bad else 0)
PY
