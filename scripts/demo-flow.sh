#!/usr/bin/env bash
# The whole flow on one machine: a provider seals a model, the key broker releases its key only to an
# approved (emulated) SEV-SNP guest, the guest agent unseals it into sealed memory for the model server,
# and an enterprise client talks to an attested server over the attested channel. Every step checks
# its expected outcome; the script exits non-zero if any step does not give it.
set -euo pipefail
build=${1:-build/release}
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/$build"
cli="$bin/ccgate"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
failures=0

step() { printf '\n== %s\n' "$1"; }
show() { printf '$ %s\n' "$*"; }
expect() { # expect NAME GOT WANT
  if [ "$2" = "$3" ]; then
    echo "   -> $1: $2 (expected)"
  else
    echo "   -> $1: got '$2', expected '$3'" >&2
    failures=$((failures + 1))
  fi
}
# The agent's JSON "failed" log line: its reason code and exit status.
failed_reason() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    l=l.strip()
    if l.startswith("{"):
        o=json.loads(l)
        if o.get("event")=="failed": print(o["reason"])' "$1" | tail -1; }
wait_port() { # wait_port FILE -> prints the port once the file holds it
  for _ in $(seq 1 600); do
    if [ -s "$1" ]; then cat "$1"; return 0; fi
    sleep 0.05
  done
  echo "demo: no port in $1" >&2
  return 1
}

# ---------------------------------------------------------------- 1. the model provider
step "Provider: a model key, a signing key, and a model sealed under them"
openssl rand 32 > "$work/model.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$work/provider.pem" 2>/dev/null
openssl pkey -in "$work/provider.pem" -pubout -out "$work/provider.pub"
# The reference model (docs/runner.md): a small decoder-only transformer whose weights follow from a seed.
show ccgate model generate --seed 2026 --out model.bin
"$cli" model generate --seed 2026 --out "$work/model.bin" >/dev/null
model_sha=$(sha384sum "$work/model.bin" | cut -d' ' -f1)
# The provider's own answer to the question the client will ask, on the plaintext weights (greedy decoding):
# later, the answer served from the guest must equal it.
question='[{"role":"user","content":"Which gate keeps the weights?"}]'
"$cli" model run --model "$work/model.bin" --max-tokens 32 --json --chat "$question" > "$work/expected.json"
expected_answer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["text"])' "$work/expected.json")
show ccgate seal --in model.bin --out model.ccgm --key-file model.key --key-id default/model/llm --key-version 1 --signer provider.pem
"$cli" seal --in "$work/model.bin" --out "$work/model.ccgm" --key-file "$work/model.key" \
  --key-id default/model/llm --key-version 1 --signer "$work/provider.pem"
rm -f "$work/model.bin" # from here on only the sealed artifact exists
show ccgate artifact inspect model.ccgm --provider-key provider.pub
"$cli" artifact inspect "$work/model.ccgm" --provider-key "$work/provider.pub" |
  python3 -c 'import json,sys; h=json.load(sys.stdin); print("   key", h.get("key_id"), "v%s" % h.get("key_version"), "| plaintext", h.get("plaintext_len"), "bytes | signature", h.get("signature_valid", h.get("signature")))'

# ---------------------------------------------------------------- 2. the guest's launch (emulated firmware)
step "Authority: the approved guest launch (software SNP firmware, TEST ROOT ONLY) and an unapproved one"
show ccgate emulate snp --out-dir guest --save-state
"$cli" emulate snp --out-dir "$work/guest" --save-state >/dev/null
good_meas=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["measurement"])' "$work/guest/emulator.json")
bad_meas=$(printf 'ee%.0s' $(seq 1 48))
"$cli" emulate snp --out-dir "$work/rogue" --load-state "$work/guest" --measurement "$bad_meas" --save-state >/dev/null
echo "   approved measurement ${good_meas:0:24}..., rogue measurement ${bad_meas:0:24}..."

# A software GPU (TEST ROOTS ONLY): it signs SPDM evidence over whatever nonce NVML is asked for, and its RIM
# signer signs the driver and VBIOS reference manifests the broker checks the measurements against.
show ccgate emulate gpu --out-dir gpu --save-state
"$cli" emulate gpu --out-dir "$work/gpu" --save-state >/dev/null
ls "$work/gpu/rims" | sed 's/^/   RIM /'

# A software Intel TD (TEST ROOT ONLY): its own PCK chain, TCB info, QE identity and CRLs as a collateral
# bundle; and the same TD launched with debugging on.
show ccgate emulate tdx --out-dir td --save-state
"$cli" emulate tdx --out-dir "$work/td" --save-state >/dev/null
"$cli" emulate tdx --load-state "$work/td" --out-dir "$work/td-debug" --debug --save-state >/dev/null
td_mrtd=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["td"]["mrtd"])' "$work/td/tdx-emulator.json")

# The authority's signed TCB baseline for the product: the emulated Milan TCB counts as up to date. Policies
# accept the TCB status UpToDate only, against a baseline (docs/snp-tcb-baseline.md).
step "Authority: a signed TCB baseline for Milan (the TCB that counts as up to date; advisories below it)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$work/authority.key" 2>/dev/null
openssl pkey -in "$work/authority.key" -pubout -out "$work/authority.pub" 2>/dev/null
show ccgate tcb-baseline create --product milan ... --up-to-date bootloader=4,tee=0,snp=24,microcode=219
"$cli" tcb-baseline create --product milan --version 1 --not-before 2024-01-01T00:00:00Z \
  --not-after 2049-12-31T23:59:59Z --up-to-date bootloader=4,tee=0,snp=24,microcode=219 \
  --out "$work/milan-tcb.unsigned.json" >/dev/null
show ccgate tcb-baseline sign --in milan-tcb.unsigned.json --key authority.key --issuer authority
"$cli" tcb-baseline sign --in "$work/milan-tcb.unsigned.json" --key "$work/authority.key" --issuer authority \
  --out "$work/milan-tcb.json" >/dev/null

# ---------------------------------------------------------------- 3. the key broker
step "Broker: ccgate-kbs with TLS, a file keystore, the release policy and the model key"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$work/kbs.key" -out "$work/kbs.crt" 2>/dev/null
cat > "$work/kbs.json" <<JSON
{"address": "127.0.0.1", "port": 0, "store": "$work/kbs.db", "nonce_ttl": 30, "token_ttl": 600,
 "attestation_policy": "model-llm", "allow_unlocked_memory": true, "threads": 2,
 "tls": {"cert_file": "$work/kbs.crt", "key_file": "$work/kbs.key"},
 "keystore": {"backend": "file", "kek_file": "$work/kek.bin"},
 "tcb_baselines": ["$work/milan-tcb.json"], "tcb_baseline_issuers": {"authority": "$work/authority.pub"},
 "gpu": {"rim_dir": "$work/gpu/rims"},
 "tdx": {"collateral_file": "$work/td/collateral.json", "test_roots": ["$work/td/root.pem"]}}
JSON
ark=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$work/guest/ark.pem")
cat > "$work/policy.json" <<JSON
{"policy_id": "model-llm", "version": 1, "allowed_tees": ["snp"], "gpu_required": false,
 "trusted_roots": [{"product": "milan", "pem": $ark}],
 "snp_policy": {"policy_id": "model-llm-snp", "version": 1, "debug_allowed": false,
                "migration_agent_allowed": false, "allowed_measurements": ["$good_meas"]}}
JSON
kbs="$bin/ccgate-kbs"
show ccgate-kbs kek create / policy set / key import --key-id default/model/llm --policy-id model-llm
"$kbs" kek create --config "$work/kbs.json" >/dev/null
# A release policy must pin the launch measurement: one that does not would release to any genuine guest.
cat > "$work/unpinned.json" <<JSON
{"policy_id": "model-any", "version": 1, "allowed_tees": ["snp"], "trusted_roots": [{"product": "milan", "pem": $ark}]}
JSON
show ccgate-kbs policy set --file unpinned.json   "(no measurement pinned)"
unpinned_rc=0
"$kbs" policy set --config "$work/kbs.json" --file "$work/unpinned.json" 2>"$work/unpinned.err" || unpinned_rc=$?
expect "unpinned policy refused (exit status)" "$unpinned_rc" 2
expect "reason" "$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["reason"])' "$work/unpinned.err")" kbs.policy_unpinned
"$kbs" policy set --config "$work/kbs.json" --file "$work/policy.json" >/dev/null
"$kbs" key import --config "$work/kbs.json" --key-id default/model/llm --policy-id model-llm --file "$work/model.key" >/dev/null
rm -f "$work/model.key" # the broker holds it now, wrapped under its KEK
"$kbs" serve --config "$work/kbs.json" --port-file "$work/kbs.port" 2>"$work/kbs.log" &
pids+=($!)
port=$(wait_port "$work/kbs.port")
echo "   listening on https://127.0.0.1:$port"

# ---------------------------------------------------------------- 4. the confidential guest
cat > "$work/model_server.py" <<'PY'
# A stand-in model server: it makes itself non-dumpable first (the agent's contract), maps the
# inherited memfd and prints the model's SHA-384. It never writes the model anywhere.
import ctypes, hashlib, mmap, os
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
fd = int(os.environ["CCGATE_MODEL_FD"])
n = int(os.environ["CCGATE_MODEL_LEN"])
with mmap.mmap(fd, n, prot=mmap.PROT_READ) as m:
    print("model server: serving %s, %d bytes, sha384 %s" % (os.environ["CCGATE_KEY_ID"], n, hashlib.sha384(m).hexdigest()), flush=True)
PY
agent_config() { # agent_config EMULATOR_DIR FILE [GPU-MEMBER]
  cat > "$2" <<JSON
{"attester": {"kind": "emulator", "emulator_dir": "$1"},${3:-}
 "broker": {"url": "https://127.0.0.1:$port", "ca_file": "$work/kbs.crt", "timeout": 30},
 "key": {"resource": "default/model/llm", "version": 1},
 "artifact": {"location": "$work/model.ccgm", "provider_key": "$work/provider.pub"},
 "server": {"argv": ["/usr/bin/python3", "$work/model_server.py"]},
 "memlock": "best-effort"}
JSON
}
run_agent() { # run_agent NAME EMULATOR_DIR [GPU-MEMBER] -> sets agent_rc, prints the server's line
  agent_config "$2" "$work/agent-$1.json" "${3:-}"
  printf '$ ccgate-agent --config agent-%s.json\n' "$1"
  agent_rc=0
  "$bin/ccgate-agent" --config "$work/agent-$1.json" >"$work/agent-$1.out" 2>"$work/agent-$1.err" || agent_rc=$?
  grep '^model server' "$work/agent-$1.out" | sed 's/^/   /' || true
}

step "Guest: the approved launch attests, receives the key in memory only, and serves the model"
run_agent good "$work/guest"
expect "agent exit status" "$agent_rc" 0
served=$(sed -n 's/.*sha384 \([0-9a-f]*\).*/\1/p' "$work/agent-good.out")
expect "digest in memory equals the provider's model" "$served" "$model_sha"

step "Guest: an unapproved launch (another measurement) is refused; the model server never starts"
run_agent rogue "$work/rogue"
expect "agent exit status" "$agent_rc" 11
expect "reason" "$(failed_reason "$work/agent-rogue.err")" snp.measurement_not_allowed
expect "model server started" "$(grep -c '^model server' "$work/agent-rogue.out" || true)" 0

step "Provider: the kill switch. The key is disabled; the next start attests again and is refused"
show ccgate-kbs key disable --key-id default/model/llm
"$kbs" key disable --config "$work/kbs.json" --key-id default/model/llm >/dev/null
run_agent disabled "$work/guest"
expect "agent exit status" "$agent_rc" 12
expect "reason" "$(failed_reason "$work/agent-disabled.err")" key.disabled
grep '"event":"failed"' "$work/agent-disabled.err" | tail -1 |
  python3 -c 'import json,sys; o=json.load(sys.stdin); print("   signal:", {k: o.get(k) for k in ("reason","key_id","request_id","policy_version")})'

# ---------------------------------------------------------------- 4b. a GPU-gated release
step "Provider: the key back on, under policy v2: the same guest AND one verified GPU (software GPU roots named)"
"$kbs" key enable --config "$work/kbs.json" --key-id default/model/llm >/dev/null
gpu_roots=$(python3 -c 'import json,sys; print(json.dumps({"gpu": open(sys.argv[1]).read(), "rim": open(sys.argv[2]).read()}))' \
  "$work/gpu/root.pem" "$work/gpu/rim-root.pem")
python3 - "$work/policy.json" "$work/policy-gpu.json" "$gpu_roots" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["version"] = 2
del p["gpu_required"]
# One GPU; its driver and VBIOS measurements must match the signed RIMs. OCSP is shown with a live
# responder in the tests (test_kbs_gpu); this demo has none, so its policy does not require it.
p["gpu"] = {"count": 1, "require_rim": True, "require_ocsp": False, "trusted_roots": json.loads(sys.argv[3])}
json.dump(p, open(sys.argv[2], "w"))
PY
show ccgate-kbs policy set --file policy-gpu.json   "(policy model-llm v2: gpu.count 1, RIMs required)"
"$kbs" policy set --config "$work/kbs.json" --file "$work/policy-gpu.json" >/dev/null
nvml_stub="$bin/libnvidia-ml-stub.so"
gpu_member=" \"gpu\": {\"required\": true, \"nvml_library\": \"$nvml_stub\"},"

step "Guest without GPU evidence: refused (the policy requires a GPU); the model server never starts"
run_agent nogpu "$work/guest"
expect "reason" "$(failed_reason "$work/agent-nogpu.err")" kbs.gpu_required
expect "model server started" "$(grep -c '^model server' "$work/agent-nogpu.out" || true)" 0

step "Guest with its GPU: NVML evidence over the session-bound nonce; the broker verifies both; served"
export CCG_NVML_STUB_GPU_STATE="$work/gpu" CCG_NVML_STUB_READY_FILE="$work/gpu-ready.txt"
run_agent gpu "$work/guest" "$gpu_member"
expect "agent exit status" "$agent_rc" 0
expect "GPU ready state: cleared at start, set after the release, cleared at stop" \
  "$(tr '\n' ' ' < "$work/gpu-ready.txt")" "ready=0 ready=1 ready=0 "
served=$(sed -n 's/.*sha384 \([0-9a-f]*\).*/\1/p' "$work/agent-gpu.out")
expect "digest in memory equals the provider's model" "$served" "$model_sha"

step "Guest whose GPU runs other firmware (RIM index 9 differs): refused, naming the index"
rm -f "$work/gpu-ready.txt"
CCG_NVML_STUB_GPU_TAMPER=measurement=9 run_agent gputamper "$work/guest" "$gpu_member"
expect "reason" "$(failed_reason "$work/agent-gputamper.err")" gpu.measurement_mismatch
expect "GPU ready state never set" "$(grep -c 'ready=1' "$work/gpu-ready.txt" 2>/dev/null || true)" 0
grep '"event":"failed"' "$work/agent-gputamper.err" | tail -1 |
  python3 -c 'import json,sys; o=json.load(sys.stdin); print("   signal:", {k: o.get(k) for k in ("reason","key_id","request_id","policy_version")})'
show ccgate audit list --db kbs.db   "(the broker's record of that denial)"
gpu_audit=$("$cli" audit list --db "$work/kbs.db" | grep 'gpu.measurement_mismatch' | tail -1)
echo "$gpu_audit" | sed 's/^/   /'
expect "the broker's record names the GPU's mismatching RIM index" "$(echo "$gpu_audit" | grep -o 'failed\[9\]')" "failed[9]"
unset CCG_NVML_STUB_GPU_STATE CCG_NVML_STUB_READY_FILE

# ---------------------------------------------------------------- 4c. an Intel TDX guest
step "Provider: policy v3 admits the SNP guest or a TD with the approved MRTD (software TD root named)"
python3 - "$work/policy.json" "$work/policy-tdx.json" "$td_mrtd" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["version"] = 3
p["allowed_tees"] = ["snp", "tdx"]
# The TDX section must pin the launch (MRTD, or reference values), as the SNP one does.
p["tdx"] = {"allowed_mrtd": [sys.argv[3]]}
json.dump(p, open(sys.argv[2], "w"))
PY
show ccgate-kbs policy set --file policy-tdx.json   "(policy model-llm v3: snp or tdx, MRTD pinned)"
"$kbs" policy set --config "$work/kbs.json" --file "$work/policy-tdx.json" >/dev/null

step "Guest on Intel TDX: the TD quote (DCAP, QVL order) releases the key; the model is served"
run_agent td "$work/td"
expect "agent exit status" "$agent_rc" 0
served=$(sed -n 's/.*sha384 \([0-9a-f]*\).*/\1/p' "$work/agent-td.out")
expect "digest in memory equals the provider's model" "$served" "$model_sha"

step "Guest on Intel TDX with debugging on: refused; the model server never starts"
run_agent tddebug "$work/td-debug"
expect "reason" "$(failed_reason "$work/agent-tddebug.err")" tdx.debug
expect "model server started" "$(grep -c '^model server' "$work/agent-tddebug.out" || true)" 0
"$cli" audit list --db "$work/kbs.db" | grep 'tdx.debug' | tail -1 | sed 's/^/   /'

# ---------------------------------------------------------------- 5. the enterprise client
step "Client: a prompt reaches the model server only over a channel bound to fresh, approved evidence"
cat > "$work/client-policy.json" <<JSON
{"policy_id": "acme-client", "version": 1, "allowed_measurements": ["$good_meas"]}
JSON
chan() { # chan NAME SERVE_ARGS... -> starts a server; sets chan_port
  "$cli" channel serve --emulate-dir "$work/chan-$1" --max-connections 1 "${@:2}" >"$work/chan-$1.out" 2>"$work/chan-$1.err" &
  pids+=($!)
  for _ in $(seq 1 200); do
    chan_port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/chan-$1.out" "$work/chan-$1.err" | head -1)
    [ -n "$chan_port" ] && return 0
    sleep 0.05
  done
  return 1
}
send() { # send NAME -> sets send_rc, prints the client's output
  show ccgate channel send --connect 127.0.0.1:$chan_port --policy client-policy.json --trust-root ark.pem --message "..."
  send_rc=0
  "$cli" channel send --connect "127.0.0.1:$chan_port" --policy "$work/client-policy.json" \
    --tcb-baseline "$work/milan-tcb.json" --issuer-key "authority=$work/authority.pub" \
    --trust-root "$work/chan-$1/ark.pem" --message "Summarise our Q3 board minutes" >"$work/send-$1.out" 2>&1 || send_rc=$?
  sed 's/^/   /' "$work/send-$1.out"
}
chan good --measurement "$good_meas"
send good
expect "client exit status" "$send_rc" 0
chan debug --measurement "$good_meas" --debug
send debug
expect "client exit status (debug server refused before any prompt leaves)" "$send_rc" 1
chan rogue --measurement "$bad_meas"
send rogue
expect "client exit status (unapproved server refused)" "$send_rc" 1

# ---------------------------------------------------------------- 5b. the inference endpoint
step "Guest: the SNP guest serves the sealed model at an attested HTTPS endpoint (ccgate-agent + ccgate-runner)"
api_key="demo-$(openssl rand -hex 16)"
printf '%s' "$api_key" > "$work/api.key"
api_hash=$(printf '%s\n' "$api_key" | "$bin/ccgate-agent" --hash-api-key)
cat > "$work/agent-endpoint.json" <<JSON
{"attester": {"kind": "emulator", "emulator_dir": "$work/guest"},
 "broker": {"url": "https://127.0.0.1:$port", "ca_file": "$work/kbs.crt", "timeout": 30},
 "key": {"resource": "default/model/llm", "version": 1},
 "artifact": {"location": "$work/model.ccgm", "provider_key": "$work/provider.pub"},
 "server": {"argv": ["$bin/ccgate-runner", "--quiet"]},
 "endpoint": {"listen": "127.0.0.1:0", "port_file": "$work/endpoint.port", "runner_socket": "$work/runner.sock",
              "api_keys": [{"name": "acme-app", "hash": "$api_hash"}]},
 "memlock": "best-effort"}
JSON
show ccgate-agent --config agent-endpoint.json   "(attest, key, unseal into the memfd, ccgate-runner, HTTPS)"
"$bin/ccgate-agent" --config "$work/agent-endpoint.json" >"$work/agent-endpoint.out" 2>"$work/agent-endpoint.err" &
agent_pid=$!
pids+=($agent_pid)
ep_port=$(wait_port "$work/endpoint.port")
echo "   the endpoint: https://127.0.0.1:$ep_port (TLS 1.3; the evidence route binds each TLS session)"

step "Client: curl asks through ccgate client proxy, which verifies the endpoint's evidence first"
proxy() { # proxy NAME POLICY -> starts `ccgate client proxy`; sets proxy_url
  "$cli" client proxy --listen 127.0.0.1:0 --port-file "$work/proxy-$1.port" --endpoint "https://127.0.0.1:$ep_port" \
    --policy "$2" --trust-root "$work/guest/ark.pem" --trust-root-product milan --tcb-baseline "$work/milan-tcb.json" \
    --issuer-key "authority=$work/authority.pub" --api-key-file "$work/api.key" 2>"$work/proxy-$1.err" &
  pids+=($!)
  proxy_url="http://127.0.0.1:$(wait_port "$work/proxy-$1.port")"
}
proxy good "$work/client-policy.json"
show ccgate client proxy --listen 127.0.0.1:0 --endpoint https://127.0.0.1:$ep_port --policy client-policy.json --api-key-file api.key ...
body='{"model": "ccgate-model", "max_tokens": 32, "messages": '"$question"'}'
show curl $proxy_url/v1/chat/completions -d "$body"
curl -s "$proxy_url/v1/chat/completions" -H 'content-type: application/json' -d "$body" > "$work/answer.json"
answer=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["choices"][0]["message"]["content"])' "$work/answer.json" 2>/dev/null || cat "$work/answer.json")
quoted() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1], ensure_ascii=False))' "$1"; }
echo "   answer (a seeded toy model, so not prose): $(quoted "$answer")"
expect "the guest's answer equals the provider's run on the plaintext weights" "$(quoted "$answer")" "$(quoted "$expected_answer")"

step "Client: an endpoint its policy does not approve is refused before the prompt leaves"
cat > "$work/client-policy-other.json" <<JSON
{"policy_id": "acme-client", "version": 2, "allowed_measurements": ["$bad_meas"]}
JSON
proxy other "$work/client-policy-other.json"
refused_status=$(curl -s -o "$work/refused.json" -w '%{http_code}' "$proxy_url/v1/chat/completions" -H 'content-type: application/json' -d "$body")
python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; print("   %s: %s" % (e["code"], ", ".join(e.get("reasons", []))))' "$work/refused.json" || cat "$work/refused.json"
expect "proxy status (the caller gets a clear error, never a fallback)" "$refused_status" 502
expect "reason" "$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["error"].get("reasons", [])))' "$work/refused.json")" snp.measurement_not_allowed
kill -TERM "$agent_pid" 2>/dev/null || true
wait "$agent_pid" 2>/dev/null || true

# ---------------------------------------------------------------- 6. the operator
step "Operator: every decision is in the hash-chained audit log, and in the metrics"
show ccgate audit verify --db kbs.db
audit_rc=0
"$cli" audit verify --db "$work/kbs.db" | sed 's/^/   /' || audit_rc=$?
expect "audit chain" "$audit_rc" 0
curl -s --cacert "$work/kbs.crt" "https://127.0.0.1:$port/metrics" | grep -E '^ccgate_kbs_(releases|denials)' | sed 's/^/   /' || true

printf '\n== the whole flow: %s\n' "$([ "$failures" -eq 0 ] && echo "every step gave its expected outcome" || echo "$failures step(s) did NOT")"
[ "$failures" -eq 0 ]
