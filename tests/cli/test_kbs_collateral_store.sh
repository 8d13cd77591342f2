#!/usr/bin/env bash
# Collateral uploaded through the admin API is the collateral SNP verification uses (docs/kbs.md
# "Dependency health"; IDs in include/ccgate/snp_kds.h). The broker has no cache directory and no KDS:
#   - a guest that sends its report without the certificate chain is denied collateral.missing until
#     the authority uploads its VCEK (snp/milan/vcek/{hwid}/{tcb}) and the ASK+ARK chain
#     (snp/milan/cert_chain), then released;
#   - under a policy that requires a CRL, a guest with its chain is denied collateral.missing (and
#     snp.crl_required) until the authority uploads the CRL (snp/milan/crl), then released;
#   - an upload under an snp/ ID that names no item, or whose bytes are not that item, is refused.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
[ -x "$kbs" ] || skip_or_fail "$kbs is missing"
command -v python3 >/dev/null || skip_or_fail "python3 is missing (the guest is written in Python)"
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
guest=$(dirname "$0")/../support/kbs_guest_release.py
rc=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; rc=1; }
aud=https://kbs.collateral.test/admin

meas=$(printf 'c0%.0s' $(seq 48))
"$cli" emulate snp --out-dir "$tmp/emu" --save-state --measurement "$meas" --crl "$tmp/crl.pem" >/dev/null ||
  { echo "FAIL emulate"; exit 1; }
tl_emulator_tcb_baseline "$tmp" || { echo "FAIL tcb-baseline"; exit 1; }
python3 - "$tmp" "$meas" <<'PY'
import json, sys
tmp, meas = sys.argv[1], sys.argv[2]
for version, crl in ((1, False), (2, True)):
    snp = {"policy_id": "model-c-snp", "version": version, "allowed_measurements": [meas]}
    if crl:
        snp["require_crl"] = True
    policy = {"policy_id": "model-c", "version": version, "allowed_tees": ["snp"],
              "trusted_roots": [{"product": "milan", "pem": open(tmp + "/emu/ark.pem").read()}], "snp_policy": snp}
    json.dump(policy, open("%s/policy-v%d.json" % (tmp, version), "w"))
PY
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/tee.key" 2>/dev/null
openssl ec -in "$tmp/tee.key" -pubout -outform DER -out "$tmp/tee.pub.der" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/auth.key" 2>/dev/null
openssl pkey -in "$tmp/auth.key" -pubout -out "$tmp/auth.pub.pem"
cat >"$tmp/kbs.json" <<EOF
{"store":"$tmp/kbs.db","port":0,"nonce_ttl":60,"attestation_policy":"model-c","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"},
 "admin":{"audience":"$aud","issuers":[{"name":"amd-ops","key":"$tmp/auth.pub.pem","roles":["authority"],"subjects":["collateral-1"]}]}}
EOF
head -c 32 /dev/urandom >"$tmp/model.key"
"$kbs" kek create --config "$tmp/kbs.json" >/dev/null || { echo "FAIL kek create"; exit 1; }
"$kbs" policy set --config "$tmp/kbs.json" --file "$tmp/policy-v1.json" >/dev/null || { echo "FAIL policy set"; exit 1; }
"$kbs" key import --config "$tmp/kbs.json" --key-id col/model/k --policy-id model-c --file "$tmp/model.key" \
  >/dev/null || { echo "FAIL key import"; exit 1; }
tl_spawn "$kbs" serve --config "$tmp/kbs.json" --insecure-http --port-file "$tmp/port" 2>"$tmp/daemon.log"
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "FAIL the daemon did not start"; cat "$tmp/daemon.log"; exit 1; }
port=$(cat "$tmp/port")
"$cli" kbs token mint --key "$tmp/auth.key" --role authority --sub collateral-1 --aud "$aud" --ttl 600 >"$tmp/auth.jwt"
release() { CCG_CLI=$cli TMP=$tmp PORT=$port MEAS=$meas python3 "$guest" release col/model/k; }
put() { # id file
  "$cli" kbs collateral put --url "http://127.0.0.1:$port" --insecure-http --token "$tmp/auth.jwt" \
    --collateral-id "$1" --collateral-version 1 --file "$2" >"$tmp/put.out" 2>"$tmp/put.err"
}

# The IDs: the VCEK's from its own extensions (via the cache layout of `ccgate kds import`).
"$cli" kds import --cache-dir "$tmp/layout" --cert "$tmp/emu/vcek.pem" >/dev/null || { echo "FAIL kds import"; exit 1; }
vcek_file=$(cd "$tmp/layout" && find . -name '*.der' | sed 's|^\./||')
vcek_id=snp/${vcek_file%.der}
case "$vcek_id" in snp/milan/vcek/*/*) ok "the VCEK's collateral ID: ${vcek_id:0:40}...";;
  *) bad "unexpected VCEK ID $vcek_id";; esac
cat "$tmp/emu/ask.pem" "$tmp/emu/ark.pem" >"$tmp/chain.pem"

# 1. The VCEK only in the store.
got=$(NO_CERTS=1 release)
case "$got" in "attest 401 "*collateral.missing*) ok "no chain from the guest, none uploaded: denied ($got)";;
  *) bad "no chain, nothing uploaded: $got";; esac
put "$vcek_id" "$tmp/emu/vcek.pem" && ok "the authority uploads the VCEK" || bad "VCEK upload: $(cat "$tmp/put.err")"
got=$(NO_CERTS=1 release)
case "$got" in "attest 401 "*collateral.missing*) ok "the VCEK without its chain: still denied ($got)";;
  *) bad "VCEK without chain: $got";; esac
put snp/milan/cert_chain "$tmp/chain.pem" && ok "the authority uploads the ASK+ARK chain" ||
  bad "chain upload: $(cat "$tmp/put.err")"
got=$(NO_CERTS=1 release)
[ "$got" = "200 released" ] && ok "the guest without a chain is released on the uploaded collateral" ||
  bad "after the uploads: $got"

# 2. A CRL required by policy, only in the store.
"$kbs" policy set --config "$tmp/kbs.json" --file "$tmp/policy-v2.json" >/dev/null || bad "policy v2"
got=$(release)
case "$got" in "attest 401 "*collateral.missing*) ok "a CRL required, none uploaded: denied ($got)";;
  *) bad "CRL required, none uploaded: $got";; esac
put snp/milan/crl "$tmp/crl.pem" && ok "the authority uploads the CRL" || bad "CRL upload: $(cat "$tmp/put.err")"
got=$(release)
[ "$got" = "200 released" ] && ok "released with the uploaded CRL" || bad "after the CRL upload: $got"

# 3. Uploads that could not serve are refused.
put snp/milan/vcek/zz/0 "$tmp/emu/vcek.pem"
st=$?
[ $st -ne 0 ] && grep -q admin.request_malformed "$tmp/put.err" && ok "an snp/ ID naming no item: admin.request_malformed" ||
  bad "bad snp/ ID: exit $st $(cat "$tmp/put.err")"
put snp/genoa/crl "$tmp/emu/vcek.pem"
st=$?
[ $st -ne 0 ] && grep -q cert.parse_failed "$tmp/put.err" && ok "a certificate uploaded as a CRL: cert.parse_failed" ||
  bad "certificate as CRL: exit $st $(cat "$tmp/put.err")"
put other/blob "$tmp/emu/vcek.pem" && ok "IDs outside snp/ stay opaque blobs" || bad "opaque blob: $(cat "$tmp/put.err")"
exit $rc
