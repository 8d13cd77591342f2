# A KBS 0.4.0 guest for tests whose steps go to chosen broker instances (stdlib, plus python3-cryptography
# when present to open the released JWE). Evidence comes from `ccgate emulate snp` loaded from a saved
# emulator state and bound to the session's nonce and the guest's tee-pubkey, as in test_kbs_nonce.sh.
#
#   g = Guest(cli, emu_dir, meas, tee_key_pem, work_dir)
#   cookie, nonce, rid = g.auth(base)                 # base: "http://127.0.0.1:PORT"
#   st, body, rid = g.attest(base, cookie, g.attestation(nonce))
#   st, body, rid = g.resource(base, key_id, cookie=cookie) or (..., token=T)
#   g.open_jwe(body) -> the released bytes (None when python3-cryptography is missing)
#
# A connection refused, reset or cut before the answer raises Down (the caller retries elsewhere);
# every answer, whatever its status, is returned with its X-Request-Id.
import base64
import hashlib
import http.client
import json
import os
import socket
import subprocess
import urllib.parse

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
    HAVE_CRYPTO = True
except ImportError:  # the structure of the JWE is still checked
    HAVE_CRYPTO = False


class Down(Exception):
    """The instance did not answer: refused, reset, or closed before a response."""


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def reasons_of(body):
    try:
        return json.loads(body).get("reasons", [])
    except (ValueError, AttributeError):
        return []


def request(base, method, path, body=None, headers=None, timeout=60):
    """(status, body text, headers dict); Down when the instance gives no answer."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    h = {"Content-Type": "application/json", "Connection": "close"}
    h.update(headers or {})
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        return r.status, text, {k.lower(): v for k, v in r.getheaders()}
    except (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead, socket.timeout,
            http.client.BadStatusLine, OSError) as e:
        raise Down("%s %s %s: %s" % (base, method, path, e))
    finally:
        conn.close()


class Guest:
    def __init__(self, cli, emu_dir, meas, tee_key_pem, work_dir):
        self.cli, self.emu_dir, self.meas, self.work = cli, emu_dir, meas, work_dir
        os.makedirs(work_dir, exist_ok=True)
        der = subprocess.run(["openssl", "ec", "-in", tee_key_pem, "-pubout", "-outform", "DER"], check=True,
                             capture_output=True).stdout
        point = der[-65:]  # 04 || X || Y
        self.tee_pubkey = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": b64u(point[1:33]),
                           "y": b64u(point[33:])}
        self.priv = None
        if HAVE_CRYPTO:
            self.priv = serialization.load_pem_private_key(open(tee_key_pem, "rb").read(), password=None)

    def auth(self, base):
        st, body, h = request(base, "POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "snp", "extra-params": {}})
        if st != 200:
            return None, None, (st, body, h.get("x-request-id"))
        return h["set-cookie"].split(";")[0], json.loads(body)["nonce"], h.get("x-request-id")

    def attestation(self, nonce):
        runtime = {"additional-evidence": "", "nonce": nonce, "tee-pubkey": self.tee_pubkey}
        rd = hashlib.sha384(json.dumps(runtime, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        out = os.path.join(self.work, "ev")
        subprocess.run([self.cli, "emulate", "snp", "--out-dir", out, "--load-state", self.emu_dir, "--report-data",
                        rd, "--measurement", self.meas], check=True, stdout=subprocess.DEVNULL)
        pems = open(os.path.join(out, "certs.pem")).read().split("-----END CERTIFICATE-----")
        chain = [{"cert_type": t, "data": base64.b64encode((p.strip() + "\n-----END CERTIFICATE-----\n").encode())
                  .decode()} for t, p in zip(["VCEK", "ASK"], pems) if p.strip()]
        report = base64.b64encode(open(os.path.join(out, "report.bin"), "rb").read()).decode()
        return {"runtime-data": {"nonce": nonce, "tee-pubkey": self.tee_pubkey},
                "tee-evidence": {"primary_evidence": {"attestation_report": report, "cert_chain": chain},
                                 "additional_evidence": ""}}

    def attest(self, base, cookie, attestation):
        st, body, h = request(base, "POST", "/kbs/v0/attest", attestation, {"Cookie": cookie})
        return st, body, h.get("x-request-id")

    def resource(self, base, key_id, cookie=None, token=None):
        hdr = {"Cookie": cookie} if cookie else {"Authorization": "Bearer " + token}
        st, body, h = request(base, "GET", "/kbs/v0/resource/" + key_id, None, hdr)
        return st, body, h.get("x-request-id")

    def open_jwe(self, body):
        """The released bytes; ValueError when the JWE is malformed or does not open with the tee key."""
        jwe = json.loads(body)
        for m in ("protected", "encrypted_key", "iv", "ciphertext", "tag"):
            if not isinstance(jwe.get(m), str):
                raise ValueError("the JWE has no %s" % m)
        hdr = json.loads(unb64u(jwe["protected"]))
        if hdr.get("alg") != "ECDH-ES+A256KW" or hdr.get("enc") != "A256GCM":
            raise ValueError("unexpected JWE algorithms %r" % hdr)
        if not HAVE_CRYPTO:
            return None
        epk = hdr["epk"]
        peer = ec.EllipticCurvePublicNumbers(int.from_bytes(unb64u(epk["x"]), "big"),
                                             int.from_bytes(unb64u(epk["y"]), "big"), ec.SECP256R1()).public_key()
        z = self.priv.exchange(ec.ECDH(), peer)
        alg = b"ECDH-ES+A256KW"
        other = (len(alg).to_bytes(4, "big") + alg + (0).to_bytes(4, "big") + (0).to_bytes(4, "big") +
                 (256).to_bytes(4, "big"))
        kek = hashlib.sha256((1).to_bytes(4, "big") + z + other).digest()  # Concat KDF, one round
        cek = aes_key_unwrap(kek, unb64u(jwe["encrypted_key"]))
        return AESGCM(cek).decrypt(unb64u(jwe["iv"]), unb64u(jwe["ciphertext"]) + unb64u(jwe["tag"]),
                                   jwe["protected"].encode())
