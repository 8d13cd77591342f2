#!/usr/bin/env python3
"""A minimal KBS 0.4.0 guest for the shell tests (stdlib only), with `ccgate emulate snp` evidence.

    kbs_guest_release.py probe            prints "<status> <reason>" of GET /readyz ("200 ready")
    kbs_guest_release.py release KEY_ID   auth, attest, then GET the resource: "<status> <reason>"
                                          ("200 released" when a JWE came back); a refused
                                          attestation prints "attest <status> <every reason, comma-separated>"

Environment: CCG_CLI (the ccgate binary), TMP (holds emu/ saved emulator state and tee.pub.der, the
guest's P-256 public key in DER), PORT (the broker on 127.0.0.1, plain HTTP), MEAS (the measurement);
NO_CERTS=1 sends the report without its certificate chain (the broker must find the VCEK itself).
"""
import base64, hashlib, json, os, subprocess, sys, urllib.error, urllib.request
cli, tmp, port, meas = os.environ["CCG_CLI"], os.environ["TMP"], os.environ["PORT"], os.environ["MEAS"]
base = "http://127.0.0.1:%s" % port
point = open(os.path.join(tmp, "tee.pub.der"), "rb").read()[-65:]
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
tee_pubkey = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": b64u(point[1:33]), "y": b64u(point[33:])}

def http(method, path, body=None, cookie=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if cookie:
        req.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode(), r.headers.get("Set-Cookie")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), None

def reason(body):
    try:
        doc = json.loads(body)
    except ValueError:
        return "-"
    if "reason" in doc:
        return doc["reason"]
    return (doc.get("reasons") or ["-"])[0]

def attestation(nonce):
    runtime = {"additional-evidence": "", "nonce": nonce, "tee-pubkey": tee_pubkey}
    rd = hashlib.sha384(json.dumps(runtime, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    out = os.path.join(tmp, "ev")
    subprocess.run([cli, "emulate", "snp", "--out-dir", out, "--load-state", os.path.join(tmp, "emu"),
                    "--report-data", rd, "--measurement", meas], check=True, stdout=subprocess.DEVNULL)
    pems = open(os.path.join(out, "certs.pem")).read().split("-----END CERTIFICATE-----")
    if os.environ.get("NO_CERTS") == "1":
        pems = []
    chain = [{"cert_type": t, "data": base64.b64encode((p.strip() + "\n-----END CERTIFICATE-----\n").encode()).decode()}
             for t, p in zip(["VCEK", "ASK"], pems) if p.strip()]
    report = base64.b64encode(open(os.path.join(out, "report.bin"), "rb").read()).decode()
    return {"runtime-data": {"nonce": nonce, "tee-pubkey": tee_pubkey},
            "tee-evidence": {"primary_evidence": {"attestation_report": report, "cert_chain": chain},
                             "additional_evidence": ""}}

if sys.argv[1] == "probe":
    st, body, _ = http("GET", "/readyz")
    print(st, reason(body) if st != 200 else "ready")
else:
    st, body, setcookie = http("POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "snp", "extra-params": {}})
    assert st == 200, (st, body)
    cookie, nonce = setcookie.split(";")[0], json.loads(body)["nonce"]
    st, body, _ = http("POST", "/kbs/v0/attest", attestation(nonce), cookie=cookie)
    if st != 200:
        try:
            reasons = json.loads(body).get("reasons", [])
        except ValueError:
            reasons = ["-"]
        print("attest", st, ",".join(reasons))
        sys.exit(0)
    st, body, _ = http("GET", "/kbs/v0/resource/" + sys.argv[2], cookie=cookie)
    print(st, "released" if st == 200 else reason(body))
