/* ccgate seal / unseal / artifact: sealed model artifacts (docs/artifact-format.md).
 *
 * Standard input and output ("-"): the signed header carries the digest of the whole model and every
 * chunk's AAD binds the header, so no chunk can be encrypted before the last byte of the model has
 * been read. `seal --in -` therefore spools standard input into an anonymous memory file (a memfd:
 * RAM, never the file system) and seals from there; a redirected regular file is used as it is.
 * `seal --out -` streams: the header, then each chunk as it is encrypted. `unseal --out -` decrypts
 * into memory and writes the plaintext only once every chunk and the signed digest have been checked,
 * so a consumer never reads unverified bytes. Keys come from a file, standard input or a descriptor,
 * never from the command line (/proc/PID/cmdline and shell history). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "ccgate/artifact.h"
#include "ccgate/cli_args.h"
#include "ccgate/progress.h"
#include "ccgate/secmem.h"
#include "ccgate/util.h"
#include "cli.h"

#define KEY_FILE_MAX 4096
#define SPOOL_BLOCK (1u << 20)

enum {
    OPT_IN = 0x100,
    OPT_OUT,
    OPT_KEY_FILE,
    OPT_KEY_FD,
    OPT_KEY_ID,
    OPT_KEY_VERSION,
    OPT_SIGNER,
    OPT_PROVIDER_KEY,
    OPT_CHUNK_SIZE,
    OPT_THREADS,
    OPT_CACERT,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
};

static void usage_seal(FILE *out)
{
    fprintf(out,
            "Usage: ccgate seal --in MODEL|- --out FILE|- (--key-file FILE|- | --key-fd N) --key-id ID\n"
            "                   --key-version N --signer PROVIDER_KEY.pem [--chunk-size BYTES] [--[no-]progress]\n"
            "\n"
            "Encrypts a model under its model key (32 raw bytes: the file a provider imports with\n"
            "'ccgate kbs key import') as AES-256-GCM chunks, with a header signed by the provider's ECDSA\n"
            "P-384 or Ed25519 key. --key-id and --key-version must name the key as the key broker does.\n"
            "\n"
            "  --in MODEL|-         the model; '-' reads standard input, held in memory until the end\n"
            "                       (the signed header carries the whole model's digest)\n"
            "  --out FILE|-         the sealed artifact; '-' streams it to standard output\n"
            "  --key-file FILE|-    the model key from a file, or '-' from standard input\n"
            "  --key-fd N           the model key from descriptor N (e.g. 3<model.key)\n"
            "  --key-id ID          the key broker's name of the key: REPO/TYPE/TAG\n"
            "  --key-version N      the key broker's version of the key (>= 1)\n"
            "  --signer FILE        the provider's PEM private key\n"
            "  --chunk-size BYTES   4096 .. 67108864 (default 1048576)\n"
            "  --progress           show progress on standard error even when it is not a terminal\n"
            "  --no-progress        never show progress (default: shown when standard error is a terminal)\n"
            "  -h, --help           this text\n"
            "      --version        the version\n"
            "\n"
            "Exit status: 0 success, 1 refused (wrong key or signer), 2 bad usage or input.\n");
}

static void usage_unseal(FILE *out)
{
    fprintf(out,
            "Usage: ccgate unseal --in FILE|URL|- --out FILE|- (--key-file FILE|- | --key-fd N)\n"
            "                     --key-version N --provider-key PUBLIC.pem [--threads N] [--cacert FILE]\n"
            "                     [--[no-]progress]\n"
            "\n"
            "Checks the header's signature, the key version, every chunk and the model digest, decrypting on\n"
            "all cores. It writes plaintext, so it is for providers checking their own artifacts: in a\n"
            "confidential guest, ccgate-agent unseals into sealed memory instead, never to a file.\n"
            "\n"
            "  --in FILE|URL|-      the artifact: a file, an http(s):// URL, or '-' for standard input\n"
            "  --out FILE|-         the plaintext; '-' writes it to standard output once it is verified\n"
            "  --key-file FILE|-    the model key from a file, or '-' from standard input\n"
            "  --key-fd N           the model key from descriptor N (e.g. 3<model.key)\n"
            "  --key-version N      the version of the key (must equal the header's)\n"
            "  --provider-key FILE  the provider's PEM public key or certificate\n"
            "  --threads N          decryption threads (default 0: every core)\n"
            "  --cacert FILE        the CA for an https:// URL (default: the system's)\n"
            "  --progress           show progress on standard error even when it is not a terminal\n"
            "  --no-progress        never show progress (default: shown when standard error is a terminal)\n"
            "  -h, --help           this text\n"
            "      --version        the version\n"
            "\n"
            "Exit status: 0 success, 1 refused (tampered, wrong key or signer), 2 bad usage or input.\n");
}

static void usage_artifact(FILE *out)
{
    fprintf(out,
            "Usage: ccgate artifact inspect FILE [--provider-key PUBLIC.pem]\n"
            "       ccgate artifact digest --in MODEL|- [--chunk-size BYTES]\n"
            "\n"
            "inspect prints a sealed artifact's header as JSON (and verifies its signature with\n"
            "--provider-key); digest prints the model digest a seal with this chunk size would sign.\n"
            "Run 'ccgate artifact inspect --help' or 'ccgate artifact digest --help' for the options.\n"
            "Exit status: 0 success, 1 refused (bad signature), 2 bad usage or input.\n");
}

static void usage_inspect(FILE *out)
{
    fprintf(out, "Usage: ccgate artifact inspect FILE [--provider-key PUBLIC.pem]\n"
                 "\n"
                 "Prints the header of a sealed artifact as JSON, without decrypting anything.\n"
                 "\n"
                 "  --in FILE            the artifact (or give it as the operand)\n"
                 "  --provider-key FILE  verify the header's signature with this PEM public key\n"
                 "  -h, --help           this text\n"
                 "      --version        the version\n");
}

static void usage_digest(FILE *out)
{
    fprintf(out, "Usage: ccgate artifact digest --in MODEL|- [--chunk-size BYTES]\n"
                 "\n"
                 "Prints the model digest a seal with this chunk size would sign (not sha384sum of the file).\n"
                 "\n"
                 "  --in MODEL|-         the model; '-' reads standard input\n"
                 "  --chunk-size BYTES   4096 .. 67108864 (default 1048576)\n"
                 "  -h, --help           this text\n"
                 "      --version        the version\n");
}

typedef struct {
    const char *in, *out, *key_file, *key_id, *signer, *provider_key, *cacert;
    int64_t key_fd, key_version, chunk_size, threads;
    int progress; /* CCG_PROGRESS_AUTO, _ON or _OFF */
} seal_args;

static const struct option SEAL_OPTS[] = {
    {"in", required_argument, 0, OPT_IN},
    {"out", required_argument, 0, OPT_OUT},
    {"key-file", required_argument, 0, OPT_KEY_FILE},
    {"key-fd", required_argument, 0, OPT_KEY_FD},
    {"key-id", required_argument, 0, OPT_KEY_ID},
    {"key-version", required_argument, 0, OPT_KEY_VERSION},
    {"signer", required_argument, 0, OPT_SIGNER},
    {"chunk-size", required_argument, 0, OPT_CHUNK_SIZE},
    {"progress", no_argument, 0, OPT_PROGRESS},
    {"no-progress", no_argument, 0, OPT_NO_PROGRESS},
    CCG_CLI_STD_OPTIONS,
    {0, 0, 0, 0},
};

static const struct option UNSEAL_OPTS[] = {
    {"in", required_argument, 0, OPT_IN},
    {"out", required_argument, 0, OPT_OUT},
    {"key-file", required_argument, 0, OPT_KEY_FILE},
    {"key-fd", required_argument, 0, OPT_KEY_FD},
    {"key-version", required_argument, 0, OPT_KEY_VERSION},
    {"provider-key", required_argument, 0, OPT_PROVIDER_KEY},
    {"threads", required_argument, 0, OPT_THREADS},
    {"cacert", required_argument, 0, OPT_CACERT},
    {"progress", no_argument, 0, OPT_PROGRESS},
    {"no-progress", no_argument, 0, OPT_NO_PROGRESS},
    CCG_CLI_STD_OPTIONS,
    {0, 0, 0, 0},
};

static const struct option INSPECT_OPTS[] = {
    {"in", required_argument, 0, OPT_IN},
    {"provider-key", required_argument, 0, OPT_PROVIDER_KEY},
    CCG_CLI_STD_OPTIONS,
    {0, 0, 0, 0},
};

static const struct option DIGEST_OPTS[] = {
    {"in", required_argument, 0, OPT_IN},
    {"chunk-size", required_argument, 0, OPT_CHUNK_SIZE},
    CCG_CLI_STD_OPTIONS,
    {0, 0, 0, 0},
};

/* One option into a; 0 or CCG_CLI_EXIT_2. */
static int take(const ccg_cli *cli, int c, seal_args *a)
{
    switch (c) {
    case OPT_IN: a->in = optarg; return 0;
    case OPT_OUT: a->out = optarg; return 0;
    case OPT_KEY_FILE: a->key_file = optarg; return 0;
    case OPT_KEY_FD: return ccg_cli_int(cli, "--key-fd", optarg, 0, 65535, &a->key_fd);
    case OPT_KEY_ID: a->key_id = optarg; return 0;
    case OPT_KEY_VERSION: return ccg_cli_int(cli, "--key-version", optarg, 1, UINT32_MAX, &a->key_version);
    case OPT_SIGNER: a->signer = optarg; return 0;
    case OPT_PROVIDER_KEY: a->provider_key = optarg; return 0;
    case OPT_CHUNK_SIZE: return ccg_cli_int(cli, "--chunk-size", optarg, 1, UINT32_MAX, &a->chunk_size);
    case OPT_THREADS: return ccg_cli_int(cli, "--threads", optarg, 0, 1024, &a->threads);
    case OPT_CACERT: a->cacert = optarg; return 0;
    case OPT_PROGRESS: a->progress = CCG_PROGRESS_ON; return 0;
    case OPT_NO_PROGRESS: a->progress = CCG_PROGRESS_OFF; return 0;
    default: return ccg_cli_usage_error(cli, "internal: option %d", c);
    }
}

/* Parses argv into a: -1 to go on, else the exit status. Operands are refused unless operand != NULL,
 * which then receives the one allowed operand. */
static int parse(const ccg_cli *cli, int argc, char **argv, seal_args *a, const char **operand)
{
    int c;
    memset(a, 0, sizeof(*a));
    a->key_fd = -1;
    a->key_version = -1;
    a->progress = CCG_PROGRESS_AUTO;
    ccg_cli_begin();
    while ((c = ccg_cli_next(cli, argc, argv)) != CCG_CLI_END) {
        if (c == CCG_CLI_EXIT_0 || c == CCG_CLI_EXIT_2) {
            return ccg_cli_exit(c);
        }
        if (take(cli, c, a) != 0) {
            return CCG_EXIT_USAGE;
        }
    }
    if (operand != NULL && optind < argc) {
        *operand = argv[optind++];
    }
    if (optind < argc) {
        ccg_cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
        return CCG_EXIT_USAGE;
    }
    return -1;
}

/* Reads a descriptor to its end, at most max bytes (more is an error). */
static ccg_result read_fd_all(int fd, const char *what, size_t max, uint8_t *buf, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    size_t n = 0;
    for (;;) {
        ssize_t got = read(fd, buf + n, max - n);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(got >= 0, CCG_R_IO_READ_FAILED, "cannot read %s: %s", what, strerror(errno));
        if (got == 0) {
            break;
        }
        n += (size_t)got;
        CCG_ENSURE_MSG(n < max, CCG_R_ARTIFACT_KEY_INVALID, "%s holds more than %zu bytes; a model key is %d raw bytes",
                       what, max - 1, CCG_ARTIFACT_MODEL_KEY_LEN);
    }
    *len = n;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The 32-byte model key from --key-file FILE, --key-file - or --key-fd N; zeroed by the caller. */
static ccg_result load_model_key(const seal_args *a, uint8_t key[CCG_ARTIFACT_MODEL_KEY_LEN])
{
    ccg_result result = CCG_FAILURE;
    uint8_t *raw = NULL;
    size_t len = 0;
    char what[64];
    CCG_ENSURE_MSG((a->key_file != NULL) != (a->key_fd >= 0), CCG_R_USAGE_INVALID,
                   "give exactly one of --key-file and --key-fd");
    if (a->key_file != NULL && !ccg_cli_is_stdio(a->key_file)) {
        snprintf(what, sizeof(what), "%.60s", a->key_file);
        CCG_TRY(ccg_file_read(a->key_file, KEY_FILE_MAX, &raw, &len));
    } else {
        int fd = a->key_file != NULL ? STDIN_FILENO : (int)a->key_fd;
        snprintf(what, sizeof(what), fd == STDIN_FILENO ? "standard input" : "descriptor %d", fd);
        raw = malloc(KEY_FILE_MAX);
        CCG_ENSURE_ALLOC(raw);
        CCG_TRY(read_fd_all(fd, what, KEY_FILE_MAX, raw, &len));
    }
    CCG_ENSURE_MSG(len == CCG_ARTIFACT_MODEL_KEY_LEN, CCG_R_ARTIFACT_KEY_INVALID,
                   "%s holds %zu bytes; a model key is %d raw bytes", what, len, CCG_ARTIFACT_MODEL_KEY_LEN);
    memcpy(key, raw, CCG_ARTIFACT_MODEL_KEY_LEN);
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

/* Standard input as a file that can be read twice: itself when it is a regular file, else a memfd
 * holding everything it delivers. *fd is to be closed by the caller when it is not 0. */
static ccg_result spool_stdin(int *fd, uint64_t *len)
{
    ccg_result result = CCG_FAILURE;
    struct stat st;
    uint8_t *buf = NULL;
    int m = -1;
    uint64_t total = 0;
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode)) {
        *fd = STDIN_FILENO;
        *len = (uint64_t)st.st_size;
        return CCG_SUCCESS;
    }
    m = memfd_create("ccgate-stdin", MFD_CLOEXEC);
    CCG_ENSURE_MSG(m >= 0, CCG_R_IO_READ_FAILED, "memfd_create: %s", strerror(errno));
    buf = malloc(SPOOL_BLOCK);
    CCG_ENSURE_ALLOC(buf);
    for (;;) {
        ssize_t got = read(STDIN_FILENO, buf, SPOOL_BLOCK), put = 0;
        if (got < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(got >= 0, CCG_R_IO_READ_FAILED, "cannot read standard input: %s", strerror(errno));
        if (got == 0) {
            break;
        }
        while (put < got) {
            ssize_t w = write(m, buf + put, (size_t)(got - put));
            CCG_ENSURE_MSG(w > 0 || errno == EINTR, CCG_R_IO_WRITE_FAILED,
                           "cannot hold standard input in memory: %s", strerror(errno));
            put += w > 0 ? w : 0;
        }
        total += (uint64_t)got;
    }
    *fd = m;
    *len = total;
    m = -1;
    result = CCG_SUCCESS;
cleanup:
    if (buf != NULL) {
        ccg_secure_zero(buf, SPOOL_BLOCK);
    }
    free(buf);
    if (m >= 0) {
        close(m);
    }
    return result;
}

/* --out naming the input itself would be truncated before it is read: refused. */
static ccg_result not_the_input(int in_fd, const char *out)
{
    ccg_result result = CCG_FAILURE;
    struct stat a, b;
    if (ccg_cli_is_stdio(out) || stat(out, &b) != 0 || fstat(in_fd, &a) != 0) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(a.st_dev != b.st_dev || a.st_ino != b.st_ino, CCG_R_USAGE_INVALID,
                   "--out %s is the input itself", out);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Binary data is not written to a terminal (an artifact or a model would scramble it). */
static int refuse_terminal_stdout(const ccg_cli *cli)
{
    if (isatty(STDOUT_FILENO) == 1) {
        ccg_cli_usage_error(cli, "standard output is a terminal: redirect it, or name a file with --out");
        return 1;
    }
    return 0;
}

static int stdin_twice(const ccg_cli *cli, const seal_args *a)
{
    if (ccg_cli_is_stdio(a->in) && (ccg_cli_is_stdio(a->key_file) || a->key_fd == STDIN_FILENO)) {
        ccg_cli_usage_error(cli, "--in - and --key-file - cannot both read standard input: use --key-fd");
        return 1;
    }
    return 0;
}

static ccg_result progress_begin(const seal_args *a, const char *label, uint64_t total, ccg_progress **p)
{
    ccg_progress_opts o = {.label = label, .out = stderr, .mode = a->progress};
    return ccg_progress_new(&o, total, p);
}

static ccg_result seal_streams(const seal_args *a, const uint8_t *key, EVP_PKEY *signer, ccg_progress **prog,
                               int *created)
{
    ccg_result result = CCG_FAILURE;
    int in = -1, out = -1;
    uint64_t len = 0;
    struct stat st;
    ccg_artifact_seal_opts o = {.model_key = key, .model_key_len = CCG_ARTIFACT_MODEL_KEY_LEN, .key_id = a->key_id,
                                .key_version = (uint32_t)a->key_version, .chunk_size = (uint32_t)a->chunk_size,
                                .signer = signer, .progress = ccg_progress_callback};
    if (ccg_cli_is_stdio(a->in)) {
        CCG_TRY(spool_stdin(&in, &len));
    } else {
        in = open(a->in, O_RDONLY | O_CLOEXEC);
        CCG_ENSURE_MSG(in >= 0, CCG_R_IO_READ_FAILED, "cannot open %s: %s", a->in, strerror(errno));
        CCG_ENSURE_MSG(fstat(in, &st) == 0, CCG_R_IO_READ_FAILED, "cannot stat %s: %s", a->in, strerror(errno));
        len = (uint64_t)st.st_size;
    }
    CCG_TRY(not_the_input(in, a->out));
    if (ccg_cli_is_stdio(a->out)) {
        out = STDOUT_FILENO;
    } else {
        out = open(a->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        CCG_ENSURE_MSG(out >= 0, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", a->out, strerror(errno));
        *created = 1;
    }
    CCG_TRY(progress_begin(a, "seal", 2 * len, prog));
    o.progress_ctx = *prog;
    CCG_TRY(ccg_artifact_seal_fds(in, out, &o));
    CCG_ENSURE_MSG(fsync(out) == 0 || errno == EINVAL || errno == EROFS, CCG_R_IO_WRITE_FAILED, "fsync %s: %s",
                   a->out, strerror(errno));
    result = CCG_SUCCESS;
cleanup:
    if (in > STDIN_FILENO) {
        close(in);
    }
    if (out > STDERR_FILENO) {
        CCG_ENSURE_MSG(close(out) == 0 || ccg_failed(result), CCG_R_IO_WRITE_FAILED, "close %s: %s", a->out,
                       strerror(errno));
    }
    return result;
}

static int do_seal(const ccg_cli *cli, const seal_args *a)
{
    uint8_t key[CCG_ARTIFACT_MODEL_KEY_LEN];
    EVP_PKEY *signer = NULL;
    ccg_progress *prog = NULL;
    int rc = CCG_EXIT_USAGE, created = 0;
    if (a->in == NULL || a->out == NULL || a->key_id == NULL || a->key_version < 1 || a->signer == NULL) {
        ccg_cli_usage_error(cli, "--in, --out, --key-id, --key-version and --signer are required");
        return CCG_EXIT_USAGE;
    }
    if (stdin_twice(cli, a) || (ccg_cli_is_stdio(a->out) && refuse_terminal_stdout(cli))) {
        return CCG_EXIT_USAGE;
    }
    ccg_error_clear();
    /* The key broker's name of the key (repo/type/tag), so the artifact names a key that can exist. */
    if (ccg_failed(ccg_key_id_check(a->key_id))) {
        return cli_report_error("seal", 0);
    }
    if (ccg_failed(load_model_key(a, key)) || ccg_failed(load_signer(a->signer, &signer)) ||
        ccg_failed(seal_streams(a, key, signer, &prog, &created))) {
        ccg_progress_finish(prog, 0);
        if (created) {
            (void)unlink(a->out);
        }
        rc = cli_report_error("seal", 0);
    } else {
        ccg_progress_finish(prog, 1);
        /* With --out -, standard output is the artifact: the summary goes to standard error. */
        fprintf(ccg_cli_is_stdio(a->out) ? stderr : stdout, "sealed %s -> %s (key %s version %lld)\n",
                ccg_cli_is_stdio(a->in) ? "standard input" : a->in,
                ccg_cli_is_stdio(a->out) ? "standard output" : a->out, a->key_id, (long long)a->key_version);
        rc = CCG_EXIT_OK;
    }
    ccg_progress_free(prog);
    ccg_secure_zero(key, sizeof(key));
    EVP_PKEY_free(signer);
    return rc;
}

static ccg_result write_all(int fd, const uint8_t *p, size_t n)
{
    ccg_result result = CCG_FAILURE;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(w > 0, CCG_R_IO_WRITE_FAILED, "cannot write standard output: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Unseals into a shared mapping of the output (the file, or a memfd for standard output), so the
 * model is never held twice; standard output gets the plaintext only after the whole check. */
static ccg_result unseal_out(ccg_artifact *art, const uint8_t *key, uint32_t version, const char *out,
                             unsigned threads, int *created)
{
    ccg_result result = CCG_FAILURE;
    size_t n = (size_t)ccg_artifact_header_of(art)->plaintext_len;
    uint8_t *map = NULL;
    int to_stdout = ccg_cli_is_stdio(out);
    int fd = to_stdout ? memfd_create("ccgate-unseal", MFD_CLOEXEC)
                       : open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", out, strerror(errno));
    *created = !to_stdout;
    CCG_ENSURE_MSG(ftruncate(fd, (off_t)n) == 0, CCG_R_IO_WRITE_FAILED, "cannot size %s: %s", out, strerror(errno));
    if (n > 0) {
        map = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CCG_ENSURE_MSG(map != MAP_FAILED, CCG_R_IO_WRITE_FAILED, "cannot map %s: %s", out, strerror(errno));
    }
    CCG_TRY(ccg_artifact_unseal_into(art, key, CCG_ARTIFACT_MODEL_KEY_LEN, version, map, n, threads));
    if (to_stdout && n > 0) {
        CCG_TRY(write_all(STDOUT_FILENO, map, n));
    }
    result = CCG_SUCCESS;
cleanup:
    if (map != NULL && map != MAP_FAILED) {
        if (to_stdout) {
            ccg_secure_zero(map, n);
        }
        munmap(map, n);
    }
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

/* `--in -`: the artifact from standard input, held in memory (the chunks are read in parallel). */
static ccg_result open_artifact(const seal_args *a, const ccg_artifact_open_opts *opts, ccg_artifact **art,
                                uint8_t **mem, size_t *mem_len)
{
    ccg_result result = CCG_FAILURE;
    int fd = -1;
    uint64_t len = 0;
    if (!ccg_cli_is_stdio(a->in)) {
        return ccg_artifact_open(a->in, opts, art);
    }
    CCG_TRY(spool_stdin(&fd, &len));
    CCG_ENSURE_MSG(len > 0 && len <= SIZE_MAX, CCG_R_ARTIFACT_TRUNCATED, "standard input is empty");
    *mem = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, fd, 0);
    CCG_ENSURE_MSG(*mem != MAP_FAILED, CCG_R_IO_READ_FAILED, "cannot map standard input: %s", strerror(errno));
    *mem_len = (size_t)len;
    CCG_TRY(ccg_artifact_open_memory(*mem, *mem_len, opts, art));
    result = CCG_SUCCESS;
cleanup:
    if (*mem == MAP_FAILED) {
        *mem = NULL;
    }
    if (fd > STDIN_FILENO) {
        close(fd);
    }
    return result;
}

/* A local --in that --out names too would be truncated before it is read: refused. */
static ccg_result out_not_in(const seal_args *a)
{
    ccg_result result = CCG_FAILURE;
    int fd = -1;
    if (ccg_cli_is_stdio(a->in) || strstr(a->in, "://") != NULL) {
        return CCG_SUCCESS;
    }
    fd = open(a->in, O_RDONLY | O_CLOEXEC);
    CCG_TRY(fd >= 0 ? not_the_input(fd, a->out) : CCG_SUCCESS); /* a missing input is reported at open */
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

static int do_unseal(const ccg_cli *cli, const seal_args *a)
{
    uint8_t key[CCG_ARTIFACT_MODEL_KEY_LEN], *mem = NULL;
    size_t mem_len = 0;
    ccg_artifact *art = NULL;
    ccg_artifact_open_opts opts = {.provider_key_path = a->provider_key, .ca_file = a->cacert};
    ccg_progress *prog = NULL;
    int rc = CCG_EXIT_USAGE, created = 0;
    if (a->in == NULL || a->out == NULL || a->key_version < 1 || a->provider_key == NULL) {
        ccg_cli_usage_error(cli, "--in, --out, --key-version and --provider-key are required");
        return CCG_EXIT_USAGE;
    }
    if (stdin_twice(cli, a) || (ccg_cli_is_stdio(a->out) && refuse_terminal_stdout(cli))) {
        return CCG_EXIT_USAGE;
    }
    ccg_error_clear();
    if (ccg_ok(out_not_in(a)) && ccg_ok(load_model_key(a, key)) &&
        ccg_ok(open_artifact(a, &opts, &art, &mem, &mem_len)) &&
        ccg_ok(progress_begin(a, "unseal", ccg_artifact_header_of(art)->plaintext_len, &prog))) {
        ccg_artifact_set_progress(art, ccg_progress_callback, prog);
        if (ccg_ok(unseal_out(art, key, (uint32_t)a->key_version, a->out, (unsigned)a->threads, &created))) {
            rc = CCG_EXIT_OK;
        }
    }
    ccg_progress_finish(prog, rc == CCG_EXIT_OK);
    if (rc != CCG_EXIT_OK) {
        if (created) {
            (void)unlink(a->out);
        }
        rc = cli_report_error("unseal", 0);
    } else {
        const ccg_artifact_header *h = ccg_artifact_header_of(art);
        char hex[2 * CCG_ARTIFACT_DIGEST_LEN + 1];
        ccg_hex_encode(h->plaintext_digest, sizeof(h->plaintext_digest), hex);
        fprintf(ccg_cli_is_stdio(a->out) ? stderr : stdout,
                "unsealed %s -> %s: key %s version %u, %llu bytes, digest %s\n",
                ccg_cli_is_stdio(a->in) ? "standard input" : a->in,
                ccg_cli_is_stdio(a->out) ? "standard output" : a->out, h->key_id, h->key_version,
                (unsigned long long)h->plaintext_len, hex);
    }
    ccg_progress_free(prog);
    ccg_secure_zero(key, sizeof(key));
    ccg_artifact_close(art);
    if (mem != NULL) {
        munmap(mem, mem_len);
    }
    return rc;
}

int cmd_seal(int argc, char **argv)
{
    const ccg_cli cli = {"ccgate seal", usage_seal, SEAL_OPTS, ""};
    seal_args a;
    int rc = parse(&cli, argc, argv, &a, NULL);
    return rc >= 0 ? rc : do_seal(&cli, &a);
}

int cmd_unseal(int argc, char **argv)
{
    const ccg_cli cli = {"ccgate unseal", usage_unseal, UNSEAL_OPTS, ""};
    seal_args a;
    int rc = parse(&cli, argc, argv, &a, NULL);
    return rc >= 0 ? rc : do_unseal(&cli, &a);
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
    int rc = CCG_EXIT_OK;
    ccg_error_clear();
    if (ccg_failed(read_head(path, buf, sizeof(buf), &got, &size)) ||
        ccg_failed(ccg_artifact_parse_header(buf, got, &h)) ||
        (provider_key != NULL && ccg_failed(ccg_artifact_open(path, &opts, &art)))) {
        return cli_report_error("artifact inspect", 0);
    }
    doc = header_json(&h, size, provider_key != NULL ? "verified" : "not checked (no --provider-key)");
    text = doc != NULL ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    if (text == NULL) {
        rc = CCG_EXIT_USAGE;
    } else {
        printf("%s\n", text);
    }
    free(text);
    json_decref(doc);
    ccg_artifact_close(art);
    return rc;
}

static int do_digest(const ccg_cli *cli, const seal_args *a)
{
    uint8_t d[CCG_ARTIFACT_DIGEST_LEN];
    char hex[2 * CCG_ARTIFACT_DIGEST_LEN + 1];
    uint64_t len = 0;
    int fd = -1;
    ccg_result r;
    if (a->in == NULL) {
        ccg_cli_usage_error(cli, "--in is required");
        return CCG_EXIT_USAGE;
    }
    ccg_error_clear();
    if (ccg_cli_is_stdio(a->in)) {
        r = spool_stdin(&fd, &len);
        r = ccg_ok(r) ? ccg_artifact_digest_fd(fd, (uint32_t)a->chunk_size, d, &len) : r;
        if (fd > STDIN_FILENO) {
            close(fd);
        }
    } else {
        r = ccg_artifact_digest_file(a->in, (uint32_t)a->chunk_size, d, &len);
    }
    if (ccg_failed(r)) {
        return cli_report_error("artifact digest", 0);
    }
    ccg_hex_encode(d, sizeof(d), hex);
    printf("%s  %s (%llu bytes, chunk size %lld)\n", hex, a->in, (unsigned long long)len,
           a->chunk_size != 0 ? (long long)a->chunk_size : (long long)CCG_ARTIFACT_DEFAULT_CHUNK);
    return CCG_EXIT_OK;
}

int cmd_artifact(int argc, char **argv)
{
    static const struct option std_only[] = {CCG_CLI_STD_OPTIONS, {0, 0, 0, 0}};
    const ccg_cli top = {"ccgate artifact", usage_artifact, std_only, ""};
    seal_args a;
    int rc;
    if (argc < 2) {
        ccg_cli_usage_error(&top, "a command is required: inspect or digest");
        return CCG_EXIT_USAGE;
    }
    if (strcmp(argv[1], "inspect") == 0) {
        const ccg_cli cli = {"ccgate artifact inspect", usage_inspect, INSPECT_OPTS, ""};
        const char *path = NULL;
        rc = parse(&cli, argc - 1, argv + 1, &a, &path);
        if (rc >= 0) {
            return rc;
        }
        path = path != NULL ? path : a.in;
        if (path == NULL) {
            ccg_cli_usage_error(&cli, "FILE is required");
            return CCG_EXIT_USAGE;
        }
        return do_inspect(path, a.provider_key);
    }
    if (strcmp(argv[1], "digest") == 0) {
        const ccg_cli cli = {"ccgate artifact digest", usage_digest, DIGEST_OPTS, ""};
        rc = parse(&cli, argc - 1, argv + 1, &a, NULL);
        return rc >= 0 ? rc : do_digest(&cli, &a);
    }
    /* --help, --version or an unknown option, then an unknown command, with the family's name. */
    if (argv[1][0] == '-') {
        rc = parse(&top, argc, argv, &a, NULL);
        if (rc >= 0) {
            return rc;
        }
    }
    return ccg_cli_exit(ccg_cli_unknown_command(&top, argv[1]));
}
