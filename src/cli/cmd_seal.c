/* ccgate seal / unseal / artifact: sealed model artifacts (docs/artifact-format.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "ccgate/artifact.h"
#include "ccgate/secmem.h"
#include "ccgate/util.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ccgate seal   --in MODEL --out FILE (--key-file KEY | --key-hex HEX) --key-id ID\n"
            "                     --key-version N --signer PROVIDER_KEY.pem [--chunk-size BYTES]\n"
            "       ccgate unseal --in FILE|URL --out FILE (--key-file KEY | --key-hex HEX) --key-version N\n"
            "                     --provider-key PUBLIC.pem [--threads N] [--cacert FILE]\n"
            "       ccgate artifact inspect FILE [--provider-key PUBLIC.pem]\n"
            "       ccgate artifact digest --in MODEL [--chunk-size BYTES]\n"
            "\n"
            "seal encrypts a model under its model key (32 bytes: the same file a provider imports with\n"
            "'ccgate kbs key import') as AES-256-GCM chunks, with a header signed by the provider's ECDSA\n"
            "P-384 or Ed25519 key. --key-id and --key-version must name the key as the key broker does.\n"
            "unseal checks the signature, the key version, every chunk and the model digest, decrypting on\n"
            "all cores. It writes plaintext to a file, so it is for providers checking their own artifacts:\n"
            "in a confidential guest, ccgate-agent unseals into sealed memory instead, never to a file.\n"
            "--in may be an http(s):// URL. inspect prints the header as JSON (and verifies it with\n"
            "--provider-key); digest prints the model digest a seal would sign.\n"
            "Exit status: 0 success, 1 refused (tampered, wrong key or signer), 2 bad usage or input.\n");
}

typedef struct {
    const char *in, *out, *key_file, *key_hex, *key_id, *signer, *provider_key, *cacert;
    long key_version, chunk_size, threads;
} seal_args;

static long parse_num(const char *s)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    return (errno != 0 || end == s || *end != '\0' || v < 0) ? -1 : v;
}

/* 0 parsed, 1 help, -1 bad usage. */
static int parse(int argc, char **argv, seal_args *a)
{
    static const struct option opts[] = {
        {"in", required_argument, 0, 'i'},          {"out", required_argument, 0, 'o'},
        {"key-file", required_argument, 0, 'k'},    {"key-hex", required_argument, 0, 'x'},
        {"key-id", required_argument, 0, 'I'},      {"key-version", required_argument, 0, 'v'},
        {"signer", required_argument, 0, 's'},      {"provider-key", required_argument, 0, 'p'},
        {"chunk-size", required_argument, 0, 'c'},  {"threads", required_argument, 0, 't'},
        {"cacert", required_argument, 0, 'C'},      {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    memset(a, 0, sizeof(*a));
    a->key_version = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i': a->in = optarg; break;
        case 'o': a->out = optarg; break;
        case 'k': a->key_file = optarg; break;
        case 'x': a->key_hex = optarg; break;
        case 'I': a->key_id = optarg; break;
        case 'v': a->key_version = parse_num(optarg); if (a->key_version < 1 || a->key_version > UINT32_MAX) return -1; break;
        case 's': a->signer = optarg; break;
        case 'p': a->provider_key = optarg; break;
        case 'c': a->chunk_size = parse_num(optarg); if (a->chunk_size <= 0 || a->chunk_size > UINT32_MAX) return -1; break;
        case 't': a->threads = parse_num(optarg); if (a->threads < 0 || a->threads > 1024) return -1; break;
        case 'C': a->cacert = optarg; break;
        case 'h': usage(stdout); return 1;
        default: return -1;
        }
    }
    return 0;
}

/* The 32-byte model key from a raw file or hex; zeroed by the caller. */
static ccg_result load_model_key(const seal_args *a, uint8_t key[CCG_ARTIFACT_MODEL_KEY_LEN])
{
    ccg_result result = CCG_FAILURE;
    uint8_t *raw = NULL;
    size_t len = 0;
    CCG_ENSURE_MSG((a->key_file != NULL) != (a->key_hex != NULL), CCG_R_USAGE_INVALID,
                   "give exactly one of --key-file and --key-hex");
    if (a->key_hex != NULL) {
        CCG_ENSURE_MSG(ccg_hex_is_valid(a->key_hex, CCG_ARTIFACT_MODEL_KEY_LEN), CCG_R_USAGE_INVALID,
                       "--key-hex must be %d hex digits", 2 * CCG_ARTIFACT_MODEL_KEY_LEN);
        CCG_TRY(ccg_hex_decode_exact(a->key_hex, key, CCG_ARTIFACT_MODEL_KEY_LEN));
    } else {
        CCG_TRY(ccg_file_read(a->key_file, 4096, &raw, &len));
        CCG_ENSURE_MSG(len == CCG_ARTIFACT_MODEL_KEY_LEN, CCG_R_ARTIFACT_KEY_INVALID,
                       "%s holds %zu bytes; a model key is %d raw bytes", a->key_file, len, CCG_ARTIFACT_MODEL_KEY_LEN);
        memcpy(key, raw, CCG_ARTIFACT_MODEL_KEY_LEN);
    }
    result = CCG_SUCCESS;
cleanup:
    if (raw != NULL) {
        ccg_secure_zero(raw, len);
    }
    free(raw);
    return result;
}

static ccg_result load_signer(const char *path, EVP_PKEY **out)
{
    ccg_result result = CCG_FAILURE;
    FILE *f = fopen(path, "r");
    CCG_ENSURE_MSG(f != NULL, CCG_R_IO_READ_FAILED, "cannot read %s", path);
    *out = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    CCG_ENSURE_OSSL(*out != NULL, CCG_R_INPUT_MALFORMED);
    result = CCG_SUCCESS;
cleanup:
    if (f != NULL) {
        fclose(f);
    }
    return result;
}

static int do_seal(const seal_args *a)
{
    uint8_t key[CCG_ARTIFACT_MODEL_KEY_LEN];
    EVP_PKEY *signer = NULL;
    int rc = CLI_EXIT_USAGE;
    if (a->in == NULL || a->out == NULL || a->key_id == NULL || a->key_version < 1 || a->signer == NULL) {
        fprintf(stderr, "ccgate seal: --in, --out, --key-id, --key-version and --signer are required\n");
        return CLI_EXIT_USAGE;
    }
    ccg_error_clear();
    if (ccg_failed(load_model_key(a, key)) || ccg_failed(load_signer(a->signer, &signer)) ||
        ccg_failed(ccg_artifact_seal_file(a->in, a->out, key, sizeof(key), a->key_id, (uint32_t)a->key_version,
                                          (uint32_t)a->chunk_size, signer))) {
        rc = cli_report_error("seal", 0);
    } else {
        printf("sealed %s -> %s (key %s version %ld)\n", a->in, a->out, a->key_id, a->key_version);
        rc = CLI_EXIT_OK;
    }
    ccg_secure_zero(key, sizeof(key));
    EVP_PKEY_free(signer);
    return rc;
}

/* Unseals into a shared mapping of the output file, so the model is never held twice. */
static ccg_result unseal_to_file(ccg_artifact *art, const uint8_t *key, uint32_t version, const char *out,
                                 unsigned threads)
{
    ccg_result result = CCG_FAILURE;
    size_t n = (size_t)ccg_artifact_header_of(art)->plaintext_len;
    uint8_t *map = NULL;
    int fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", out, strerror(errno));
    CCG_ENSURE_MSG(ftruncate(fd, (off_t)n) == 0, CCG_R_IO_WRITE_FAILED, "cannot size %s: %s", out, strerror(errno));
    if (n > 0) {
        map = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CCG_ENSURE_MSG(map != MAP_FAILED, CCG_R_IO_WRITE_FAILED, "cannot map %s: %s", out, strerror(errno));
    }
    CCG_TRY(ccg_artifact_unseal_into(art, key, CCG_ARTIFACT_MODEL_KEY_LEN, version, map, n, threads));
    result = CCG_SUCCESS;
cleanup:
    if (map != NULL && map != MAP_FAILED) {
        munmap(map, n);
    }
    if (fd >= 0) {
        close(fd);
        if (ccg_failed(result)) {
            (void)unlink(out);
        }
    }
    return result;
}

static int do_unseal(const seal_args *a)
{
    uint8_t key[CCG_ARTIFACT_MODEL_KEY_LEN];
    ccg_artifact *art = NULL;
    ccg_artifact_open_opts opts = {.provider_key_path = a->provider_key, .ca_file = a->cacert};
    int rc = CLI_EXIT_USAGE;
    if (a->in == NULL || a->out == NULL || a->key_version < 1 || a->provider_key == NULL) {
        fprintf(stderr, "ccgate unseal: --in, --out, --key-version and --provider-key are required\n");
        return CLI_EXIT_USAGE;
    }
    ccg_error_clear();
    if (ccg_failed(load_model_key(a, key)) || ccg_failed(ccg_artifact_open(a->in, &opts, &art)) ||
        ccg_failed(unseal_to_file(art, key, (uint32_t)a->key_version, a->out, (unsigned)a->threads))) {
        rc = cli_report_error("unseal", 0);
    } else {
        const ccg_artifact_header *h = ccg_artifact_header_of(art);
        char hex[2 * CCG_ARTIFACT_DIGEST_LEN + 1];
        ccg_hex_encode(h->plaintext_digest, sizeof(h->plaintext_digest), hex);
        printf("unsealed %s -> %s: key %s version %u, %llu bytes, digest %s\n", a->in, a->out, h->key_id,
               h->key_version, (unsigned long long)h->plaintext_len, hex);
        rc = CLI_EXIT_OK;
    }
    ccg_secure_zero(key, sizeof(key));
    ccg_artifact_close(art);
    return rc;
}

int cmd_seal(int argc, char **argv)
{
    seal_args a;
    int rc = cli_parse_result(parse(argc, argv, &a), usage);
    return rc >= 0 ? rc : do_seal(&a);
}

int cmd_unseal(int argc, char **argv)
{
    seal_args a;
    int rc = cli_parse_result(parse(argc, argv, &a), usage);
    return rc >= 0 ? rc : do_unseal(&a);
}

static const char *sig_name(uint16_t alg) { return alg == CCG_ARTIFACT_SIG_ES384 ? "ES384" : "Ed25519"; }

static json_t *header_json(const ccg_artifact_header *h, uint64_t file_len, const char *signature)
{
    char digest[2 * CCG_ARTIFACT_DIGEST_LEN + 1], hd[2 * CCG_ARTIFACT_DIGEST_LEN + 1],
        salt[2 * CCG_ARTIFACT_SALT_LEN + 1];
    ccg_hex_encode(h->plaintext_digest, sizeof(h->plaintext_digest), digest);
    ccg_hex_encode(h->header_digest, sizeof(h->header_digest), hd);
    ccg_hex_encode(h->salt, sizeof(h->salt), salt);
    return json_pack("{s:s, s:i, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:I, s:I, s:b, s:s}", "format",
                     "ccgate-sealed-artifact", "version", (int)h->version, "suite", "AES-256-GCM/HKDF-SHA256/SHA-384(SHA-256 chunk leaves)",
                     "signature_alg", sig_name(h->sig_alg), "key_id", h->key_id, "key_version",
                     (json_int_t)h->key_version, "chunk_size", (json_int_t)h->chunk_size, "chunk_count",
                     (json_int_t)h->chunk_count, "plaintext_len", (json_int_t)h->plaintext_len, "plaintext_digest",
                     digest, "header_digest", hd, "salt", salt, "total_len", (json_int_t)h->total_len, "file_len",
                     (json_int_t)file_len, "size_consistent", file_len == h->total_len, "signature", signature);
}

/* Reads the first bytes of a local artifact and its size. */
static ccg_result read_head(const char *path, uint8_t *buf, size_t cap, size_t *got, uint64_t *size)
{
    ccg_result result = CCG_FAILURE;
    struct stat st;
    ssize_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CCG_ENSURE_MSG(fd >= 0 && fstat(fd, &st) == 0, CCG_R_IO_READ_FAILED, "cannot read %s", path);
    n = pread(fd, buf, cap, 0);
    CCG_ENSURE_MSG(n >= 0, CCG_R_IO_READ_FAILED, "cannot read %s", path);
    *got = (size_t)n;
    *size = (uint64_t)st.st_size;
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

static int do_inspect(const char *path, const char *provider_key)
{
    uint8_t buf[CCG_ARTIFACT_HEADER_MAX];
    size_t got = 0;
    uint64_t size = 0;
    ccg_artifact_header h;
    ccg_artifact *art = NULL;
    ccg_artifact_open_opts opts = {.provider_key_path = provider_key};
    json_t *doc = NULL;
    char *text = NULL;
    int rc = CLI_EXIT_OK;
    ccg_error_clear();
    if (ccg_failed(read_head(path, buf, sizeof(buf), &got, &size)) ||
        ccg_failed(ccg_artifact_parse_header(buf, got, &h)) ||
        (provider_key != NULL && ccg_failed(ccg_artifact_open(path, &opts, &art)))) {
        return cli_report_error("artifact inspect", 0);
    }
    doc = header_json(&h, size, provider_key != NULL ? "verified" : "not checked (no --provider-key)");
    text = doc != NULL ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    if (text == NULL) {
        rc = CLI_EXIT_USAGE;
    } else {
        printf("%s\n", text);
    }
    free(text);
    json_decref(doc);
    ccg_artifact_close(art);
    return rc;
}

static int do_digest(const seal_args *a)
{
    uint8_t d[CCG_ARTIFACT_DIGEST_LEN];
    char hex[2 * CCG_ARTIFACT_DIGEST_LEN + 1];
    uint64_t len = 0;
    if (a->in == NULL) {
        fprintf(stderr, "ccgate artifact digest: --in is required\n");
        return CLI_EXIT_USAGE;
    }
    ccg_error_clear();
    if (ccg_failed(ccg_artifact_digest_file(a->in, (uint32_t)a->chunk_size, d, &len))) {
        return cli_report_error("artifact digest", 0);
    }
    ccg_hex_encode(d, sizeof(d), hex);
    printf("%s  %s (%llu bytes, chunk size %ld)\n", hex, a->in, (unsigned long long)len,
           a->chunk_size != 0 ? a->chunk_size : (long)CCG_ARTIFACT_DEFAULT_CHUNK);
    return CLI_EXIT_OK;
}

int cmd_artifact(int argc, char **argv)
{
    seal_args a;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    const char *verb = argv[1];
    int rc = cli_parse_result(parse(argc - 1, argv + 1, &a), usage);
    if (rc >= 0) {
        return rc;
    }
    if (strcmp(verb, "inspect") == 0) {
        const char *path = optind < argc - 1 ? argv[1 + optind] : a.in;
        if (path == NULL) {
            fprintf(stderr, "ccgate artifact inspect: FILE is required\n");
            return CLI_EXIT_USAGE;
        }
        return do_inspect(path, a.provider_key);
    }
    if (strcmp(verb, "digest") == 0) {
        return do_digest(&a);
    }
    fprintf(stderr, "ccgate artifact: unknown verb '%s'\n", verb);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
