/* Interop with an independent JOSE implementation (issue 4, must-show 2): Debian's python3-jwcrypto
 *   - generates a guest's EC P-256 (ECDH-ES+A256KW) and RSA (RSA-OAEP-256) keys, whose public JWKs ccgate
 *     accepts;
 *   - decrypts ccgate's JWE responses with the guest's private keys, and checks that each protected
 *     header is the exact text a guest rebuilds for the AAD;
 *   - verifies a ccgate ES256 JWT, and signs one that ccgate verifies;
 *   - computes the KBS REPORT_DATA for the EC key, which must match ccgate's.
 * The python side is this file's own script, written to a temporary directory. Without python3 and
 * jwcrypto the test skips with a message, or fails under CI=true. */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "testutil.h"

#include "ccgate/error.h"
#include "ccgate/jose.h"

extern char **environ;

static const char interop_py[] =
    "import base64, hashlib, json, sys\n"
    "from jwcrypto import jwe, jwk, jwt\n"
    "\n"
    "mode, d = sys.argv[1], sys.argv[2]\n"
    "NONCE = 'interop-nonce-\\u00e9/\"'\n"
    "\n"
    "def wr(name, text):\n"
    "    with open(d + '/' + name, 'w') as f:\n"
    "        f.write(text)\n"
    "\n"
    "def rd(name, mode='r'):\n"
    "    with open(d + '/' + name, mode) as f:\n"
    "        return f.read()\n"
    "\n"
    "if mode == 'gen':\n"
    "    ec = jwk.JWK.generate(kty='EC', crv='P-256', alg='ECDH-ES+A256KW')\n"
    "    rsa = jwk.JWK.generate(kty='RSA', size=2048, alg='RSA-OAEP-256')\n"
    "    wr('ec_priv.json', ec.export_private())\n"
    "    wr('rsa_priv.json', rsa.export_private())\n"
    "    wr('ec_pub.json', ec.export_public())\n"
    "    wr('rsa_pub.json', rsa.export_public())\n"
    "    # REPORT_DATA as a KBS guest builds it: SHA-384 over the sorted, compact runtime data.\n"
    "    pub = json.loads(ec.export_public())\n"
    "    tee_pubkey = {k: pub[k] for k in ('kty', 'crv', 'alg', 'x', 'y')}\n"
    "    runtime = {'tee-pubkey': tee_pubkey, 'nonce': NONCE, 'additional-evidence': ''}\n"
    "    canon = json.dumps(runtime, sort_keys=True, separators=(',', ':'), ensure_ascii=False)\n"
    "    wr('report_data.hex', hashlib.sha384(canon.encode('utf-8')).hexdigest().ljust(128, '0'))\n"
    "    # A token signed here for ccgate to verify.\n"
    "    signer = jwk.JWK.generate(kty='EC', crv='P-256')\n"
    "    tok = jwt.JWT(header={'alg': 'ES256', 'typ': 'JWT'},\n"
    "                  claims={'iss': 'jwcrypto', 'iat': int(sys.argv[3]), 'exp': int(sys.argv[3]) + 600})\n"
    "    tok.make_signed_token(signer)\n"
    "    wr('jwt_from_py.txt', tok.serialize())\n"
    "    wr('py_es_pub.pem', signer.export_to_pem(private_key=False, password=None).decode())\n"
    "elif mode == 'dec':\n"
    "    for name in ('ec', 'rsa'):\n"
    "        key = jwk.JWK.from_json(rd(name + '_priv.json'))\n"
    "        raw = rd(name + '_jwe.json')\n"
    "        alg = 'ECDH-ES+A256KW' if name == 'ec' else 'RSA-OAEP-256'\n"
    "        obj = jwe.JWE(algs=[alg, 'A256GCM'])\n"
    "        obj.deserialize(raw, key=key)\n"
    "        if obj.payload != rd(name + '_plain.bin', 'rb'):\n"
    "            sys.exit(name + ': the decrypted payload differs')\n"
    "        flat = json.loads(raw)\n"
    "        if sorted(flat) != ['ciphertext', 'encrypted_key', 'iv', 'protected', 'tag']:\n"
    "            sys.exit(name + ': unexpected JWE members ' + ','.join(sorted(flat)))\n"
    "        p = flat['protected']\n"
    "        hdr = base64.urlsafe_b64decode(p + '=' * (-len(p) % 4)).decode()\n"
    "        parsed = json.loads(hdr)\n"
    "        if hdr != json.dumps(parsed, sort_keys=True, separators=(',', ':')):\n"
    "            sys.exit(name + ': the protected header is not in canonical member order: ' + hdr)\n"
    "        if parsed['alg'] != alg or parsed['enc'] != 'A256GCM':\n"
    "            sys.exit(name + ': unexpected alg/enc ' + hdr)\n"
    "        # A tampered tag must not decrypt.\n"
    "        bad = dict(flat)\n"
    "        t = bytearray(base64.urlsafe_b64decode(flat['tag'] + '=='))\n"
    "        t[0] ^= 1\n"
    "        bad['tag'] = base64.urlsafe_b64encode(bytes(t)).decode().rstrip('=')\n"
    "        try:\n"
    "            jwe.JWE(algs=[alg, 'A256GCM']).deserialize(json.dumps(bad), key=key)\n"
    "            sys.exit(name + ': a tampered JWE decrypted')\n"
    "        except jwe.InvalidJWEData:\n"
    "            pass\n"
    "    ver = jwk.JWK.from_json(rd('c_es_pub.json'))\n"
    "    tok = jwt.JWT(key=ver, jwt=rd('jwt_from_c.txt'), algs=['ES256'])\n"
    "    claims = json.loads(tok.claims)\n"
    "    if claims.get('iss') != 'ccgate-kbs' or json.loads(tok.header) != {'alg': 'ES256', 'typ': 'JWT'}:\n"
    "        sys.exit('the ccgate JWT has unexpected content')\n"
    "    print('jwcrypto: decrypted both JWEs and verified the JWT')\n";

static const char *const tmp_files[] = {"interop.py",      "ec_priv.json",   "rsa_priv.json", "ec_pub.json",
                                        "rsa_pub.json",    "report_data.hex", "jwt_from_py.txt", "py_es_pub.pem",
                                        "ec_jwe.json",     "rsa_jwe.json",   "ec_plain.bin",  "rsa_plain.bin",
                                        "c_es_pub.json",   "jwt_from_c.txt"};

static char tmpdir[256];

static int run(const char *const argv[])
{
    pid_t pid = 0;
    int status = 0;
    if (posix_spawn(&pid, argv[0], NULL, NULL, (char *const *)argv, environ) != 0) {
        return -1;
    }
    if (waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The Python with jwcrypto: $CCG_PYTHON, else Debian's /usr/bin/python3, else python3 on PATH. */
static const char *find_python(void)
{
    static char found[512];
    const char *candidates[3] = {getenv("CCG_PYTHON"), "/usr/bin/python3", NULL};
    const char *path = getenv("PATH");
    char from_path[512] = "";
    while (path != NULL && *path != '\0') {
        const char *end = strchr(path, ':');
        size_t n = end != NULL ? (size_t)(end - path) : strlen(path);
        char p[512];
        snprintf(p, sizeof(p), "%.*s/python3", (int)n, path);
        if (n > 0 && access(p, X_OK) == 0) {
            snprintf(from_path, sizeof(from_path), "%s", p);
            break;
        }
        path = end != NULL ? end + 1 : NULL;
    }
    candidates[2] = from_path[0] ? from_path : NULL;
    for (int i = 0; i < 3; i++) {
        if (candidates[i] == NULL || candidates[i][0] == '\0' || access(candidates[i], X_OK) != 0) {
            continue;
        }
        const char *argv[] = {candidates[i], "-c", "import jwcrypto.jwe, jwcrypto.jwt", NULL};
        if (run(argv) == 0) {
            snprintf(found, sizeof(found), "%s", candidates[i]);
            return found;
        }
    }
    return NULL;
}

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static void write_file(const char *name, const void *data, size_t len)
{
    char p[512];
    path_of(p, sizeof(p), name);
    if (ccg_failed(ccg_file_write(p, data, len))) {
        fail_msg("cannot write %s: %s", p, ccg_error_last()->message);
    }
}

static char *read_text(const char *name, size_t *len)
{
    char p[512];
    uint8_t *data = NULL;
    size_t n = 0;
    path_of(p, sizeof(p), name);
    if (ccg_failed(ccg_file_read(p, 1u << 20, &data, &n))) {
        fail_msg("cannot read %s: %s", p, ccg_error_last()->message);
    }
    if (len != NULL) {
        *len = n;
    }
    return (char *)data;
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/ccgate-jose-interop-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(tmp_files) / sizeof(tmp_files[0]); i++) {
        char p[512];
        path_of(p, sizeof(p), tmp_files[i]);
        (void)unlink(p);
    }
    return rmdir(tmpdir) == 0 || errno == ENOENT ? 0 : -1;
}

static ccg_jwk *accept_jwk(const char *name, ccg_jwk_kind kind, const char *alg)
{
    size_t len = 0;
    char *text = read_text(name, &len);
    ccg_jwk *jwk = NULL;
    ccg_error_clear();
    if (ccg_failed(ccg_jwk_parse_text(text, len, &jwk))) {
        fail_msg("ccgate refused jwcrypto's JWK %s: %s: %s", name, ccg_reason_code(ccg_error_reason()),
                 ccg_error_last()->message);
    }
    assert_int_equal(ccg_jwk_type(jwk), kind);
    assert_string_equal(ccg_jwk_alg(jwk), alg);
    free(text);
    return jwk;
}

static void encrypt_to(const ccg_jwk *jwk, const char *name, size_t len)
{
    uint8_t *plain = malloc(len);
    assert_int_equal(RAND_bytes(plain, (int)len), 1);
    char *jwe = NULL;
    size_t jwe_len = 0;
    ccg_error_clear();
    assert_true(ccg_ok(ccg_jwe_encrypt_text(jwk, plain, len, &jwe, &jwe_len)));
    char file[64];
    snprintf(file, sizeof(file), "%s_jwe.json", name);
    write_file(file, jwe, jwe_len);
    snprintf(file, sizeof(file), "%s_plain.bin", name);
    write_file(file, plain, len);
    free(jwe);
    free(plain);
}

static void jwcrypto_interop(void **state)
{
    (void)state;
    const char *python = find_python();
    if (python == NULL) {
        tu_skip_or_fail("python3 with jwcrypto not found (apt-get install python3-jwcrypto)");
    }
    print_message("interop: %s in %s\n", python, tmpdir);
    write_file("interop.py", interop_py, strlen(interop_py));
    char script[512];
    path_of(script, sizeof(script), "interop.py");
    const ccg_time now = ccg_time_now();
    char now_text[32];
    snprintf(now_text, sizeof(now_text), "%lld", (long long)now);

    /* 1. jwcrypto generates the guest's keys; ccgate accepts both public JWKs. */
    const char *gen[] = {python, script, "gen", tmpdir, now_text, NULL};
    assert_int_equal(run(gen), 0);
    ccg_jwk *ec = accept_jwk("ec_pub.json", CCG_JWK_EC_P256, CCG_JOSE_ALG_ECDH_ES_A256KW);
    ccg_jwk *rsa = accept_jwk("rsa_pub.json", CCG_JWK_RSA, CCG_JOSE_ALG_RSA_OAEP_256);
    /* ... but never the private ones. */
    size_t priv_len = 0;
    char *priv = read_text("ec_priv.json", &priv_len);
    ccg_jwk *refused = NULL;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_jwk_parse_text(priv, priv_len, &refused)));
    tu_assert_error_reason(CCG_R_JOSE_JWK_INVALID);
    free(priv);

    /* 2. REPORT_DATA agrees with the independent computation. */
    uint8_t rd[64];
    char hex[129];
    ccg_error_clear();
    assert_true(ccg_ok(ccg_jose_kbs_report_data("sha384", "interop-nonce-\xc3\xa9/\"", ec, "", rd)));
    ccg_hex_encode(rd, sizeof(rd), hex);
    char *py_hex = read_text("report_data.hex", NULL);
    assert_string_equal(hex, py_hex);
    free(py_hex);

    /* 3. ccgate encrypts resources to both keys and signs a token. */
    encrypt_to(ec, "ec", 32);
    encrypt_to(rsa, "rsa", 3000);
    EVP_PKEY *signer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(signer);
    ccg_jwk *signer_jwk = NULL;
    assert_true(ccg_ok(ccg_jwk_from_pkey(signer, CCG_JOSE_ALG_ES256, &signer_jwk)));
    json_t *pub = ccg_jwk_to_json(signer_jwk);
    char *pub_text = json_dumps(pub, JSON_COMPACT);
    write_file("c_es_pub.json", pub_text, strlen(pub_text));
    json_t *claims = json_pack("{s:s, s:I, s:I}", "iss", "ccgate-kbs", "iat", (json_int_t)now, "exp",
                               (json_int_t)(now + 600));
    char *token = NULL;
    assert_true(ccg_ok(ccg_jwt_sign_es256(signer, claims, &token)));
    write_file("jwt_from_c.txt", token, strlen(token));

    /* 4. jwcrypto decrypts both JWEs with the guest's private keys and verifies the token. */
    const char *dec[] = {python, script, "dec", tmpdir, NULL};
    assert_int_equal(run(dec), 0);

    /* 5. ccgate verifies jwcrypto's token. */
    size_t pem_len = 0;
    char *pem = read_text("py_es_pub.pem", &pem_len);
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
    EVP_PKEY *py_pub = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    assert_non_null(py_pub);
    size_t tok_len = 0;
    char *py_token = read_text("jwt_from_py.txt", &tok_len);
    json_t *py_claims = NULL;
    ccg_error_clear();
    if (ccg_failed(ccg_jwt_verify_es256(py_pub, py_token, tok_len, now, 0, &py_claims))) {
        fail_msg("ccgate refused jwcrypto's JWT: %s", ccg_error_last()->message);
    }
    assert_string_equal(json_string_value(json_object_get(py_claims, "iss")), "jwcrypto");
    ccg_error_clear();
    json_t *none = NULL;
    assert_true(ccg_failed(ccg_jwt_verify_es256(signer, py_token, tok_len, now, 0, &none)));
    tu_assert_error_reason(CCG_R_JOSE_JWT_INVALID);

    json_decref(py_claims);
    free(py_token);
    EVP_PKEY_free(py_pub);
    BIO_free(bio);
    free(pem);
    free(token);
    json_decref(claims);
    free(pub_text);
    json_decref(pub);
    ccg_jwk_free(signer_jwk);
    EVP_PKEY_free(signer);
    ccg_jwk_free(ec);
    ccg_jwk_free(rsa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(jwcrypto_interop, setup, teardown),
    };
    return cmocka_run_group_tests_name("jose_interop", tests, NULL, NULL);
}
