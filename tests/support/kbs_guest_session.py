"""The shared start of the jwcrypto KBS 0.4.0 guests the shell tests write (test_kbs_tdx.sh,
test_kbs_gpu.sh, test_kbs_collateral_tdx_gpu.sh): plain HTTP to the broker on 127.0.0.1:$PORT, RFC 8785
JSON, ok/FAIL checks, a new session, and the software TD's and GPU's evidence. Each value a guest binds
(REPORT_DATA, the GPU nonce) is computed here, independently of ccgate.

    sys.path.insert(0, os.environ["GUEST_LIB"])   # tests/support (tl_kbs_guest_env sets it)
    from kbs_guest_session import http, check, failed, open_session, report_data, check_release, ...
"""
import base64, hashlib, json, os, subprocess, urllib.error, urllib.request

base = "http://127.0.0.1:%s" % os.environ["PORT"]
failed = []


def http(method, path, body=None, cookie=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if cookie:
        req.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode(), r.headers.get("Set-Cookie")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), None


def canonical(v):  # RFC 8785 for the ASCII strings and objects the runtime data holds
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + detail))
    if not cond:
        failed.append(name)


def open_session(tee):
    """A fresh P-256 tee key and an /auth for TEE: (key, tee_pubkey, cookie, nonce)."""
    from jwcrypto import jwk  # only the guests that hold a tee key need jwcrypto (not http's users)
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    pub = json.loads(key.export_public())
    tee_pubkey = {"kty": "EC", "crv": "P-256", "x": pub["x"], "y": pub["y"]}
    st, body, setcookie = http("POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": tee, "extra-params": {}})
    assert st == 200, (st, body)
    return key, tee_pubkey, setcookie.split(";")[0], json.loads(body)["nonce"]


def check_release(key_id, key, cookie, want):
    """GET KEY_ID in the attested session: it is released, and jwcrypto opens it with KEY to WANT."""
    st, body, _ = http("GET", "/kbs/v0/resource/" + key_id, cookie=cookie)
    check("the key is released", st == 200, body)
    if st == 200:
        from jwcrypto import jwe
        obj = jwe.JWE()
        obj.deserialize(body, key=key)
        check("jwcrypto decrypts the key", obj.payload == want)


def report_data(nonce, tee_pubkey, additional):
    """The KBS REPORT_DATA: SHA-384 of the RFC 8785 runtime data (docs/kbs.md), in hex."""
    runtime = {"additional-evidence": additional, "nonce": nonce, "tee-pubkey": tee_pubkey}
    return hashlib.sha384(canonical(runtime).encode()).hexdigest()


def gpu_evidence(cli, state, out, nonce, tee_pubkey, uuid, tamper=None):
    """A software GPU's report (`ccgate emulate gpu --load-state STATE`) over the session's GPU nonce, as
    the additional_evidence string Trustee's KBS sends. The ccgate-v1 nonce of GPU 0 (docs/gpu-evidence.md):
    SHA-256("ccgate/gpu-nonce/v1" 0x00 len(D) D u32be(0)), D = SHA-384 of the RFC 8785 {"nonce","tee-pubkey"}."""
    d = hashlib.sha384(canonical({"nonce": nonce, "tee-pubkey": tee_pubkey}).encode()).digest()
    gpu_nonce = hashlib.sha256(b"ccgate/gpu-nonce/v1\0" + bytes([len(d)]) + d + (0).to_bytes(4, "big")).hexdigest()
    args = [cli, "emulate", "gpu", "--load-state", state, "--out-dir", out, "--nonce", gpu_nonce]
    subprocess.run(args + (["--tamper", tamper] if tamper else []), check=True, stdout=subprocess.DEVNULL)
    device = {"arch": "Hopper", "uuid": uuid,
              "evidence": base64.b64encode(open(os.path.join(out, "report.bin"), "rb").read()).decode(),
              "certificate": base64.b64encode(open(os.path.join(out, "certs.pem"), "rb").read()).decode()}
    return json.dumps({"nvidia": {"device_evidence_list": [device]}}, separators=(",", ":"))


def tdx_evidence(cli, state, out, report_data_hex, mrtd, extra=()):
    """Trustee's TdxEvidence for a quote of the software TD (`ccgate emulate tdx --load-state STATE`)."""
    subprocess.run([cli, "emulate", "tdx", "--load-state", state, "--out-dir", out, "--report-data", report_data_hex,
                    "--mrtd", mrtd] + list(extra), check=True, stdout=subprocess.DEVNULL)
    return {"cc_eventlog": None, "quote": base64.b64encode(open(os.path.join(out, "quote.bin"), "rb").read()).decode()}
