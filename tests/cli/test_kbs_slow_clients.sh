#!/usr/bin/env bash
# Slow clients against ccgate-kbs, driven from outside with real sockets (session 8, "attack" (1)):
#   A  directly: a body trickled a byte at a time is cut by the request deadline, unanswered; a sustained
#      flood of half-open and dripping connections from 24 addresses (more than limits.connections, each
#      reconnecting as soon as it is cut) leaves well-behaved clients on another address served (every
#      request of theirs answered), the daemon's sockets stay within the limit, its thread count does not
#      move, and its descriptors return to where they were once the flood ends; kept-alive connections
#      left silent after their answer are closed too;
#   B  behind HAProxy in TCP mode (docs/kbs.md, "A load balancer"), when it is installed: with the
#      broker's per-address limit left at its meaning for direct clients, one attacker's slow connections
#      through the balancer use up the balancer's share and the next client through it is closed
#      unanswered (the finding, reproduced); with the configuration docs/kbs.md now gives (the per-source
#      limit at the balancer, server maxconn below the broker's connections, per-address raised on the
#      broker), the same attack leaves other clients served.
# No check is on time: socket timeouts are generous upper bounds (the deadline is 3 s).
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
py=${CCG_PYTHON:-/usr/bin/python3}
[ -x "$kbs" ] || skip_or_fail "$kbs is missing"
command -v "$py" >/dev/null || skip_or_fail "python3 is missing"
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
rc=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; rc=1; }

config() { # config NAME LIMITS -> path
  cat >"$tmp/$1.json" <<EOF
{"store":"$tmp/$1.db","port":0,"threads":2,"attestation_policy":"p","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/$1.kek"},"limits":$2}
EOF
  "$kbs" create-kek --config "$tmp/$1.json" >/dev/null || { echo "FAIL create-kek"; exit 1; }
  echo "$tmp/$1.json"
}

# start NAME CONFIG: serve in the background; sets $port and $pid.
start() {
  rm -f "$tmp/$1.port"
  tl_spawn "$kbs" serve --config "$2" --insecure-http --port-file "$tmp/$1.port" 2>"$tmp/$1.log"
  pid=$!
  for _ in $(seq 150); do [ -s "$tmp/$1.port" ] && break; sleep 0.1; done
  [ -s "$tmp/$1.port" ] || { echo "FAIL $1 did not start"; cat "$tmp/$1.log"; exit 1; }
  port=$(cat "$tmp/$1.port")
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

# The socket helpers every phase uses.
cat >"$tmp/slow.py" <<'PY'
import os, socket, threading, time

failed = []
def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + str(detail)[:300]), flush=True)
    if not cond:
        failed.append(name)

def connect(port, src, timeout=10):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s

def read_answer(s):
    """One HTTP answer (headers and a Content-Length body), or b'' when the server closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(4096)
        if not d:
            return data
        data += d
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        d = s.recv(4096)
        if not d:
            break
        body += d
    return head + b"\r\n\r\n" + body

def served(port, src, path=b"/healthz", method=b"GET", body=b"", timeout=20):
    """A well-behaved request on a fresh connection: the status line, or the error."""
    try:
        s = connect(port, src, timeout)
        s.sendall(method + b" " + path + b" HTTP/1.1\r\nHost: kbs\r\nConnection: close\r\n"
                  + (b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body) if body else b"")
                  + b"\r\n" + body)
        got = read_answer(s)
        s.close()
        return got.split(b"\r\n", 1)[0].decode(errors="replace") if got else "closed unanswered"
    except OSError as e:
        return "error: %s" % e

def served_once_up(port, src="127.0.0.1", tries=50):
    """Waits (bounded) until a request through port is answered 200, then says whether it was."""
    for _ in range(tries):
        if served(port, src).startswith("HTTP/1.1 200"):
            return True
        time.sleep(0.2)
    return False

def cut_unanswered(s, limit):
    """Whether the server closes s without answering within limit seconds (reading what comes)."""
    t0, got = time.time(), b""
    while time.time() - t0 < limit:
        s.settimeout(0.5)
        try:
            d = s.recv(4096)
            if not d:
                return got == b"", got
            got += d
        except socket.timeout:
            continue
        except OSError:
            return got == b"", got
    return False, got

def fds(pid):
    n = sockets = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        n += 1
        try:
            sockets += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass
    return n, sockets

def threads(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1

class Flood:
    """Attackers on `addresses`, each holding up to `per` connections that send an unfinished request
    and then a header line every 0.3 s; a connection the server cuts is replaced at once."""
    def __init__(self, port, addresses, per):
        self.port, self.addresses, self.per = port, addresses, per
        self.stop = threading.Event()
        self.cut = 0
        self.answered = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(a,), daemon=True) for a in addresses]

    def run(self, src):
        conns = []
        while not self.stop.is_set():
            while len(conns) < self.per and not self.stop.is_set():
                try:
                    s = connect(self.port, src, 2)
                    s.sendall(b"POST /kbs/v0/auth HTTP/1.1\r\nHost: kbs\r\n")
                    conns.append(s)
                except OSError:
                    break
            for s in list(conns):
                try:
                    s.sendall(b"X-Drip: 1\r\n")
                    s.setblocking(False)
                    d = s.recv(4096)
                    if d == b"":
                        raise OSError("closed")
                    with self.lock:
                        self.answered += 1
                except BlockingIOError:
                    continue
                except OSError:
                    conns.remove(s)
                    s.close()
                    with self.lock:
                        self.cut += 1
            self.stop.wait(0.3)
        for s in conns:
            s.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join()
PY

# ---------------------------------------------------------------- A: directly
cfg=$(config a '{"connections":48,"connections_per_address":8,"request_deadline":3,"idle_timeout":30,"anonymous_audit_window":0}')
start a "$cfg"
a_pid=$pid
PORT=$port PID=$a_pid LIB=$tmp "$py" - <<'PY' || rc=1
import os, sys, time
sys.path.insert(0, os.environ["LIB"])
from slow import *
port, pid = int(os.environ["PORT"]), int(os.environ["PID"])
check("the daemon serves before the attack", served(port, "127.0.0.1").startswith("HTTP/1.1 200"))
base_fds, base_sockets = fds(pid)
base_threads = threads(pid)

# A body trickled one byte at a time: the headers are whole, the body never is.
s = connect(port, "127.0.0.5")
s.sendall(b"POST /kbs/v0/auth HTTP/1.1\r\nHost: kbs\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n")
def trickle():
    for _ in range(100):
        try:
            s.sendall(b"{")
        except OSError:
            return
        time.sleep(0.2)
import threading
t = threading.Thread(target=trickle, daemon=True)
t.start()
cut, got = cut_unanswered(s, 20)
check("a body trickled a byte every 0.2 s is cut by the deadline, unanswered", cut, got[:80])
s.close()
# A body that claims 1 GiB and sends it slowly: cut the same way (the size limit alone would wait for it).
s = connect(port, "127.0.0.6")
s.sendall(b"POST /kbs/v0/attest HTTP/1.1\r\nHost: kbs\r\nContent-Length: 1073741824\r\n\r\n" + b"x" * 65536)
cut, got = cut_unanswered(s, 20)
check("a 1 GiB body sent slowly is cut (by the deadline or the size limit), never held open", cut or
      got.startswith(b"HTTP/1.1 413"), got[:80])
s.close()

# Kept-alive connections left silent after their answer: the next request's deadline closes them.
idle = []
for i in range(6):
    s = connect(port, "127.0.0.7")
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: kbs\r\n\r\n")
    idle.append((s, read_answer(s)))
check("six kept-alive connections are answered", all(a.startswith(b"HTTP/1.1 200") for _, a in idle))
check("then, left silent, every one of them is closed by the deadline",
      all(cut_unanswered(s, 20)[0] for s, _ in idle))

# A sustained flood from 24 addresses x 4 connections (96 > limits.connections 48), each attacker
# reconnecting as soon as it is cut, while a well-behaved client on 127.0.0.1 keeps asking.
answers, peak_sockets, peak_threads = [], 0, 0
with Flood(port, ["127.0.3.%d" % i for i in range(1, 25)], 4) as flood:
    time.sleep(1.0)
    for i in range(6):
        answers.append(served(port, "127.0.0.1", timeout=30))
        answers.append(served(port, "127.0.0.1", path=b"/kbs/v0/auth", method=b"POST",
                              body=b'{"version":"0.4.0","tee":"snp","extra-params":{}}', timeout=30))
        f, so = fds(pid)
        peak_sockets = max(peak_sockets, so)
        peak_threads = max(peak_threads, threads(pid))
    time.sleep(4)  # at least one deadline with the flood on
    f, so = fds(pid)
    peak_sockets = max(peak_sockets, so)
print("flood: %d attacker connections cut, %d answered; well-behaved answers: %s" %
      (flood.cut, flood.answered, sorted(set(answers))))
check("every well-behaved request during the flood is answered (12 of 12)",
      all(a.startswith("HTTP/1.1 200") for a in answers), answers)
check("the attackers' connections were cut and none was answered", flood.cut > 0 and flood.answered == 0,
      (flood.cut, flood.answered))
check("the daemon's sockets stay within limits.connections (48) plus its listeners",
      peak_sockets <= base_sockets + 48, (peak_sockets, base_sockets))
check("the daemon's thread count does not move under the flood", peak_threads == base_threads,
      (peak_threads, base_threads))
# Once the flood ends, every connection it held is closed within a deadline or two.
for _ in range(40):
    if fds(pid)[0] <= base_fds:
        break
    time.sleep(0.5)
check("after the flood the daemon's descriptors are back to where they were", fds(pid)[0] <= base_fds,
      (fds(pid), base_fds))
check("and it serves 127.0.0.1 at once", served(port, "127.0.0.1").startswith("HTTP/1.1 200"))
sys.exit(1 if failed else 0)
PY
if grep -q '"reasons":\["kbs.request_deadline"\]' "$tmp/a.log"; then ok "the cuts are logged with kbs.request_deadline"
else bad "no kbs.request_deadline line in the log"; fi
stop "$a_pid"

# ---------------------------------------------------------------- B: behind HAProxy (TCP mode)
hap=$(command -v haproxy || true)
if [ -z "$hap" ]; then
  tl_skip_check "haproxy is not installed: the slow clients through a load balancer did not run" || rc=1
  exit $rc
fi
free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# haproxy_cfg NAME BACKEND_PORT EXTRA_FRONTEND SERVER_OPTIONS -> writes $tmp/NAME.cfg; sets $lbport
haproxy_cfg() {
  lbport=$(free_port)
  {
    printf 'defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n    timeout queue 30s\n'
    printf 'frontend kbs\n    bind 127.0.0.1:%s\n' "$lbport"
    [ -z "$3" ] || printf '%s\n' "$3"
    printf '    default_backend kbs_instances\n'
    printf 'backend kbs_instances\n    server kbs0 127.0.0.1:%s %s\n' "$2" "$4"
  } >"$tmp/$1.cfg"
  "$hap" -c -q -f "$tmp/$1.cfg" || { bad "haproxy refuses $1.cfg"; cat "$tmp/$1.cfg"; exit 1; }
}

# B1: the balancer as the earlier docs had it; the broker's per-address limit (8) meant for direct clients.
cfg=$(config b1 '{"connections":48,"connections_per_address":8,"request_deadline":3,"idle_timeout":30,"anonymous_audit_window":0}')
start b1 "$cfg"
b1_pid=$pid
haproxy_cfg b1 "$port" "" ""
tl_spawn "$hap" -db -f "$tmp/b1.cfg" 2>"$tmp/b1-haproxy.log"
h1=$!
LB=$lbport LIB=$tmp "$py" - <<'PY' || rc=1
import os, sys, time
sys.path.insert(0, os.environ["LIB"])
from slow import *
lb = int(os.environ["LB"])
check("through HAProxy: served before the attack", served_once_up(lb))
with Flood(lb, ["127.0.0.2"], 8) as flood:
    time.sleep(1.0)
    got = [served(lb, "127.0.0.1", timeout=10) for _ in range(3)]
print("through HAProxy, per-address 8 on the broker: the other client got", got)
check("finding reproduced: 8 slow connections of ONE attacker through the balancer use up the broker's "
      "per-address share, and another client through it is closed unanswered",
      any(a == "closed unanswered" for a in got), got)
sys.exit(1 if failed else 0)
PY
stop "$h1"
stop "$b1_pid"

# B2: docs/kbs.md's configuration: the balancer limits each source (4 at once) and queues above the
# broker's capacity (maxconn 40 < connections 48); the broker's per-address limit is raised to its
# connection limit (every connection comes from the balancer).
cfg=$(config b2 '{"connections":48,"connections_per_address":48,"request_deadline":3,"idle_timeout":30,"anonymous_audit_window":0}')
start b2 "$cfg"
b2_pid=$pid
haproxy_cfg b2 "$port" "$(printf '    stick-table type ip size 100k expire 60s store conn_cur\n    tcp-request connection track-sc0 src\n    tcp-request connection reject if { sc0_conn_cur gt 4 }\n')" "maxconn 40"
tl_spawn "$hap" -db -f "$tmp/b2.cfg" 2>"$tmp/b2-haproxy.log"
h2=$!
LB=$lbport LIB=$tmp "$py" - <<'PY' || rc=1
import os, sys, time
sys.path.insert(0, os.environ["LIB"])
from slow import *
lb = int(os.environ["LB"])
check("through HAProxy (per-source limit): served before the attack", served_once_up(lb))
with Flood(lb, ["127.0.0.2"], 32) as one, Flood(lb, ["127.0.4.%d" % i for i in range(1, 9)], 4) as many:
    time.sleep(1.0)
    got = [served(lb, "127.0.0.1", timeout=30) for _ in range(6)]
print("through HAProxy, per-source limit: the other client got", got, "attackers cut:", one.cut, many.cut)
check("one attacker with 32 slow connections and 8 more with 4 each: every request of another client "
      "through the balancer is answered (6 of 6)", all(a.startswith("HTTP/1.1 200") for a in got), got)
check("no attacker connection was answered", one.answered == 0 and many.answered == 0, (one.answered, many.answered))
sys.exit(1 if failed else 0)
PY
stop "$h2"
stop "$b2_pid"
exit $rc
