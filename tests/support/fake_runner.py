"""A stand-in for ccgate-runner in the agent's endpoint test: it keeps the model server contract
(docs/agent.md: non-dumpable first, the memfd mapped read-only) and answers on the Unix socket named by
CCGATE_RUNNER_SOCKET: GET /healthz, GET /v1/models (with the SHA-384 of the memfd it was given) and
POST /v1/chat/completions (a fixed completion; never echoes the prompt)."""
import ctypes
import hashlib
import http.server
import json
import mmap
import os
import socketserver

PR_SET_DUMPABLE = 4
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)

fd = int(os.environ["CCGATE_MODEL_FD"])
length = int(os.environ["CCGATE_MODEL_LEN"])
with mmap.mmap(fd, length, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ) as m:
    MODEL_SHA384 = hashlib.sha384(m).hexdigest()
path = os.environ["CCGATE_RUNNER_SOCKET"]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass  # never log requests

    def reply(self, obj, status=200):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            self.reply({"status": "ok"})
        elif self.path == "/v1/models":
            self.reply({"object": "list", "data": [{"id": "fake", "object": "model"}], "model_sha384": MODEL_SHA384})
        else:
            self.reply({"error": "not found"}, 404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        self.reply({"object": "chat.completion", "authorization_seen": "Authorization" in self.headers,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "RESPONSE-MARKER-7f3a"},
                                 "finish_reason": "stop"}]})


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


if os.path.exists(path):
    os.unlink(path)
Server(path, Handler).serve_forever()
