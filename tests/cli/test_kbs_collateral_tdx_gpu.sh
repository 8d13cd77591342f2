#!/usr/bin/env bash
# Collateral uploaded through the admin API is the collateral TDX verification uses (docs/kbs.md
# "Uploaded collateral"; IDs in include/ccgate/tdx_collateral_store.h). The broker has no collateral
# file, directory or PCCS, only the software TD's test root:
#   - a TD is denied collateral.missing with nothing uploaded, and still with one of the four items
#     uploaded (never a mix with other sources; explain names the three still to upload); released once
#     all four are;
#   - a stale upload (past its nextUpdate) is refused collateral.expired, and the stored version stays;
#   - a forged TCB info (one byte changed, the signature kept) is stored as the newest version and every
#     appraisal refuses it with tdx.tcb_info_signature_invalid, exactly as from a file, until a newer
#     genuine version is uploaded;
#   - a newer PCK CRL listing the PCK is used at once (tdx.pck_revoked): the newest version wins;
#   - IDs that name no item, items under the wrong ID, a TCB info for another FMSPC are refused;
#   - GPU: a TD with a GPU is denied gpu.rim_unavailable until its RIMs are uploaded (gpu/rim/{RIM ID});
#     a forged RIM is stored but refused gpu.rim_signature_invalid; malformed gpu/ uploads are refused.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
tl_kbs_guest_env # cli, kbs, py, tmp
rc=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; rc=1; }
aud=https://kbs.collateral-tdx.test/admin

# The software TD, its collateral split into the four uploads; the same TD's expired collateral and a
# PCK CRL that revokes its PCK.
"$cli" emulate tdx --out-dir "$tmp/td" --save-state >/dev/null || { echo "FAIL emulate tdx"; exit 1; }
"$cli" emulate tdx --load-state "$tmp/td" --out-dir "$tmp/exp" --collateral-expired >/dev/null ||
  { echo "FAIL emulate tdx --collateral-expired"; exit 1; }
"$cli" emulate tdx --load-state "$tmp/td" --out-dir "$tmp/rev" --revoke-pck >/dev/null ||
  { echo "FAIL emulate tdx --revoke-pck"; exit 1; }
"$py" - "$tmp" <<'PY' || { echo "FAIL splitting the bundles"; exit 1; }
import json, os, sys
tmp = sys.argv[1]
items = {"tcb_info": ["tcb_info", "tcb_info_signature", "tcb_info_issuer_chain"],
         "qe_identity": ["qe_identity", "qe_identity_signature", "qe_identity_issuer_chain"],
         "pck_crl": ["pck_crl", "pck_crl_issuer_chain"], "root_ca_crl": ["root_ca_crl"]}
for src in ("td", "exp", "rev"):
    bundle = json.load(open(os.path.join(tmp, src, "collateral.json")))
    for name, members in items.items():
        json.dump({m: bundle[m] for m in members}, open(os.path.join(tmp, "%s-%s.json" % (src, name)), "w"))
# forged: the TCB info's issueDate moved by a second, its signature kept
doc = json.load(open(os.path.join(tmp, "td-tcb_info.json")))
forged = doc["tcb_info"].replace('"issueDate":"', '"issueDate":"X', 1)
i = forged.index('"issueDate":"X') + len('"issueDate":"X')
year = forged[i:i + 4]
forged = forged.replace('X' + year, str(int(year) - 1), 1)
assert forged != doc["tcb_info"]
doc["tcb_info"] = forged
json.dump(doc, open(os.path.join(tmp, "forged-tcb_info.json"), "w"))
PY
fmspc=$(python3 -c 'import json,sys; print(json.loads(json.load(open(sys.argv[1]))["tcb_info"])["fmspc"].upper())' \
  "$tmp/td/collateral.json")

"$cli" emulate gpu --out-dir "$tmp/gpu" --save-state >/dev/null || { echo "FAIL emulate gpu"; exit 1; }
m=$(printf '5b%.0s' $(seq 48))
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/auth.key" 2>/dev/null
openssl pkey -in "$tmp/auth.key" -pubout -out "$tmp/auth.pub.pem"
cat >"$tmp/kbs.json" <<EOF
{"store":"$tmp/kbs.db","port":0,"nonce_ttl":60,"attestation_policy":"model-t","allow_unlocked_memory":true,"explain":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "tdx":{"test_roots":["$tmp/td/root.pem"]},
 "admin":{"audience":"$aud","issuers":[{"name":"intel-ops","key":"$tmp/auth.pub.pem","roles":["authority","operator"],"subjects":["collateral-1"]}]}}
EOF
cat >"$tmp/policy.json" <<EOF
{"policy_id":"model-t","version":1,"allowed_tees":["tdx"],"tdx":{"allowed_mrtd":["$m"]}}
EOF
"$py" - "$tmp" "$m" <<'PY' || { echo "FAIL GPU policy"; exit 1; }
import json, sys
tmp, m = sys.argv[1], sys.argv[2]
json.dump({"policy_id": "model-g", "version": 1, "allowed_tees": ["tdx"], "tdx": {"allowed_mrtd": [m]},
           "gpu": {"count": 1, "require_ocsp": False, "allowed_architectures": ["hopper"],
                   "trusted_roots": {"gpu": open(tmp + "/gpu/root.pem").read(),
                                     "rim": open(tmp + "/gpu/rim-root.pem").read()}}},
          open(tmp + "/policy-g.json", "w"))
PY
head -c 32 /dev/urandom >"$tmp/model.key"
"$kbs" kek create --config "$tmp/kbs.json" >/dev/null || { echo "FAIL kek create"; exit 1; }
tl_kbs_add_key "$kbs" "$tmp/kbs.json" "$tmp/policy.json" model-t tdx/model/k "$tmp/model.key" || exit 1
tl_kbs_add_key "$kbs" "$tmp/kbs.json" "$tmp/policy-g.json" model-g tdx/model/g "$tmp/model.key" || exit 1
tl_kbs_serve "$kbs" "$tmp" || exit 1
port=$tl_port
"$cli" kbs token mint --key "$tmp/auth.key" --role authority --sub collateral-1 --aud "$aud" --ttl 600 >"$tmp/auth.jwt"
"$cli" kbs token mint --key "$tmp/auth.key" --role operator --sub collateral-1 --aud "$aud" --ttl 600 >"$tmp/ops.jwt"

# The guest: one TDX flow; prints "200 released", or "attest STATUS reasons... | detail".
cat >"$tmp/guest.py" <<'PYEOF'
import json, os, sys
from jwcrypto import jwe
sys.path.insert(0, os.environ["GUEST_LIB"])
from kbs_guest_session import http, open_session, report_data, gpu_evidence, tdx_evidence
cli, tmp, m = os.environ["CCG_CLI"], os.environ["TMP"], os.environ["MRTD"]

key, tee_pubkey, cookie, nonce = open_session("tdx")
additional = ""
if os.environ.get("GPU"):  # a software GPU's report over the session's GPU nonce (docs/gpu-evidence.md)
    additional = gpu_evidence(cli, os.path.join(tmp, "gpu"), os.path.join(tmp, "g"), nonce, tee_pubkey, "GPU-0")
rd = report_data(nonce, tee_pubkey, additional)
evidence = tdx_evidence(cli, os.path.join(tmp, "td"), os.path.join(tmp, "q"), rd, m)
attestation = {"runtime-data": {"nonce": nonce, "tee-pubkey": tee_pubkey},
               "tee-evidence": {"primary_evidence": evidence, "additional_evidence": additional}}
if os.environ.get("EXPLAIN"):  # the plain attestation, for `ccgate kbs policy explain`
    json.dump(attestation, open(os.path.join(tmp, "attestation.json"), "w"))
    print("written")
    sys.exit(0)
st, body, _ = http("POST", "/kbs/v0/attest", attestation, cookie=cookie)
if st != 200:
    doc = json.loads(body)
    print("attest %d %s | %s" % (st, " ".join(doc.get("reasons", [])), json.dumps(doc)))
    sys.exit(0)
st, body, _ = http("GET", "/kbs/v0/resource/" + os.environ.get("KEY", "tdx/model/k"), cookie=cookie)
if st != 200:
    print("resource %d %s" % (st, body))
    sys.exit(0)
obj = jwe.JWE()
obj.deserialize(body, key=key)
print("200 released" if obj.payload == open(os.path.join(tmp, "model.key"), "rb").read() else "200 wrong key")
PYEOF
release() { CCG_CLI=$cli TMP=$tmp PORT=$port MRTD=$m "$py" "$tmp/guest.py"; }
put() { # id version file
  "$cli" kbs collateral put --url "http://127.0.0.1:$port" --insecure-http --token "$tmp/auth.jwt" \
    --collateral-id "$1" --collateral-version "$2" --file "$3" >"$tmp/put.out" 2>"$tmp/put.err"
}
refused() { # name code id version file
  put "$3" "$4" "$5"
  local st=$?
  [ $st -ne 0 ] && grep -q "$2" "$tmp/put.err" && ok "$1: $2" || bad "$1: exit $st $(cat "$tmp/put.err")"
}

# 1. Nothing uploaded, then one item of four.
got=$(release)
case "$got" in "attest 401 "*collateral.missing*) ok "no TDX collateral anywhere: denied collateral.missing";;
  *) bad "nothing uploaded: $got";; esac
put "tdx/tcb_info/$fmspc" 1 "$tmp/td-tcb_info.json" && ok "the authority uploads the TCB info (tdx/tcb_info/$fmspc)" ||
  bad "TCB info upload: $(cat "$tmp/put.err")"
got=$(release)
case "$got" in "attest 401 "*collateral.missing*) ok "one item of four: still denied collateral.missing";;
  *) bad "TCB info only: $got";; esac
EXPLAIN=1 release >/dev/null
"$cli" kbs policy explain --url "http://127.0.0.1:$port" --insecure-http --token "$tmp/ops.jwt" --policy-id model-t \
  --tee tdx --file "$tmp/attestation.json" >"$tmp/explain.out" 2>"$tmp/explain.err"
st=$?
[ $st -eq 1 ] && grep -q 'tdx/qe_identity, tdx/pck_crl/platform, tdx/root_ca_crl' "$tmp/explain.out" &&
  ok "explain (operator) names the three IDs still to upload" ||
  bad "explain: exit $st $(head -c 600 "$tmp/explain.out") $(head -c 300 "$tmp/explain.err")"
put tdx/qe_identity 1 "$tmp/td-qe_identity.json" && put tdx/pck_crl/platform 1 "$tmp/td-pck_crl.json" &&
  put tdx/root_ca_crl 1 "$tmp/td-root_ca_crl.json" && ok "the authority uploads the QE identity and both CRLs" ||
  bad "uploads: $(cat "$tmp/put.err")"
got=$(release)
[ "$got" = "200 released" ] && ok "the TD is released on the uploaded collateral" || bad "after the uploads: $got"

# 2. Stale uploads are refused; the stored version stays in use.
refused "a TCB info past its nextUpdate" collateral.expired "tdx/tcb_info/$fmspc" 2 "$tmp/exp-tcb_info.json"
refused "a QE identity past its nextUpdate" collateral.expired tdx/qe_identity 2 "$tmp/exp-qe_identity.json"
refused "a PCK CRL past its nextUpdate" collateral.expired tdx/pck_crl/platform 2 "$tmp/exp-pck_crl.json"
refused "a root CA CRL past its nextUpdate" collateral.expired tdx/root_ca_crl 2 "$tmp/exp-root_ca_crl.json"
got=$(release)
[ "$got" = "200 released" ] && ok "after the refused stale uploads the stored collateral still serves" ||
  bad "after the stale uploads: $got"

# 3. A forged TCB info is stored (its shape is right) but never trusted.
put "tdx/tcb_info/$fmspc" 2 "$tmp/forged-tcb_info.json" && ok "a forged TCB info is stored as version 2" ||
  bad "forged upload: $(cat "$tmp/put.err")"
got=$(release)
case "$got" in "attest 401 "*tdx.tcb_info_signature_invalid*) ok "the forged newest version is refused: tdx.tcb_info_signature_invalid";;
  *) bad "forged TCB info: $got";; esac
put "tdx/tcb_info/$fmspc" 3 "$tmp/td-tcb_info.json" && ok "the genuine TCB info uploaded again as version 3" ||
  bad "version 3: $(cat "$tmp/put.err")"
got=$(release)
[ "$got" = "200 released" ] && ok "released again on the newest genuine version" || bad "after version 3: $got"

# 4. The newest PCK CRL wins at once.
put tdx/pck_crl/platform 2 "$tmp/rev-pck_crl.json" && ok "a PCK CRL listing the PCK uploaded as version 2" ||
  bad "revoking CRL: $(cat "$tmp/put.err")"
got=$(release)
case "$got" in "attest 401 "*tdx.pck_revoked*) ok "the PCK revoked by the newest uploaded CRL: tdx.pck_revoked";;
  *) bad "after the revoking CRL: $got";; esac
put tdx/pck_crl/platform 3 "$tmp/td-pck_crl.json" && ok "a PCK CRL without it uploaded as version 3" ||
  bad "CRL v3: $(cat "$tmp/put.err")"
got=$(release)
[ "$got" = "200 released" ] && ok "released again under the newest CRL" || bad "after CRL v3: $got"

# 5. Uploads that could not serve are refused.
refused "a tdx/ ID naming no item" admin.request_malformed tdx/tcb_info/zz 1 "$tmp/td-tcb_info.json"
refused "a lowercase FMSPC" admin.request_malformed "tdx/tcb_info/$(echo "$fmspc" | tr A-F a-f)" 1 "$tmp/td-tcb_info.json"
refused "a CRL uploaded as a TCB info" tdx.collateral_malformed "tdx/tcb_info/$fmspc" 4 "$tmp/td-root_ca_crl.json"
refused "a TCB info uploaded as the root CA CRL" tdx.collateral_malformed tdx/root_ca_crl 2 "$tmp/td-tcb_info.json"
refused "a TCB info under another FMSPC's ID" tdx.collateral_malformed tdx/tcb_info/00000000000F 1 "$tmp/td-tcb_info.json"
printf 'not json' >"$tmp/junk"
refused "bytes that are no JSON" tdx.collateral_malformed tdx/qe_identity 2 "$tmp/junk"
# 6. GPU: RIMs only uploaded (the broker has no RIM directory or service). A TD with a GPU asks for a
# key whose policy requires the GPU; each appraisal reads the RIMs from the store.
gpu_release() { GPU=1 KEY=tdx/model/g release; }
got=$(gpu_release)
case "$got" in *gpu.rim_unavailable*) ok "a GPU without its RIMs uploaded: denied gpu.rim_unavailable";;
  *) bad "GPU, no RIMs: $got";; esac
for f in "$tmp"/gpu/rims/*.xml; do
  id=$(basename "$f" .xml)
  put "gpu/rim/$id" 1 "$f" && ok "the authority uploads RIM $id" || bad "RIM upload $id: $(cat "$tmp/put.err")"
done
got=$(gpu_release)
[ "$got" = "200 released" ] && ok "the TD with its GPU is released on the uploaded RIMs" || bad "after the RIM uploads: $got"
rim=$(ls "$tmp"/gpu/rims/*.xml | head -1)
rim_id=$(basename "$rim" .xml)
"$py" - "$rim" "$tmp/forged-rim.xml" <<'PY'
import re, sys
x = open(sys.argv[1]).read()
m = re.search(r'Hash="([0-9a-f])', x) or re.search(r'="([0-9a-f]{8,})', x)
i = m.start(1)
open(sys.argv[2], "w").write(x[:i] + ("1" if x[i] == "0" else "0") + x[i + 1:])
PY
put "gpu/rim/$rim_id" 2 "$tmp/forged-rim.xml" && ok "a forged RIM (one digit changed) is stored as version 2" ||
  bad "forged RIM upload: $(cat "$tmp/put.err")"
got=$(gpu_release)
case "$got" in *gpu.rim_signature_invalid*) ok "the forged newest RIM is refused: gpu.rim_signature_invalid";;
  *) bad "forged RIM: $got";; esac
put "gpu/rim/$rim_id" 3 "$rim" && ok "the genuine RIM uploaded again as version 3" || bad "RIM v3: $(cat "$tmp/put.err")"
got=$(gpu_release)
[ "$got" = "200 released" ] && ok "released again on the newest genuine RIM" || bad "after RIM v3: $got"
refused "a RIM ID outside [A-Za-z0-9._-]" gpu.rim_id_invalid 'gpu/rim/.hidden' 1 "$rim"
refused "a gpu/ ID naming no kind" admin.request_malformed gpu/other/x 1 "$rim"
refused "an OCSP ID that is not {key hash}-{serial}" admin.request_malformed gpu/ocsp/nothex 1 "$rim"
refused "bytes that are no OCSP response" gpu.ocsp_response_invalid gpu/ocsp/00aa-01 1 "$rim"
exit $rc
