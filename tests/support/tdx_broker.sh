# The broker side of the TDX agent tests (tests/cli/test_agent_tdx.sh, test_agent_endpoint.sh): a model
# sealed under a fresh key, and the real ccgate-kbs (file keystore, plain HTTP on loopback) holding that
# key under a policy that allows the software TD's MRTD. Sourced after testlib.sh (tl_kbs_add_key,
# tl_kbs_serve).
#
#   tdx_broker_start DIR CLI KBS POLICY_ID POLICY_VERSION KEY_ID MODEL_BYTES COLLATERAL_FILE
#
# DIR/td is the software TD (`ccgate emulate tdx --save-state`), whose root.pem the broker trusts as a test
# root; COLLATERAL_FILE is the collateral the broker reads. Afterwards: tdx_port (the broker's),
# tdx_mrtd (the allowed MRTD), tdx_model_sha (SHA-384 of the plaintext model), and in DIR: model.ccgm,
# provider.pub, model.key, kbs.json, policy.json, daemon.log. Returns non-zero with a FAIL line on failure.
tdx_broker_start() {
  local dir=$1 cli=$2 kbs=$3 policy_id=$4 version=$5 key_id=$6 bytes=$7 collateral=$8
  tdx_mrtd=$(printf '7d%.0s' $(seq 48))
  cat >"$dir/kbs.json" <<JSON
{"store":"$dir/kbs.db","port":0,"nonce_ttl":60,"attestation_policy":"$policy_id","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$dir/kek"},
 "tdx":{"collateral_file":"$collateral","test_roots":["$dir/td/root.pem"]}}
JSON
  cat >"$dir/policy.json" <<JSON
{"policy_id":"$policy_id","version":$version,"allowed_tees":["tdx"],"tdx":{"allowed_mrtd":["$tdx_mrtd"]}}
JSON
  head -c 32 /dev/urandom >"$dir/model.key"
  head -c "$bytes" /dev/urandom >"$dir/model.plain"
  tdx_model_sha=$(sha384sum "$dir/model.plain" | cut -d' ' -f1)
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$dir/provider.pem" 2>/dev/null &&
    openssl pkey -in "$dir/provider.pem" -pubout -out "$dir/provider.pub" 2>/dev/null ||
    { echo "FAIL provider key"; return 1; }
  "$cli" seal --in "$dir/model.plain" --out "$dir/model.ccgm" --key-file "$dir/model.key" --key-id "$key_id" \
    --key-version 1 --signer "$dir/provider.pem" >/dev/null || { echo "FAIL seal"; return 1; }
  rm -f "$dir/model.plain"
  "$kbs" create-kek --config "$dir/kbs.json" >/dev/null || { echo "FAIL create-kek"; return 1; }
  tl_kbs_add_key "$kbs" "$dir/kbs.json" "$dir/policy.json" "$policy_id" "$key_id" "$dir/model.key" || return 1
  tl_kbs_serve "$kbs" "$dir" || return 1
  tdx_port=$tl_port
}
