#!/usr/bin/env bash
# The test vectors copied into tests/vectors are exactly what their records say. Every folder there is one
# set with a PROVENANCE.json; every file it lists exists (a regular file, not a link) with its SHA-256 and
# size; every file present is listed; every entry names its source repository, full commit, path and
# licence, and that licence is the one the set's "licenses" map gives for the repository, with evidence.
# The checker is then run on damaged copies (a flipped byte, an unlisted file, a missing file, a
# truncated file, a set without a record) to show that each damage is caught.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
command -v python3 >/dev/null || skip_or_fail "python3 is missing"
vectors=${CCG_SOURCE_DIR:-$(dirname "$0")/../..}/tests/vectors
passed=0
failed=0
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT

# check DIR: prints one FAIL line per problem and a summary; exits 1 on any problem.
check() {
  python3 - "$1" <<'PY'
import hashlib, json, os, re, sys

top = sys.argv[1]
bad = []
total = 0


def need(cond, msg):
    if not cond:
        bad.append(msg)
    return cond


def check_set(name):
    global total
    d = os.path.join(top, name)
    rec = os.path.join(d, "PROVENANCE.json")
    if not need(os.path.isfile(rec) and not os.path.islink(rec), f"{name}/: no PROVENANCE.json"):
        return
    try:
        doc = json.load(open(rec))
        licenses, files = doc["licenses"], doc["files"]
    except (ValueError, KeyError, TypeError) as e:
        bad.append(f"{name}/PROVENANCE.json: unreadable ({e!r})")
        return
    need(isinstance(doc.get("description"), str) and doc["description"], f"{name}: no description")
    for repo, lic in licenses.items():
        need(isinstance(lic, dict) and lic.get("spdx") and lic.get("evidence"),
             f"{name}: licence of {repo} lacks spdx or evidence")
    listed, used_repos = set(), set()
    for e in files:
        f = e.get("file") if isinstance(e, dict) else None
        if not need(isinstance(f, str) and f, f"{name}: an entry without a file"):
            continue
        where = f"{name}/{f}"
        for key in ("repo", "commit", "path", "sha256", "bytes", "license"):
            need(e.get(key), f"{where}: no {key}")
        need(re.fullmatch(r"[0-9a-f]{40}", str(e.get("commit", ""))), f"{where}: commit is not a full hash")
        need(re.fullmatch(r"[0-9a-f]{64}", str(e.get("sha256", ""))), f"{where}: sha256 is not 64 hex digits")
        need(type(e.get("bytes")) is int, f"{where}: bytes is not an integer")
        lic = licenses.get(e.get("repo"))
        need(isinstance(lic, dict) and e.get("license") == lic.get("spdx"),
             f"{where}: licence {e.get('license')} is not the one recorded for {e.get('repo')}")
        used_repos.add(e.get("repo"))
        norm = os.path.normpath(f)
        if not need(norm == f and not os.path.isabs(f) and not f.startswith("..") and f != "PROVENANCE.json",
                    f"{where}: not a plain relative path"):
            continue
        need(f not in listed, f"{where}: listed twice")
        listed.add(f)
        p = os.path.join(d, f)
        if not need(os.path.isfile(p) and not os.path.islink(p), f"{where}: missing (or not a regular file)"):
            continue
        data = open(p, "rb").read()
        need(hashlib.sha256(data).hexdigest() == e.get("sha256"), f"{where}: sha256 differs from the record")
        need(len(data) == e.get("bytes"), f"{where}: {len(data)} bytes, recorded {e.get('bytes')}")
    for repo in sorted(set(licenses) - used_repos):
        bad.append(f"{name}: licence recorded for {repo}, which no file comes from")
    present = set()
    for r, dirs, fs in os.walk(d):
        for x in fs + [y for y in dirs if os.path.islink(os.path.join(r, y))]:
            present.add(os.path.relpath(os.path.join(r, x), d))
    for f in sorted(present - listed - {"PROVENANCE.json"}):
        bad.append(f"{name}/{f}: present but not in PROVENANCE.json")
    print(f"  {name}: {len(listed)} files, {len(licenses)} licence records")
    total += len(listed)


sets = 0
for entry in sorted(os.listdir(top)):
    if os.path.isdir(os.path.join(top, entry)) and not os.path.islink(os.path.join(top, entry)):
        sets += 1
        check_set(entry)
    else:
        bad.append(f"{entry}: outside any set (every file belongs to a set folder with a PROVENANCE.json)")
need(sets > 0, "no vector sets at all")
for b in bad:
    print("FAIL", b)
print(f"checked {sets} sets, {total} files, {len(bad)} problems")
sys.exit(1 if bad else 0)
PY
}

# expect NAME WANT_RC PATTERN DIR: runs the checker on DIR.
expect() {
  local name=$1 want=$2 pattern=$3 dir=$4 out rc
  out=$(check "$dir" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, wanted $want"; echo "$out" | tail -20; failed=$((failed + 1)); return
  fi
  if ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL $name: output lacks /$pattern/"; echo "$out" | tail -20; failed=$((failed + 1)); return
  fi
  echo "ok   $name"; passed=$((passed + 1))
}

[ -d "$vectors" ] || { echo "FAIL: no vectors at $vectors"; exit 1; }
check "$vectors" || true # the listing, for the log
expect "the tree's vectors match their records" 0 ' 0 problems$' "$vectors"

# Damaged copies. Each starts from a fresh copy of the tree's vectors.
fresh() { rm -rf "$tmp/v" && cp -a "$vectors" "$tmp/v"; }
first_file() { # first_file SET: a file of the set other than its record
  find "$tmp/v/$1" -type f ! -name PROVENANCE.json | sort | head -n 1
}
for set in $(cd "$vectors" && ls -d */ | tr -d /); do
  fresh; f=$(first_file "$set"); tl_flip_byte "$f" 0
  expect "$set: a flipped byte is caught" 1 "${set}/.*: sha256 differs from the record" "$tmp/v"
done
fresh; f=$(first_file snp); tl_flip_byte "$f" "$(($(stat -c %s "$f") - 1))"
expect "a flipped last byte is caught" 1 'sha256 differs from the record' "$tmp/v"
fresh; echo extra > "$tmp/v/snp/unlisted.bin"
expect "an unlisted file is caught" 1 'snp/unlisted.bin: present but not in PROVENANCE.json' "$tmp/v"
fresh; mkdir -p "$tmp/v/wycheproof/deeper" && echo '{}' > "$tmp/v/wycheproof/deeper/x.json"
expect "an unlisted file in a subfolder is caught" 1 'wycheproof/deeper/x.json: present but not in' "$tmp/v"
fresh; ln -s ../snp "$tmp/v/hpke/linked"
expect "an unlisted link is caught" 1 'hpke/linked: present but not in' "$tmp/v"
fresh; rm "$(first_file snp-measure)"
expect "a missing file is caught" 1 'snp-measure/.*: missing' "$tmp/v"
fresh; f=$(first_file hpke); head -c -1 "$f" > "$tmp/cut" && cat "$tmp/cut" > "$f"
expect "a truncated file is caught" 1 'hpke/.*: [0-9]+ bytes, recorded [0-9]+' "$tmp/v"
fresh; mkdir "$tmp/v/newset" && echo x > "$tmp/v/newset/a.bin"
expect "a set without a record is caught" 1 'newset/: no PROVENANCE.json' "$tmp/v"
fresh; echo x > "$tmp/v/stray.bin"
expect "a file outside any set is caught" 1 'stray.bin: outside any set' "$tmp/v"
fresh; python3 - "$tmp/v/wycheproof/PROVENANCE.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["files"][0]["license"] = "MIT"
json.dump(doc, open(sys.argv[1], "w"))
PY
expect "a licence other than the repository's is caught" 1 'licence MIT is not the one recorded' "$tmp/v"
fresh; python3 - "$tmp/v/snp/PROVENANCE.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["files"][0]["commit"] = doc["files"][0]["commit"][:8]
json.dump(doc, open(sys.argv[1], "w"))
PY
expect "a short commit is caught" 1 'commit is not a full hash' "$tmp/v"

echo "vectors provenance: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
