/* ccgate channel serve|send: the attested channel's demo pair (docs/channel.md). The server's evidence
 * comes from the software SNP firmware (a TEST ROOT written to --emulate-dir/ark.pem, which a client must
 * name with --trust-root); the client sends nothing before that evidence passed its policy. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccgate/channel.h"
#include "ccgate/snp_emulator.h"
#include "cli.h"

#define MAX_MESSAGES 64
#define MAX_STDIN (1u << 20)
#define MAX_FILE (1u << 20)

/* ------------------------------------------------------------------ serve */

typedef struct {
    int port;
    const char *emulate_dir;
    const char *product;
    const char *measurement;
    int debug;
    int print;
    long max_connections;
    double rate;
    double burst;
    int timeout_ms;
} serve_args;

static void serve_usage(FILE *out)
{
    fprintf(out,
            "Usage: ccgate channel serve --emulate-dir DIR [--port N] [--measurement HEX] [--debug]\n"
            "                            [--product milan|genoa|turin] [--print] [--max-connections N]\n"
            "                            [--rate PER_SECOND] [--burst N] [--timeout-ms MS]\n"
            "\n"
            "Listens on 127.0.0.1 and runs the attested channel's server side for each client: a fresh X25519\n"
            "key, evidence whose REPORT_DATA binds the client's nonce, that key and the suite, key confirmation,\n"
            "then echoes every message back. The evidence comes from ccgate's software SNP firmware: its test\n"
            "ARK is written to DIR/ark.pem, which clients must trust explicitly (--trust-root). TEST ROOT ONLY.\n"
            "\n"
            "  --emulate-dir DIR    where to write ark.pem (created when missing)\n"
            "  --port N             TCP port on 127.0.0.1 (default 0: any; the port is printed)\n"
            "  --measurement HEX    the 48-byte launch MEASUREMENT to report (default the emulator's)\n"
            "  --debug              report a debug guest (clients must refuse it)\n"
            "  --product NAME       milan (default), genoa or turin\n"
            "  --print              also print each received message to stdout\n"
            "  --max-connections N  exit after N connections (default: until SIGTERM or SIGINT)\n"
            "  --rate R, --burst B  evidence per second and burst per client address (default 5 and 10)\n"
            "  --timeout-ms MS      per I/O wait (default 30000)\n"
            "\n"
            "Prints 'listening on 127.0.0.1:PORT', then one line per connection on stderr with its outcome\n"
            "(ok or a channel.* reason code).\n"
            "Exit status: 0 stopped, 2 bad usage or a failure.\n");
}

static int parse_serve(int argc, char **argv, serve_args *a)
{
    static const struct option opts[] = {
        {"port", required_argument, 0, 'p'},        {"emulate-dir", required_argument, 0, 'e'},
        {"measurement", required_argument, 0, 'm'}, {"debug", no_argument, 0, 'd'},
        {"product", required_argument, 0, 'P'},     {"print", no_argument, 0, 'o'},
        {"max-connections", required_argument, 0, 'n'}, {"rate", required_argument, 0, 'r'},
        {"burst", required_argument, 0, 'b'},       {"timeout-ms", required_argument, 0, 't'},
        CCG_CLI_STD_OPTIONS,              {0, 0, 0, 0},
    };
    const ccg_cli cli = {"ccgate channel serve", serve_usage, opts, NULL};
    int c;
    char *end = NULL;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        errno = 0;
        switch (c) {
        case 'p': a->port = (int)strtol(optarg, &end, 10); break;
        case 'e': a->emulate_dir = optarg; break;
        case 'm': a->measurement = optarg; break;
        case 'd': a->debug = 1; break;
        case 'P': a->product = optarg; break;
        case 'o': a->print = 1; break;
        case 'n': a->max_connections = strtol(optarg, &end, 10); break;
        case 'r': a->rate = strtod(optarg, &end); break;
        case 'b': a->burst = strtod(optarg, &end); break;
        case 't': a->timeout_ms = (int)strtol(optarg, &end, 10); break;
        default: return c; /* help, version or a usage error, already printed */
        }
        if (end != NULL && (*end != '\0' || errno != 0)) {
            return ccg_cli_usage_error(&cli, "bad number '%s'", optarg);
        }
        end = NULL;
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    if (a->emulate_dir == NULL) {
        return ccg_cli_usage_error(&cli, "--emulate-dir is required (the only evidence source so far)");
    }
    if (a->port < 0 || a->port > 65535 || a->rate <= 0 || a->burst < 1 || a->timeout_ms < 0 ||
        a->max_connections < 0) {
        return ccg_cli_usage_error(&cli, "a number is out of range");
    }
    return 0;
}

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR and the loop sees the flag */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static ccg_result write_ark(const char *dir, const ccg_snp_emulator *emu)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    CCG_ENSURE_ALLOC(bio);
    CCG_ENSURE_MSG(mkdir(dir, 0700) == 0 || errno == EEXIST, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", dir,
                   strerror(errno));
    CCG_ENSURE_OSSL(PEM_write_bio_X509(bio, ccg_snp_emulator_ark(emu)) == 1, CCG_R_INTERNAL_CRYPTO);
    len = BIO_get_mem_data(bio, &data);
    CCG_ENSURE_OSSL(len > 0, CCG_R_INTERNAL_CRYPTO);
    snprintf(path, sizeof(path), "%s/ark.pem", dir);
    CCG_TRY(cli_file_write(path, (const uint8_t *)data, (size_t)len));
    result = CCG_SUCCESS;
cleanup:
    BIO_free(bio);
    return result;
}

static ccg_result new_emulated(const serve_args *a, ccg_snp_emulator **emu, ccg_channel_emulated *em)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_emulator_config cfg;
    ccg_snp_report r;
    ccg_snp_product product = ccg_snp_product_from_name(a->product ? a->product : "milan");
    CCG_ENSURE_MSG(product != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_USAGE_INVALID, "unknown product '%s'", a->product);
    ccg_snp_emulator_config_init(&cfg, product, CCG_SNP_SIGNER_VCEK);
    CCG_ENSURE_OSSL(RAND_bytes(cfg.chip_id, (int)ccg_snp_hwid_len(product)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_snp_emulator_new(&cfg, emu));
    memset(em, 0, sizeof(*em));
    em->emu = *emu;
    em->debug = a->debug;
    ccg_snp_emulator_default_report(*emu, &r);
    memcpy(em->measurement, r.measurement, sizeof(em->measurement));
    if (a->measurement != NULL) {
        CCG_ENSURE_MSG(ccg_hex_is_valid(a->measurement, sizeof(em->measurement)), CCG_R_USAGE_INVALID,
                       "--measurement must be 48 bytes of hex");
        CCG_TRY(ccg_hex_decode_exact(a->measurement, em->measurement, sizeof(em->measurement)));
    }
    CCG_TRY(write_ark(a->emulate_dir, *emu));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result listen_loopback(int port, int *fd_out, int *port_out)
{
    ccg_result result = CCG_FAILURE;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t len = sizeof(sa);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_CHANNEL_IO, "socket: %s", strerror(errno));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    CCG_ENSURE_MSG(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, CCG_R_CHANNEL_IO, "bind 127.0.0.1:%d: %s", port,
                   strerror(errno));
    CCG_ENSURE_MSG(listen(fd, 16) == 0, CCG_R_CHANNEL_IO, "listen: %s", strerror(errno));
    CCG_ENSURE_MSG(getsockname(fd, (struct sockaddr *)&sa, &len) == 0, CCG_R_CHANNEL_IO, "getsockname: %s",
                   strerror(errno));
    *port_out = ntohs(sa.sin_port);
    *fd_out = fd;
    fd = -1;
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

/* Echoes every message until the client's close frame, then closes in turn. */
static ccg_result echo_handler(void *arg, ccg_channel_session *s, const char *peer)
{
    ccg_result result = CCG_FAILURE;
    const serve_args *a = arg;
    static uint8_t buf[CCG_CHANNEL_MAX_PLAINTEXT];
    size_t len = 0;
    int closed = 0;
    for (;;) {
        CCG_TRY(ccg_channel_recv(s, buf, sizeof(buf), &len, &closed));
        if (closed) {
            break;
        }
        if (a->print) {
            printf("%s: %.*s\n", peer, (int)len, (const char *)buf);
            fflush(stdout);
        }
        CCG_TRY(ccg_channel_send(s, buf, len));
    }
    CCG_TRY(ccg_channel_close(s));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void print_outcome(void *arg, const char *peer, ccg_reason reason, const char *message)
{
    (void)arg;
    if (reason == CCG_R_OK) {
        fprintf(stderr, "ccgate channel serve: %s: ok\n", peer);
    } else {
        fprintf(stderr, "ccgate channel serve: %s: %s: %s\n", peer, ccg_reason_code(reason), message);
    }
    fflush(stderr);
}

static int run_serve(serve_args *a)
{
    int rc = CLI_EXIT_USAGE;
    ccg_snp_emulator *emu = NULL;
    ccg_channel_emulated em;
    ccg_channel_ratelimit *rl = NULL;
    int fd = -1, port = 0;
    ccg_channel_serve_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    ccg_error_clear();
    if (ccg_failed(new_emulated(a, &emu, &em)) || ccg_failed(ccg_channel_ratelimit_new(a->rate, a->burst, 1024, &rl)) ||
        ccg_failed(listen_loopback(a->port, &fd, &port))) {
        rc = cli_report_error("channel serve", 0);
        goto cleanup;
    }
    install_signals();
    printf("listening on 127.0.0.1:%d (evidence: emulated SNP, TEST ROOT %s/ark.pem)\n", port, a->emulate_dir);
    fflush(stdout);
    cfg.server.get_evidence = ccg_channel_emulated_evidence;
    cfg.server.evidence_arg = &em;
    cfg.server.timeout_ms = a->timeout_ms;
    cfg.ratelimit = rl;
    cfg.handler = echo_handler;
    cfg.outcome = print_outcome;
    cfg.arg = a;
    cfg.max_connections = a->max_connections;
    cfg.stop = &g_stop;
    if (ccg_failed(ccg_channel_serve(fd, &cfg))) {
        rc = cli_report_error("channel serve", 0);
        goto cleanup;
    }
    rc = CLI_EXIT_OK;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    ccg_channel_ratelimit_free(rl);
    ccg_snp_emulator_free(emu);
    return rc;
}

/* ------------------------------------------------------------------ send */

typedef struct {
    const char *connect;
    const char *policy;
    const char *trust_root;
    const char *trust_root_product;
    const char *now;
    ccg_time now_t; /* --now resolved (cli_now) */
    const char *aead;
    const char *refvals;
    const char *issuer_keys[16];
    int issuer_key_count;
    const char *baselines[3];
    int baseline_count;
    const char *messages[MAX_MESSAGES];
    int message_count;
    int timeout_ms;
    int json;
} send_args;

static void send_usage(FILE *out)
{
    fprintf(out,
            "Usage: ccgate channel send --connect HOST:PORT --policy FILE [--trust-root FILE\n"
            "                           [--trust-root-product milan|genoa|turin]] [--now TIME]\n"
            "                           [--refvals FILE] [--tcb-baseline FILE...] [--issuer-key ID=FILE...]\n"
            "                           [--aead chacha20-poly1305|aes-128-gcm]\n"
            "                           [--message TEXT...] [--timeout-ms MS]\n"
            "\n"
            "Connects to an attested-channel server, verifies its SEV-SNP evidence against --policy (the approved\n"
            "measurements or reference values) and checks that the evidence binds this connection's nonce and the\n"
            "server's key. Only then sends each --message (or all of stdin as one message) and prints each reply.\n"
            "\n"
            "  --connect HOST:PORT  an IPv4 address and port, e.g. 127.0.0.1:7000\n"
            "  --policy FILE        the client's SNP policy (docs/snp-policy.md), required; it must pin the\n"
            "                       measurement (allowed_measurements or reference_values)\n"
            "  --trust-root FILE    also trust this self-signed root (the emulator's ark.pem; test roots only)\n"
            "  --trust-root-product the root's product (default milan)\n"
            "  --now TIME           the verification time, RFC 3339 or epoch seconds (default: the current\n"
            "                       time, printed to stderr so it can be pinned)\n"
            "  --refvals FILE       a signed reference-value set the policy may name\n"
            "  --tcb-baseline FILE  a signed SEV-SNP TCB baseline, one per product (docs/snp-tcb-baseline.md);\n"
            "                       a policy requires one unless its \"tcb\" says \"require_baseline\": false\n"
            "  --issuer-key ID=FILE trust this signer of reference values and TCB baselines (repeat)\n"
            "  --aead NAME          the frame AEAD (default chacha20-poly1305)\n"
            "  --message TEXT       a message to send (repeat); without any, stdin is sent as one message\n"
            "  --json               errors as the error object (docs/cli.md); replies are printed as they are\n"
            "  --timeout-ms MS      per I/O wait (default 30000)\n"
            "\n"
            "Exit status: 0 every reply received and the channel closed cleanly, 1 the server was refused\n"
            "(evidence, binding or key confirmation), 2 bad usage, I/O or protocol failure.\n");
}

static int parse_send(int argc, char **argv, send_args *a)
{
    static const struct option opts[] = {
        {"connect", required_argument, 0, 'c'},    {"policy", required_argument, 0, 'p'},
        {"trust-root", required_argument, 0, 't'}, {"trust-root-product", required_argument, 0, 'P'},
        {"now", required_argument, 0, 'n'},        {"aead", required_argument, 0, 'a'},
        {"refvals", required_argument, 0, 'V'},    {"issuer-key", required_argument, 0, 'I'},
        {"message", required_argument, 0, 'm'},    {"timeout-ms", required_argument, 0, 'T'},
        {"tcb-baseline", required_argument, 0, 'B'}, {"json", no_argument, 0, 'j'}, CCG_CLI_STD_OPTIONS,
        {0, 0, 0, 0},
    };
    const ccg_cli cli = {"ccgate channel send", send_usage, opts, NULL};
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        switch (c) {
        case 'c': a->connect = optarg; break;
        case 'p': a->policy = optarg; break;
        case 't': a->trust_root = optarg; break;
        case 'P': a->trust_root_product = optarg; break;
        case 'n': a->now = optarg; break;
        case 'a': a->aead = optarg; break;
        case 'V': a->refvals = optarg; break;
        case 'I':
            if (a->issuer_key_count == 16) {
                return ccg_cli_usage_error(&cli, "at most 16 --issuer-key");
            }
            a->issuer_keys[a->issuer_key_count++] = optarg;
            break;
        case 'j': a->json = 1; break;
        case 'B':
            if (a->baseline_count == 3) {
                return ccg_cli_usage_error(&cli, "at most 3 --tcb-baseline (one per product)");
            }
            a->baselines[a->baseline_count++] = optarg;
            break;
        case 'm':
            if (a->message_count == MAX_MESSAGES) {
                return ccg_cli_usage_error(&cli, "at most %d --message", MAX_MESSAGES);
            }
            a->messages[a->message_count++] = optarg;
            break;
        case 'T': {
            char *end = NULL;
            long ms = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || ms < 0 || ms > 3600000) {
                return ccg_cli_usage_error(&cli, "--timeout-ms must be 0 to 3600000");
            }
            a->timeout_ms = (int)ms;
            break;
        }
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    if (a->connect == NULL) {
        return ccg_cli_usage_error(&cli, "--connect is required");
    }
    /* Without a policy naming the approved measurements, any genuine server would be accepted. */
    if (a->policy == NULL) {
        return ccg_cli_usage_error(&cli, "--policy is required (the approved measurements or reference values); "
                                         "without it any genuine server would be accepted");
    }
    if (a->aead != NULL && strcmp(a->aead, "chacha20-poly1305") != 0 && strcmp(a->aead, "aes-128-gcm") != 0) {
        return ccg_cli_usage_error(&cli, "unknown --aead '%s'", a->aead);
    }
    return cli_now(&cli, a->now, &a->now_t);
}

static ccg_result connect_to(const char *spec, int *out)
{
    ccg_result result = CCG_FAILURE;
    char host[64];
    const char *colon = strrchr(spec, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET};
    char *end = NULL;
    int fd = -1;
    CCG_ENSURE_MSG(colon != NULL && (size_t)(colon - spec) < sizeof(host), CCG_R_USAGE_INVALID,
                   "--connect must be HOST:PORT");
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    long port = strtol(colon + 1, &end, 10);
    CCG_ENSURE_MSG(*end == '\0' && port > 0 && port < 65536 && inet_pton(AF_INET, host, &sa.sin_addr) == 1,
                   CCG_R_USAGE_INVALID, "--connect must be an IPv4 address and a port");
    sa.sin_port = htons((uint16_t)port);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_CHANNEL_IO, "socket: %s", strerror(errno));
    CCG_ENSURE_MSG(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, CCG_R_CHANNEL_IO, "connect %s: %s", spec,
                   strerror(errno));
    *out = fd;
    fd = -1;
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

static ccg_result add_trust_root(const send_args *a, ccg_snp_verifier *v)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_collateral tmp = {0};
    uint8_t *data = NULL;
    size_t len = 0;
    ccg_snp_product product = ccg_snp_product_from_name(a->trust_root_product ? a->trust_root_product : "milan");
    CCG_ENSURE_MSG(product != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_USAGE_INVALID, "unknown product");
    CCG_TRY(ccg_snp_collateral_init(&tmp));
    CCG_TRY(cli_file_read(a->trust_root, MAX_FILE, &data, &len));
    CCG_TRY(ccg_snp_collateral_add_certs(&tmp, data, len));
    CCG_ENSURE_MSG(sk_X509_num(tmp.certs) == 1, CCG_R_USAGE_INVALID, "--trust-root must hold one certificate");
    CCG_TRY(ccg_snp_verifier_add_root(v, product, sk_X509_value(tmp.certs, 0)));
    result = CCG_SUCCESS;
cleanup:
    free(data);
    ccg_snp_collateral_free(&tmp);
    return result;
}

typedef struct {
    ccg_snp_verifier *verifier;
    ccg_snp_policy *policy;
    ccg_refval_set *refvals;
    ccg_refval_issuers *issuers;
    ccg_snp_tcb_baselines baselines;
    ccg_snp_verify_opts opts;
    ccg_time now;
} client_inputs;

static ccg_result load_client_inputs(const send_args *a, client_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    CCG_TRY(ccg_snp_verifier_new(&in->verifier));
    if (a->trust_root != NULL) {
        CCG_TRY(add_trust_root(a, in->verifier));
    }
    CCG_ENSURE_MSG(a->policy != NULL, CCG_R_USAGE_INVALID, "no client policy"); /* parse_send refuses first */
    CCG_TRY(cli_file_read(a->policy, MAX_FILE, &text, &len));
    CCG_TRY(ccg_snp_policy_parse((const char *)text, len, &in->policy));
    free(text);
    text = NULL;
    CCG_ENSURE_MSG(in->policy->measurements != NULL || in->policy->has_refval_set, CCG_R_USAGE_INVALID,
                   "the --policy pins no measurement (give allowed_measurements or reference_values): any genuine "
                   "server would be accepted");
    CCG_TRY(cli_load_issuers(a->issuer_keys, a->issuer_key_count, &in->issuers));
    if (a->refvals != NULL) {
        CCG_TRY(cli_file_read(a->refvals, 4 * MAX_FILE, &text, &len));
        CCG_TRY(ccg_refval_set_parse((const char *)text, len, &in->refvals));
    }
    CCG_TRY(cli_load_tcb_baselines(a->baselines, a->baseline_count, &in->baselines));
    in->opts.refvals = in->refvals;
    in->opts.issuers = in->issuers;
    in->opts.tcb_baselines = &in->baselines;
    in->opts.tcb_issuers = in->issuers;
    in->now = a->now_t;
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

static void free_client_inputs(client_inputs *in)
{
    ccg_refval_set_free(in->refvals);
    ccg_refval_issuers_free(in->issuers);
    ccg_snp_tcb_baselines_free(&in->baselines);
    ccg_snp_policy_free(in->policy);
    ccg_snp_verifier_free(in->verifier);
}

static ccg_result read_stdin(uint8_t **out, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = malloc(MAX_STDIN + 1);
    size_t n = 0;
    CCG_ENSURE_ALLOC(buf);
    for (;;) {
        size_t k = fread(buf + n, 1, MAX_STDIN + 1 - n, stdin);
        n += k;
        if (k == 0 || n > MAX_STDIN) {
            break;
        }
    }
    CCG_ENSURE_MSG(n <= MAX_STDIN, CCG_R_INPUT_TOO_LARGE, "stdin is larger than %u bytes", MAX_STDIN);
    *out = buf;
    *len = n;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}

/* Sends one message and prints the echoed reply (which may span several frames). */
static ccg_result exchange(ccg_channel_session *s, const uint8_t *msg, size_t len)
{
    ccg_result result = CCG_FAILURE;
    static uint8_t buf[CCG_CHANNEL_MAX_PLAINTEXT];
    size_t got = 0, n = 0;
    int closed = 0;
    CCG_TRY(ccg_channel_send(s, msg, len));
    do {
        CCG_TRY(ccg_channel_recv(s, buf, sizeof(buf), &n, &closed));
        CCG_ENSURE_MSG(!closed, CCG_R_CHANNEL_PEER_CLOSED, "the server closed before replying");
        fwrite(buf, 1, n, stdout);
        got += n;
    } while (got < len);
    putchar('\n');
    fflush(stdout);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result finish(ccg_channel_session *s)
{
    ccg_result result = CCG_FAILURE;
    uint8_t buf[64];
    size_t n = 0;
    int closed = 0;
    CCG_TRY(ccg_channel_close(s));
    CCG_TRY(ccg_channel_recv(s, buf, sizeof(buf), &n, &closed));
    CCG_ENSURE_MSG(closed, CCG_R_CHANNEL_MESSAGE_MALFORMED, "data after our close frame");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void print_denial(const ccg_decision *d)
{
    for (size_t i = 0; i < d->reasons.count; i++) {
        char *details = json_dumps(d->reasons.items[i].details, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(stderr, "cause: %s: %s %s\n", ccg_reason_code(d->reasons.items[i].reason),
                ccg_reason_message(d->reasons.items[i].reason), details ? details : "");
        free(details);
    }
}

static int run_send(const send_args *a)
{
    int rc = CLI_EXIT_USAGE;
    client_inputs in;
    ccg_channel_client_config cfg;
    ccg_channel_session *s = NULL;
    ccg_decision d;
    uint8_t *input = NULL;
    size_t input_len = 0;
    int fd = -1;
    memset(&in, 0, sizeof(in));
    memset(&cfg, 0, sizeof(cfg));
    ccg_decision_init(&d, "snp");
    ccg_error_clear();
    if (ccg_failed(load_client_inputs(a, &in)) ||
        (a->message_count == 0 && ccg_failed(read_stdin(&input, &input_len))) || ccg_failed(connect_to(a->connect, &fd))) {
        rc = cli_report_error("channel send", a->json);
        goto cleanup;
    }
    cfg.verifier = in.verifier;
    cfg.policy = in.policy;
    cfg.opts = &in.opts;
    cfg.now = in.now;
    cfg.timeout_ms = a->timeout_ms;
    cfg.aead_id = a->aead != NULL && strcmp(a->aead, "aes-128-gcm") == 0 ? CCG_HPKE_AEAD_AES128GCM
                                                                         : CCG_HPKE_AEAD_CHACHA20POLY1305;
    ccg_decision_free(&d);
    if (ccg_failed(ccg_channel_connect(fd, &cfg, &d, &s))) {
        print_denial(&d);
        rc = cli_report_error("channel send", a->json);
        goto cleanup;
    }
    fprintf(stderr, "ccgate channel send: server attested (%s), channel established\n", d.evidence_digest);
    for (int i = 0; i < a->message_count; i++) {
        if (ccg_failed(exchange(s, (const uint8_t *)a->messages[i], strlen(a->messages[i])))) {
            rc = cli_report_error("channel send", a->json);
            goto cleanup;
        }
    }
    if ((a->message_count == 0 && ccg_failed(exchange(s, input, input_len))) || ccg_failed(finish(s))) {
        rc = cli_report_error("channel send", a->json);
        goto cleanup;
    }
    rc = CLI_EXIT_OK;
cleanup:
    ccg_channel_session_free(s);
    if (fd >= 0) {
        close(fd);
    }
    free(input);
    ccg_decision_free(&d);
    free_client_inputs(&in);
    return rc;
}

/* ------------------------------------------------------------------ dispatch */

int cmd_channel(int argc, char **argv)
{
    static const cli_sub subs[] = {
        {"serve", "the server side, with emulated evidence (test root only)"},
        {"send", "connect, verify the server's evidence, and send messages"},
    };
    int rc = CLI_EXIT_USAGE;
    switch (cli_group("ccgate channel", "The attested secure channel.", subs, 2, argc, argv, &rc)) {
    case 0: {
        serve_args a = {.rate = 5, .burst = 10};
        rc = cli_parse_result(parse_serve(argc - 1, argv + 1, &a), NULL);
        return rc >= 0 ? rc : run_serve(&a);
    }
    case 1: {
        send_args a;
        memset(&a, 0, sizeof(a));
        rc = cli_parse_result(parse_send(argc - 1, argv + 1, &a), NULL);
        return rc >= 0 ? rc : run_send(&a);
    }
    default: return rc;
    }
}
