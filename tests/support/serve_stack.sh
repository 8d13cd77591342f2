# The whole serving stack on one machine, for the end-to-end test (tests/cli/test_serve_e2e.sh) and the
# endpoint benchmark (scripts/bench-endpoint.sh). Sourced; needs tl_spawn (testlib.sh) or a shell function of
# that name.
#
#   ss_start DIR CLI_BIN_DIR      the provider generates the reference model (ccgate model generate) and
#                                 seals it; the authority emulates the SNP guest (software firmware, TEST
#                                 ROOT) and signs a TCB baseline; ccgate-kbs holds the key under a policy
#                                 pinning the guest's measurement; ccgate-agent on that guest attests,
#                                 unseals, starts ccgate-runner and serves the endpoint.
# Afterwards: ss_ep_port, ss_meas (the measurement), ss_api_key (its file is $DIR/api.key), ss_runner_sock,
# ss_agent_pid, and in DIR: model.plain, guest/ark.pem, milan-tcb.json, authority.pub, client-policy.json
# (the client's policy: the approved measurement), agent.err. Returns non-zero with a message on failure.
# $ss_endpoint_extra, when set, is appended to the agent's "endpoint" section (e.g. ',"rate_per_s":100000').

ss_wait_file() { for _ in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }

ss_provider() { # DIR BIN
  "$2/ccgate" model generate --seed 1311 --out "$1/model.plain" >/dev/null || return 1
  head -c 32 /dev/urandom >"$1/model.key"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$1/provider.pem" 2>/dev/null &&
    openssl pkey -in "$1/provider.pem" -pubout -out "$1/provider.pub" 2>/dev/null || return 1
  "$2/ccgate" seal --in "$1/model.plain" --out "$1/model.ccgm" --key-file "$1/model.key" \
    --key-id serve/model/llm --key-version 1 --signer "$1/provider.pem" >/dev/null
}

ss_authority() { # DIR BIN
  "$2/ccgate" emulate snp --out-dir "$1/guest" --save-state >/dev/null || return 1
  ss_meas=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["measurement"])' "$1/guest/emulator.json")
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$1/authority.key" 2>/dev/null &&
    openssl pkey -in "$1/authority.key" -pubout -out "$1/authority.pub" 2>/dev/null || return 1
  "$2/ccgate" tcb-baseline create --product milan --version 1 --not-before 2024-01-01T00:00:00Z \
    --not-after 2049-12-31T23:59:59Z --up-to-date bootloader=4,tee=0,snp=24,microcode=219 \
    --out "$1/tcb.unsigned.json" >/dev/null &&
    "$2/ccgate" tcb-baseline sign --in "$1/tcb.unsigned.json" --key "$1/authority.key" --issuer authority \
      --out "$1/milan-tcb.json" >/dev/null || return 1
  cat >"$1/client-policy.json" <<JSON
{"policy_id":"client","version":1,"debug_allowed":false,"migration_agent_allowed":false,"allowed_measurements":["$ss_meas"]}
JSON
}

ss_broker() { # DIR BIN
  local ark
  ark=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1/guest/ark.pem")
  cat >"$1/kbs.json" <<JSON
{"store":"$1/kbs.db","port":0,"nonce_ttl":60,"attestation_policy":"model-llm","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$1/kek"},
 "tcb_baselines":["$1/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$1/authority.pub"}}
JSON
  cat >"$1/policy.json" <<JSON
{"policy_id":"model-llm","version":4,"allowed_tees":["snp"],"trusted_roots":[{"product":"milan","pem":$ark}],
 "snp_policy":{"policy_id":"model-llm-snp","version":1,"debug_allowed":false,"migration_agent_allowed":false,
               "allowed_measurements":["$ss_meas"]}}
JSON
  "$2/ccgate-kbs" create-kek --config "$1/kbs.json" >/dev/null &&
    "$2/ccgate-kbs" set-policy --config "$1/kbs.json" --file "$1/policy.json" >/dev/null &&
    "$2/ccgate-kbs" import-key --config "$1/kbs.json" --key-id serve/model/llm --policy-id model-llm \
      --file "$1/model.key" >/dev/null || return 1
  rm -f "$1/model.key" # the broker holds it now, wrapped under its KEK
  tl_spawn "$2/ccgate-kbs" serve --config "$1/kbs.json" --insecure-http --port-file "$1/kbs.port" 2>"$1/kbs.log"
  ss_wait_file "$1/kbs.port" || { echo "the broker did not start: $(tail -3 "$1/kbs.log")"; return 1; }
}

ss_guest() { # DIR BIN
  local hash
  ss_api_key="serve-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  printf '%s' "$ss_api_key" >"$1/api.key"
  hash=$(printf '%s\n' "$ss_api_key" | "$2/ccgate-agent" --hash-api-key) || return 1
  ss_runner_sock=$1/runner.sock
  cat >"$1/agent.json" <<JSON
{"attester":{"kind":"emulator","emulator_dir":"$1/guest"},
 "broker":{"url":"http://127.0.0.1:$(cat "$1/kbs.port")","insecure_http":true,"timeout":60},
 "key":{"resource":"serve/model/llm","version":1},
 "artifact":{"location":"$1/model.ccgm","provider_key":"$1/provider.pub"},
 "server":{"argv":["$2/ccgate-runner","--quiet"]},
 "status":{"listen":"127.0.0.1:0","port_file":"$1/status.port"},
 "endpoint":{"listen":"127.0.0.1:0","port_file":"$1/ep.port","runner_socket":"$ss_runner_sock",
             "gateway":true,"api_keys":[{"name":"e2e","hash":"$hash"}]${ss_endpoint_extra:-}},
 "memlock":"best-effort"}
JSON
  "$2/ccgate-agent" --config "$1/agent.json" >"$1/agent.out" 2>"$1/agent.err" &
  ss_agent_pid=$!
  for _ in $(seq 600); do [ -s "$1/ep.port" ] && break; kill -0 $ss_agent_pid 2>/dev/null || break; sleep 0.1; done
  [ -s "$1/ep.port" ] || { echo "the endpoint did not start: $(tail -5 "$1/agent.err")"; return 1; }
  ss_ep_port=$(cat "$1/ep.port")
}

ss_start() { # DIR BIN
  ss_provider "$1" "$2" || { echo "the provider's model"; return 1; }
  ss_authority "$1" "$2" || { echo "the authority's guest and baseline"; return 1; }
  ss_broker "$1" "$2" || return 1
  ss_guest "$1" "$2"
}
