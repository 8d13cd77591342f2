#!/usr/bin/env bash
# ccgate-runner over its Unix socket against `ccgate model run` on the same plaintext model (docs/runner.md):
#   - completions and chat, streamed and not, return exactly the text (and finish reason and token counts) that
#     `ccgate model run [--chat]` prints for the same prompt and max_tokens;
#   - the model server contract: the model handed over in a sealed memfd (CCGATE_MODEL_FD, CCGATE_MODEL_LEN) and
#     the socket from CCGATE_RUNNER_SOCKET serve the same answers; a wrong length or descriptor is refused;
#   - refusals with their runner.* codes (unknown path 404, method 405, body limit 413 declared and chunked,
#     another model's name, a prompt over the context, a bad max_tokens, bad JSON) while it keeps serving;
#   - the socket is 0600, a non-socket at its path is not replaced, and no prompt or completion is logged;
#   - a malformed model file is refused at start with runner.model_malformed.
set -euo pipefail
. "$(dirname "$0")/../support/testlib.sh"

cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
runner=${CCG_RUNNER:-}
[ -n "$runner" ] && [ -x "$runner" ] || skip_or_fail "CCG_RUNNER does not name the ccgate-runner binary"
command -v curl >/dev/null 2>&1 || skip_or_fail "curl is not installed"
command -v python3 >/dev/null 2>&1 || skip_or_fail "python3 is not installed"

work=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$work"' EXIT
failed=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

"$cli" model generate --seed 42 --out "$work/m.ccgm" >/dev/null

# wait_ready SOCKET PID: until /healthz answers (or the runner died).
wait_ready() {
  for _ in $(seq 200); do
    if curl -sf --unix-socket "$1" http://runner/healthz >/dev/null 2>&1; then return 0; fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# The comparison: each case through the socket (curl) and through `ccgate model run --json`.
cat >"$work/compare.py" <<'PY'
import json, subprocess, sys
cli, sock, model, which = sys.argv[1:5]
def post(path, body):
    r = subprocess.run(["curl", "-sS", "-N", "--unix-socket", sock, "-H", "Content-Type: application/json",
                        "--data-binary", "@-", "http://runner" + path], input=json.dumps(body).encode(),
                       capture_output=True, check=True)
    return r.stdout.decode("utf-8")
def reference(prompt, n, chat):
    args = [cli, "model", "run", "--model", model, "--max-tokens", str(n), "--json"]
    args += ["--chat", json.dumps(prompt)] if chat else [prompt]
    return json.loads(subprocess.run(args, capture_output=True, check=True).stdout)
def sse(text):
    events = text.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]", "the stream does not end with [DONE]"
    chunks = [json.loads(e[len("data: "):]) for e in events[:-2]]
    assert all(e.startswith("data: ") for e in events[:-2])
    return chunks
cases = [("Hello, world", 32), ("", 16), ("\u00fcn\u00efc\u00f6d\u00e9 \u2713 \U0001F600", 24), ("x" * 200, 64),
         ("The quick brown fox", 1), ("MARKER-PROMPT-7f3a", 48), ("a" * 250, 64)]
chats = [([{"role": "user", "content": "hi"}], 32),
         ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?\nAnswer:"}], 40),
         ([{"role": "user", "content": "one"}, {"role": "assistant", "content": "two"},
           {"role": "user", "content": "MARKER-PROMPT-7f3a"}], 8)]
bad = 0
n_cases = 0
for chat, items in ((False, cases), (True, chats)):
    if which == "short":
        items = items[:2]
    for prompt, n in items:
        ref = reference(prompt, n, chat)
        path = "/v1/chat/completions" if chat else "/v1/completions"
        body = {"messages": prompt} if chat else {"prompt": prompt}
        body.update({"max_tokens": n, "model": "ccgate-model", "temperature": 0})
        whole = json.loads(post(path, body))
        c = whole["choices"][0]
        got = c["message"]["content"] if chat else c["text"]
        ok = (got == ref["text"] and c["finish_reason"] == ref["finish_reason"] and
              whole["usage"]["prompt_tokens"] == ref["prompt_tokens"] and
              whole["usage"]["completion_tokens"] == ref["completion_tokens"] and
              whole["object"] == ("chat.completion" if chat else "text_completion") and
              whole["model"] == "ccgate-model" and (not chat or c["message"]["role"] == "assistant"))
        body["stream"] = True
        chunks = sse(post(path, body))
        if chat:
            assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
            chunks = chunks[1:]
            streamed = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks)
        else:
            streamed = "".join(ch["choices"][0]["text"] for ch in chunks)
        ok = ok and streamed == ref["text"] and chunks[-1]["choices"][0]["finish_reason"] == ref["finish_reason"]
        ok = ok and all(ch["choices"][0]["finish_reason"] is None for ch in chunks[:-1])
        ok = ok and all(ch["object"] == ("chat.completion.chunk" if chat else "text_completion") for ch in chunks)
        ok = ok and len({ch["id"] for ch in chunks}) == 1
        n_cases += 1
        if not ok:
            bad += 1
            print("MISMATCH", "chat" if chat else "completion", repr(prompt)[:60], n, repr(ref["text"]), repr(got),
                  repr(streamed))
print("compared", n_cases, "cases,", bad, "mismatches")
sys.exit(1 if bad else 0)
PY

# --- direct mode: --model FILE ---
sock=$work/runner.sock
tl_spawn "$runner" --socket "$sock" --model "$work/m.ccgm" 2>"$work/runner.log"
rpid=$!
if wait_ready "$sock" "$rpid"; then pass "the runner serves /healthz"; else
  cat "$work/runner.log"; fail "the runner did not start"; exit 1; fi

if python3 "$work/compare.py" "$cli" "$sock" "$work/m.ccgm" all; then
  pass "completions and chat, streamed and not, equal ccgate model run"
else
  fail "the runner's answers differ from ccgate model run"
fi

models=$(curl -sS --unix-socket "$sock" http://runner/v1/models)
if [ "$(printf '%s' "$models" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["object"], d["data"][0]["id"])')" = "list ccgate-model" ]; then
  pass "GET /v1/models lists the served model"
else
  fail "GET /v1/models: $models"
fi

# expect_error STATUS CODE CURL-ARGS...: the status and the runner.* code of the error body.
expect_error() {
  local want_status=$1 want_code=$2 status code
  shift 2
  status=$(curl -sS -o "$work/err.json" -w '%{http_code}' --unix-socket "$sock" "$@" || true)
  code=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"]["code"])' "$work/err.json" 2>/dev/null || true)
  if [ "$status" = "$want_status" ] && [ "$code" = "$want_code" ]; then
    pass "$want_status $want_code: ${*: -1}"
  else
    fail "expected $want_status $want_code, got $status '$code' for $*"
  fi
}
expect_error 404 runner.not_found http://runner/admin
expect_error 404 runner.not_found http://runner/v1/completions/
expect_error 404 runner.not_found --path-as-is http://runner/v1/../healthz
expect_error 404 runner.not_found http://runner/v1%2Fcompletions
expect_error 405 runner.method_not_allowed http://runner/v1/completions
expect_error 405 runner.method_not_allowed -X DELETE http://runner/healthz
expect_error 405 runner.method_not_allowed -d '{}' http://runner/v1/models
head -c $((2 << 20)) /dev/zero | tr '\0' 'a' >"$work/big.txt"
expect_error 413 runner.body_too_large --data-binary @"$work/big.txt" http://runner/v1/completions
expect_error 413 runner.body_too_large -H 'Transfer-Encoding: chunked' --data-binary @"$work/big.txt" http://runner/v1/completions
expect_error 404 runner.model_not_found -d '{"prompt":"x","model":"gpt-4"}' http://runner/v1/completions
long=$(head -c 300 /dev/zero | tr '\0' 'b')
expect_error 400 runner.prompt_too_long -d "{\"prompt\":\"$long\"}" http://runner/v1/completions
expect_error 400 runner.request_invalid -d '{"prompt":"x","max_tokens":100000}' http://runner/v1/completions
expect_error 400 runner.request_invalid -d '{"prompt":"x",' http://runner/v1/completions
expect_error 400 runner.request_invalid -d '{"messages":[{"role":"robot","content":"x"}]}' http://runner/v1/chat/completions
if curl -sf --unix-socket "$sock" http://runner/healthz >/dev/null; then pass "still serving after the refusals"; else
  fail "the runner stopped serving"; fi

mode=$(stat -c %a "$sock")
if [ "$mode" = 600 ]; then pass "the socket is 0600"; else fail "the socket's mode is $mode"; fi
if grep -q "MARKER-PROMPT-7f3a" "$work/runner.log"; then fail "the log holds a prompt"; else
  pass "no prompt in the log"; fi
if grep -qE "runner.not_found|runner.body_too_large" "$work/runner.log"; then pass "refusals are logged with their codes"; else
  fail "the log lacks the refusal codes"; fi
kill -TERM "$rpid"
wait "$rpid" 2>/dev/null && rc=0 || rc=$?
if [ "$rc" = 0 ] && [ ! -e "$sock" ]; then pass "SIGTERM: exit 0, socket removed"; else
  fail "SIGTERM: exit $rc, socket $( [ -e "$sock" ] && echo left || echo removed)"; fi

# --- the model server contract: a sealed memfd, the socket from the environment ---
cat >"$work/memfd.py" <<'PY'
import fcntl, os, sys
runner, model, sock, len_delta = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
data = open(model, "rb").read()
fd = os.memfd_create("ccgate-model", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
view = memoryview(data)
while view:
    view = view[os.write(fd, view):]
fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL)
os.set_inheritable(fd, True)
env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CCGATE_MODEL_FD": str(fd),
       "CCGATE_MODEL_LEN": str(len(data) + len_delta), "CCGATE_RUNNER_SOCKET": sock,
       "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "")}
os.execve(runner, [runner], env)
PY
sock2=$work/contract.sock
tl_spawn python3 "$work/memfd.py" "$runner" "$work/m.ccgm" "$sock2" 0 2>"$work/contract.log"
cpid=$!
sock_saved=$sock
sock=$sock2
if wait_ready "$sock2" "$cpid" && python3 "$work/compare.py" "$cli" "$sock2" "$work/m.ccgm" short; then
  pass "the memfd contract serves the same answers"
else
  cat "$work/contract.log"
  fail "the memfd contract"
fi
kill -TERM "$cpid"
wait "$cpid" 2>/dev/null || true
sock=$sock_saved

for delta in 1 -1; do
  if python3 "$work/memfd.py" "$runner" "$work/m.ccgm" "$work/bad.sock" "$delta" 2>"$work/bad.log"; then
    fail "a memfd of another length was served"
  elif grep -q runner.model_unavailable "$work/bad.log"; then
    pass "CCGATE_MODEL_LEN off by $delta: runner.model_unavailable"
  else
    cat "$work/bad.log"; fail "CCGATE_MODEL_LEN off by $delta: no runner.model_unavailable"
  fi
done
if env CCGATE_MODEL_FD=9 CCGATE_MODEL_LEN=100 "$runner" --socket "$work/bad.sock" 2>"$work/bad.log"; then
  fail "a closed descriptor was served"
elif grep -q runner.model_unavailable "$work/bad.log"; then
  pass "a closed CCGATE_MODEL_FD: runner.model_unavailable"
else
  cat "$work/bad.log"; fail "a closed CCGATE_MODEL_FD: no runner.model_unavailable"
fi
rc=0
env CCGATE_MODEL_FD=9 CCGATE_MODEL_LEN=100 "$runner" --socket "$work/bad.sock" --model "$work/m.ccgm" 2>/dev/null || rc=$?
if [ "$rc" = 2 ]; then pass "--model and CCGATE_MODEL_FD are exclusive"; else fail "--model with CCGATE_MODEL_FD: exit $rc"; fi

# --- bounded generations: with --concurrency 1, a stream whose client does not read holds the slot (503
# runner.busy for others); its client going away frees it ---
"$cli" model generate --seed 3 --max-seq 4096 --out "$work/long.ccgm" >/dev/null
sock3=$work/busy.sock
tl_spawn "$runner" --socket "$sock3" --model "$work/long.ccgm" --concurrency 1 --max-tokens-cap 4096 --timeout 120 \
  2>"$work/busy.log"
bpid=$!
if wait_ready "$sock3" "$bpid" && python3 - "$sock3" <<'PY'
import json, socket, subprocess, sys, time
sock = sys.argv[1]
def ask():
    r = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "--unix-socket", sock, "-d",
                        '{"prompt":"y","max_tokens":2}', "http://runner/v1/completions"], capture_output=True, check=True)
    body, status = r.stdout.decode().rsplit("\n", 1)
    return status, body
holder = socket.socket(socket.AF_UNIX)
holder.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
holder.connect(sock)
body = json.dumps({"prompt": "x", "max_tokens": 4000, "stream": True})
holder.sendall(("POST /v1/completions HTTP/1.1\r\nHost: runner\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
busy = False
for _ in range(200):
    status, text = ask()
    if status == "503" and json.loads(text)["error"]["code"] == "runner.busy":
        busy = True
        break
    time.sleep(0.05)
holder.close()
free = False
for _ in range(400):
    status, text = ask()
    if status == "200":
        free = True
        break
    time.sleep(0.05)
print("busy:", busy, "freed:", free)
sys.exit(0 if busy and free else 1)
PY
then
  pass "a held slot gives 503 runner.busy; the client going away frees it"
else
  fail "bounded generations (runner.busy)"
fi
kill -TERM "$bpid" 2>/dev/null || true
wait "$bpid" 2>/dev/null || true

# --- refusals at start ---
cp "$work/m.ccgm" "$work/bad.ccgm"
tl_flip_byte "$work/bad.ccgm" 20
rc=0
"$runner" --socket "$work/bad.sock" --model "$work/bad.ccgm" 2>"$work/bad.log" || rc=$?
if [ "$rc" = 2 ] && grep -q runner.model_malformed "$work/bad.log"; then
  pass "a malformed model: exit 2, runner.model_malformed"
else
  fail "a malformed model: exit $rc"
fi
rc=0
"$cli" model run --model "$work/bad.ccgm" "x" 2>"$work/bad.log" >/dev/null || rc=$?
if [ "$rc" = 2 ] && grep -q runner.model_malformed "$work/bad.log"; then pass "model run refuses it too"; else
  fail "model run on a malformed model: exit $rc"; fi
echo "not a socket" >"$work/file.sock"
rc=0
"$runner" --socket "$work/file.sock" --model "$work/m.ccgm" 2>"$work/bad.log" || rc=$?
if [ "$rc" = 1 ] && grep -q runner.socket_failed "$work/bad.log" && [ "$(cat "$work/file.sock")" = "not a socket" ]; then
  pass "a regular file at the socket path is refused and kept"
else
  fail "a regular file at the socket path: exit $rc"
fi
rc=0
"$runner" --help >/dev/null || rc=$?
[ "$rc" = 0 ] && pass "--help" || fail "--help exit $rc"
rc=0
"$runner" --model "$work/m.ccgm" 2>/dev/null || rc=$?
[ "$rc" = 2 ] && pass "no socket: exit 2" || fail "no socket: exit $rc"

# --- the one log schema (docs/logging.md): every line the runner wrote, requests, refusals and start-up
# failures alike, is a JSON object with ts, level, component "runner", event and request_id ---
"$runner" --socket "$work/file.sock" --model "$work/m.ccgm" 2>"$work/fail.log" || true
if python3 - "$work/runner.log" "$work/busy.log" "$work/fail.log" <<'PY'
import json, sys
bad = 0
lines = 0
for path in sys.argv[1:]:
    for line in open(path, encoding="utf-8", errors="replace"):
        lines += 1
        try:
            d = json.loads(line)
            assert isinstance(d, dict) and d.get("component") == "runner"
            assert all(k in d for k in ("ts", "level", "component", "event", "request_id"))
            assert d["level"] in ("debug", "info", "warn", "error")
        except Exception:
            bad += 1
            print("not the log schema (%s): %r" % (path, line[:200]))
fail = [json.loads(l) for l in open(sys.argv[3])]
if not any(d["level"] == "error" and d.get("reason") == "runner.socket_failed" for d in fail):
    print("the start-up failure is not logged at level error with its reason")
    bad += 1
print(lines, "lines checked")
sys.exit(1 if bad or lines == 0 else 0)
PY
then pass "every runner log line is one JSON object of the schema; a start-up failure is level error"
else fail "runner log lines outside the schema"; fi

if [ "$failed" -ne 0 ]; then
  echo "$failed check(s) failed"
  exit 1
fi
echo "all runner checks passed"
