#!/usr/bin/env bash
# Ownership races on PostgreSQL between two ccgate-kbs instances (session 8, "attack" (2)), driven through
# the admin API as two tenants would, many rounds each:
#   T  acme owns key race/model/tN and transfers it to "other" on instance 0 while "third" imports the same
#      key ID on instance 1: the transfer wins every round (200), third gets 403 admin.forbidden, the key
#      ends with other;
#   C  a fresh key ID: acme imports it and at once transfers it to "other" on instance 0, while third
#      imports it on instance 1: exactly one import wins (201), the loser gets 403 admin.forbidden; when
#      acme won, its transfer wins too and the key ends with other, else with third (acme's transfer then
#      403 admin.forbidden);
# then, over every round: the owners table names the winner, owner_transfers holds exactly one row per
# transfer that took effect (from acme to other, never to or from third), the audit log holds for each
# such transfer one allow record naming the new owner and issuer and no refusal after it, for each
# refused request its refusal with the same code the client saw, and the chain verifies.
# Finding: in C the loser sometimes got 409 store.conflict ("rotate it instead") rather than
# admin.forbidden, when the winner claimed and imported the ID between the loser's owner check and its
# existence check (kbs_admin_keys.c now reads the owner again there).
# The store is a scratch PostgreSQL (tests/support/pg_scratch.sh). No check is on time.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
src=${CCG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
py=${CCG_PYTHON:-python3}
[ -x "$kbs" ] || skip_or_fail "$kbs is missing"
command -v "$py" >/dev/null || skip_or_fail "python3 is missing"
command -v openssl >/dev/null || skip_or_fail "openssl is missing"
command -v psql >/dev/null || skip_or_fail "psql is missing"
tmp=$(mktemp -d)
chmod 0755 "$tmp"
pgdir="$tmp/pg"
mkdir -p "$pgdir"
trap 'tl_kill_children; bash "$src/tests/support/pg_scratch.sh" stop "$pgdir" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
die() { echo "FAIL $*"; exit 1; }

url=$(bash "$src/tests/support/pg_scratch.sh" start "$pgdir" $$ 2>"$tmp/pg_start.err")
case $? in
  0) ;;
  77) skip_or_fail "PostgreSQL's server binaries are not installed" ;;
  *) die "pg_scratch start: $(cat "$tmp/pg_start.err")" ;;
esac

aud=https://kbs.race.test/admin
for who in acme other third; do
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/$who.key" 2>/dev/null &&
    openssl pkey -in "$tmp/$who.key" -pubout -out "$tmp/$who.pub.pem" 2>/dev/null || die "issuer key $who"
done
cat >"$tmp/kbs.json" <<JSON
{"store":"$url","store_connections":4,"port":0,"threads":4,"attestation_policy":"race-attest","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "admin":{"audience":"$aud","issuers":[
   {"name":"acme-idp","key":"$tmp/acme.pub.pem","roles":["provider"],"subjects":["acme"]},
   {"name":"other-idp","key":"$tmp/other.pub.pem","roles":["provider"],"subjects":["other"]},
   {"name":"third-idp","key":"$tmp/third.pub.pem","roles":["provider"],"subjects":["third"]}]}}
JSON
"$kbs" kek create --config "$tmp/kbs.json" >/dev/null 2>"$tmp/err" || die "kek create: $(cat "$tmp/err")"
for i in 0 1; do
  tl_spawn "$kbs" serve --config "$tmp/kbs.json" --insecure-http --port-file "$tmp/kbs$i.port" 2>"$tmp/kbs$i.log"
  for _ in $(seq 300); do [ -s "$tmp/kbs$i.port" ] && break; sleep 0.1; done
  [ -s "$tmp/kbs$i.port" ] || die "instance $i did not start: $(tail -3 "$tmp/kbs$i.log")"
done
for who in acme other third; do
  "$cli" kbs token mint --key "$tmp/$who.key" --role provider --sub "$who" --aud "$aud" --ttl 900 >"$tmp/$who.jwt" ||
    die "token mint $who"
done
ok "two instances on one PostgreSQL, three tenants"

BASES="http://127.0.0.1:$(cat "$tmp/kbs0.port") http://127.0.0.1:$(cat "$tmp/kbs1.port")" TMP=$tmp \
  ROUNDS=${RACE_ROUNDS:-30} "$py" - <<'PY' || fails=$((fails + 1))
import base64, json, os, sys, threading, urllib.request, urllib.error

bases, tmp, rounds = os.environ["BASES"].split(), os.environ["TMP"], int(os.environ["ROUNDS"])
tokens = {w: open(os.path.join(tmp, w + ".jwt")).read().strip() for w in ("acme", "other", "third")}
failed = []
def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + str(detail)[:400]), flush=True)
    if not cond:
        failed.append(name)

def call(who, base, path, doc):
    """POST doc as tenant who: (status, first reason code or None, request id)."""
    req = urllib.request.Request(bases[base] + path, data=json.dumps(doc).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + tokens[who],
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    try:
        j = json.loads(body)
    except ValueError:
        j = {}
    return status, (j.get("reasons") or [None])[0], j.get("request_id")

def policy(who):
    return {"policy_id": who + "-p", "version": 1, "allowed_tees": ["snp"],
            "snp_policy": {"policy_id": who + "-p-snp", "version": 1, "allowed_measurements": ["00" * 48]}}

def key_doc(who, key_id):
    return {"key_id": key_id, "policy_id": who + "-p",
            "key": base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")}

for who in ("acme", "third"):
    st, code, _ = call(who, 0, "/admin/v0/policies", policy(who))
    check("%s sets its policy" % who, st in (200, 201), (st, code))

transfer_to_other = {"issuer": "other-idp", "subject": "other"}
expect = {}   # key ID -> the owner it must end with
seen = []     # (request id, status, code) of every raced request

def race(a, b):
    go = threading.Barrier(2)
    out = [None, None]
    def run(i, f):
        go.wait()
        out[i] = f()
    ts = [threading.Thread(target=run, args=(0, a)), threading.Thread(target=run, args=(1, b))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out

# T: the owner's transfer against another tenant's import of the same ID.
t_ok = 0
for n in range(rounds):
    kid = "race/model/t%d" % n
    st, code, _ = call("acme", 0, "/admin/v0/keys", key_doc("acme", kid))
    if st != 201:
        check("T%d: acme imports %s" % (n, kid), False, (st, code))
        continue
    tr, imp = race(lambda: call("acme", 0, "/admin/v0/keys/%s/transfer" % kid, transfer_to_other),
                   lambda: call("third", 1, "/admin/v0/keys", key_doc("third", kid)))
    seen += [tr, imp]
    good = tr[0] == 200 and imp[0] == 403 and imp[1] == "admin.forbidden"
    t_ok += good
    if not good:
        check("T%d: the transfer wins, third's import is admin.forbidden" % n, False, (tr, imp))
    expect[kid] = "other"
check("T: in %d rounds acme's transfer won (200) and third's import of the same ID was 403 admin.forbidden" % rounds,
      t_ok == rounds, t_ok)

# C: a fresh ID; acme's import-then-transfer against third's import.
wins = {"acme": 0, "third": 0}
c_ok = 0
for n in range(rounds):
    kid = "race/model/c%d" % n
    def acme_side():
        r = call("acme", 0, "/admin/v0/keys", key_doc("acme", kid))
        return r, call("acme", 0, "/admin/v0/keys/%s/transfer" % kid, transfer_to_other)
    (imp_a, tr), imp_t = race(acme_side, lambda: call("third", 1, "/admin/v0/keys", key_doc("third", kid)))
    seen += [imp_a, tr, imp_t]
    if imp_a[0] == 201 and imp_t[0] == 403 and imp_t[1] == "admin.forbidden" and tr[0] == 200:
        wins["acme"] += 1
        expect[kid] = "other"
        c_ok += 1
    elif imp_t[0] == 201 and imp_a[0] == 403 and imp_a[1] == "admin.forbidden" and tr[0] == 403 and tr[1] == "admin.forbidden":
        wins["third"] += 1
        expect[kid] = "third"
        c_ok += 1
    else:
        check("C%d: exactly one import wins, the loser admin.forbidden" % n, False, (imp_a, tr, imp_t))
print("C: acme won %d rounds, third %d" % (wins["acme"], wins["third"]))
check("C: in %d rounds exactly one import won and every loser was 403 admin.forbidden" % rounds, c_ok == rounds, c_ok)
json.dump({"expect": expect, "seen": seen}, open(os.path.join(tmp, "race.json"), "w"))
sys.exit(1 if failed else 0)
PY

# The store and the audit, read independently of the instances.
psql -X -q -A -t -F $'\t' "$url" -c "SELECT object_id, issuer, subject FROM owners WHERE kind = 'key' AND object_id LIKE 'race/%'" \
  >"$tmp/owners.tsv" 2>"$tmp/psql.err" || bad "psql owners: $(cat "$tmp/psql.err")"
psql -X -q -A -t -F $'\t' "$url" -c "SELECT object_id, from_issuer, from_subject, to_issuer, to_subject FROM owner_transfers WHERE kind = 'key' AND object_id LIKE 'race/%'" \
  >"$tmp/transfers.tsv" 2>"$tmp/psql.err" || bad "psql owner_transfers: $(cat "$tmp/psql.err")"
"$cli" audit list --db "$url" --limit 1000000 --json >"$tmp/audit.json" 2>"$tmp/err" || bad "audit list: $(cat "$tmp/err")"
"$py" - "$tmp" <<'PY' || fails=$((fails + 1))
import json, os, sys
tmp = sys.argv[1]
race = json.load(open(os.path.join(tmp, "race.json")))
expect, seen = race["expect"], race["seen"]
failed = []
def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + str(detail)[:400]), flush=True)
    if not cond:
        failed.append(name)
owners = {l.split("\t")[0]: tuple(l.split("\t")[1:]) for l in open(os.path.join(tmp, "owners.tsv")).read().splitlines() if l}
transfers = [tuple(l.split("\t")) for l in open(os.path.join(tmp, "transfers.tsv")).read().splitlines() if l]
wrong = {k: owners.get(k) for k, who in expect.items() if owners.get(k) != (who + "-idp", who)}
check("the owners table names each round's winner (%d keys)" % len(expect), expect and not wrong, wrong)
want = sorted((k, "acme-idp", "acme", "other-idp", "other") for k, who in expect.items() if who == "other")
check("owner_transfers holds exactly one row per transfer that took effect (%d), acme -> other" % len(want),
      sorted(transfers) == want, (len(transfers), len(want), sorted(set(transfers) ^ set(want))[:5]))
doc = json.load(open(os.path.join(tmp, "audit.json")))
recs = doc["records"] if isinstance(doc, dict) else doc
by_rid = {}
for r in recs:
    by_rid.setdefault(r.get("request_id"), []).append(r)
done = {}
for r in recs:
    if r.get("action") == "admin.key.transfer" and r.get("decision") == "allow" and (r.get("key_id") or "").startswith("race/"):
        refused = [x for x in by_rid[r["request_id"]] if x.get("decision") != "allow"]
        if not refused:
            c = r.get("claims") or {}
            done.setdefault(r["key_id"], []).append((c.get("new_owner_issuer"), c.get("new_owner_subject")))
want_done = {k: [("other-idp", "other")] for k, who in expect.items() if who == "other"}
check("the audit holds one effective transfer record per owner_transfers row, naming other-idp/other",
      done == want_done, (len(done), len(want_done)))
# Every refused request the clients saw has its refusal record with the same code.
missing = []
for status, code, rid in [tuple(s) for s in seen]:
    if status >= 400:
        if not any(x.get("decision") in ("deny", "error") and code in (x.get("reasons") or []) for x in by_rid.get(rid, [])):
            missing.append((rid, status, code))
check("every refusal a client saw (%d) is recorded with its code" % sum(1 for s in seen if s[0] >= 400),
      not missing, missing[:3])
imports = [r for r in recs if r.get("action") == "admin.key.import" and (r.get("key_id") or "").startswith("race/")]
effective = {}
for r in imports:
    if r.get("decision") == "allow" and not [x for x in by_rid[r["request_id"]] if x.get("decision") != "allow"]:
        effective[r["key_id"]] = effective.get(r["key_id"], 0) + 1
check("the audit holds exactly one effective import per key ID", all(effective.get(k) == 1 for k in expect) and
      len(effective) == len(expect), {k: v for k, v in effective.items() if v != 1})
sys.exit(1 if failed else 0)
PY
if "$cli" audit verify --db "$url" >"$tmp/verify.out" 2>&1; then ok "the audit chain verifies"
else bad "audit verify: $(cat "$tmp/verify.out")"; fi
[ "$fails" -eq 0 ] || { echo "$fails failed"; exit 1; }
echo "all passed"
