/* ccgate-kbs: the key broker daemon, and its minimal provisioning commands (docs/kbs.md).
 *
 *   ccgate-kbs [serve] --config FILE [--insecure-http] [--port-file FILE]
 *   ccgate-kbs create-kek --config FILE
 *   ccgate-kbs set-policy --config FILE --file POLICY.json
 *   ccgate-kbs import-key --config FILE --key-id REPO/TYPE/TAG --policy-id ID --file KEY
 *   ccgate-kbs rotate-key --config FILE --key-id REPO/TYPE/TAG --file KEY
 *   ccgate-kbs key-state  --config FILE --key-id REPO/TYPE/TAG --state active|disabled|retired
 *
 * The provisioning commands are audited as the host operator (kbs_host.c): each change is recorded
 * before it is made, so with the audit log unwritable nothing changes (audit.write_failed, exit 1).
 *
 * Exit status: 0 success, 1 refused (a store or keystore said no), 2 bad usage or input. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "ccgate/error.h"
#include "ccgate/version.h"
#include "ccgate/kbs.h"
#include "ccgate/keystore.h"
#include "ccgate/secmem.h"

typedef struct {
    const char *config;
    const char *file;
    const char *key_id;
    const char *policy_id;
    const char *state;
    const char *port_file;
    int insecure_http;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage:\n"
               "  ccgate-kbs [serve] --config FILE [--insecure-http] [--port-file FILE]\n"
               "  ccgate-kbs create-kek --config FILE\n"
               "  ccgate-kbs set-policy --config FILE --file POLICY.json\n"
               "  ccgate-kbs import-key --config FILE --key-id REPO/TYPE/TAG --policy-id ID --file KEY\n"
               "  ccgate-kbs rotate-key --config FILE --key-id REPO/TYPE/TAG --file KEY\n"
               "  ccgate-kbs key-state --config FILE --key-id REPO/TYPE/TAG --state active|disabled|retired\n"
               "  ccgate-kbs --version\n"
               "TLS is on by default (config \"tls\"); --insecure-http serves plain HTTP on loopback, for tests.\n");
}

static void log_error(const char *what)
{
    const ccg_error *e = ccg_error_last();
    json_t *line = json_pack("{s:s,s:s,s:s,s:s}", "level", "error", "msg", what, "reason",
                             ccg_reason_code(e->reason), "detail", e->message);
    char *text = line == NULL ? NULL : json_dumps(line, JSON_COMPACT);
    fprintf(stderr, "%s\n", text != NULL ? text : what);
    free(text);
    json_decref(line);
}

static int exit_for_error(void)
{
    ccg_reason_kind kind = ccg_reason_kind_of(ccg_error_reason());
    return kind == CCG_KIND_INPUT ? 2 : 1;
}

static int parse_options(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--insecure-http") == 0) {
            o->insecure_http = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--config") == 0) {
            slot = &o->config;
        } else if (strcmp(a, "--file") == 0) {
            slot = &o->file;
        } else if (strcmp(a, "--key-id") == 0) {
            slot = &o->key_id;
        } else if (strcmp(a, "--policy-id") == 0) {
            slot = &o->policy_id;
        } else if (strcmp(a, "--state") == 0) {
            slot = &o->state;
        } else if (strcmp(a, "--port-file") == 0) {
            slot = &o->port_file;
        }
        if (slot == NULL || i + 1 >= argc) {
            fprintf(stderr, "ccgate-kbs: unknown or incomplete option %s\n", a);
            return -1;
        }
        *slot = argv[++i];
    }
    if (o->config == NULL) {
        fprintf(stderr, "ccgate-kbs: --config is required\n");
        return -1;
    }
    return 0;
}

static int serve(const options *o, ccg_kbs *k, const ccg_kbs_config *cfg)
{
    ccg_kbs_server *srv = NULL;
    sigset_t set;
    int sig = 0;
    char port[16];

    /* Signals are taken synchronously below; the server's threads inherit the mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (ccg_failed(ccg_kbs_server_start(k, cfg, o->insecure_http, &srv))) {
        log_error("the server did not start");
        return exit_for_error();
    }
    {
        /* What a core dump would need, as the process itself sees it (docs/kbs.md). */
        struct rlimit core = {1, 1};
        (void)getrlimit(RLIMIT_CORE, &core);
        fprintf(stderr,
                "{\"level\":\"info\",\"msg\":\"listening\",\"address\":\"%s\",\"port\":%u,\"tls\":%s,"
                "\"dumpable\":%d,\"core_limit\":%llu}\n",
                cfg->bind_address, (unsigned)ccg_kbs_server_port(srv), o->insecure_http ? "false" : "true",
                prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), (unsigned long long)core.rlim_cur);
    }
    if (o->port_file != NULL) {
        int n = snprintf(port, sizeof(port), "%u\n", (unsigned)ccg_kbs_server_port(srv));
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", o->port_file);
        if (ccg_failed(ccg_file_write(tmp, (const uint8_t *)port, (size_t)n)) || rename(tmp, o->port_file) != 0) {
            log_error("the port file could not be written");
            ccg_kbs_server_stop(srv);
            return 1;
        }
    }
    sigwait(&set, &sig);
    fprintf(stderr, "{\"level\":\"info\",\"msg\":\"stopping\",\"signal\":%d}\n", sig);
    ccg_kbs_server_stop(srv);
    return 0;
}

static int import_key(const options *o, ccg_kbs *k, int rotate)
{
    int64_t version = 1;
    uint8_t *raw = NULL;
    size_t len = 0;
    ccg_secbuf key = {0};
    int rc = 2;
    if (o->key_id == NULL || (o->policy_id == NULL && !rotate) || o->file == NULL) {
        usage(stderr);
        return 2;
    }
    if (ccg_failed(ccg_file_read(o->file, CCG_KEYSTORE_MAX_KEY_LEN, &raw, &len)) || len == 0 ||
        ccg_failed(ccg_secbuf_alloc(&key, len, 1))) {
        log_error("the key file could not be read");
        goto cleanup;
    }
    memcpy(key.data, raw, len);
    if (rotate ? ccg_failed(ccg_kbs_host_rotate_key(k, o->key_id, &key, &version))
               : ccg_failed(ccg_kbs_host_import_key(k, o->key_id, o->policy_id, &key))) {
        log_error(rotate ? "the key was not rotated" : "the key was not imported");
        rc = exit_for_error();
        goto cleanup;
    }
    printf("{\"%s\":\"%s\",\"version\":%lld}\n", rotate ? "rotated" : "imported", o->key_id, (long long)version);
    rc = 0;
cleanup:
    if (raw != NULL) {
        ccg_secure_zero(raw, len);
    }
    free(raw);
    ccg_secbuf_free(&key);
    return rc;
}

int main(int argc, char **argv)
{
    const char *cmd = "serve";
    options o;
    ccg_kbs_config cfg;
    ccg_kbs *k = NULL;
    int rc = 2;
    int first = 1;

    /* Before anything holds a secret, and before any JSON value exists. */
    if (ccg_failed(ccg_kbs_process_harden())) {
        log_error("the process could not be hardened");
        return 1;
    }
    if (argc >= 2 && argv[1][0] != '-') {
        cmd = argv[1];
        first = 2;
    }
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        ccg_version_print(stdout, "ccgate-kbs");
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (parse_options(argc - first, argv + first, &o) != 0) {
        usage(stderr);
        return 2;
    }
    if (ccg_failed(ccg_kbs_config_load(o.config, &cfg))) {
        log_error("the configuration is invalid");
        return 2;
    }
    if (ccg_failed(ccg_kbs_new(&cfg, NULL, NULL, &k))) {
        log_error("the broker could not open its state");
        ccg_kbs_config_free(&cfg);
        return 1;
    }
    if (strcmp(cmd, "serve") == 0) {
        rc = serve(&o, k, &cfg);
    } else if (strcmp(cmd, "create-kek") == 0) {
        rc = 0;
        if (ccg_failed(ccg_kbs_host_create_kek(k))) {
            log_error("the KEK was not created");
            rc = exit_for_error();
        }
    } else if (strcmp(cmd, "set-policy") == 0) {
        uint8_t *text = NULL;
        size_t len = 0;
        if (o.file == NULL) {
            usage(stderr);
        } else if (ccg_failed(ccg_file_read(o.file, 1u << 20, &text, &len)) ||
                   ccg_failed(ccg_kbs_host_set_policy(k, (const char *)text, len))) {
            log_error("the policy was not stored");
            rc = exit_for_error();
        } else {
            rc = 0;
        }
        free(text);
    } else if (strcmp(cmd, "import-key") == 0) {
        rc = import_key(&o, k, 0);
    } else if (strcmp(cmd, "rotate-key") == 0) {
        rc = import_key(&o, k, 1);
    } else if (strcmp(cmd, "key-state") == 0) {
        if (o.key_id == NULL || o.state == NULL) {
            usage(stderr);
        } else if (ccg_failed(ccg_kbs_host_set_key_state(k, o.key_id, o.state))) {
            log_error("the key state was not changed");
            rc = exit_for_error();
        } else {
            rc = 0;
        }
    } else {
        fprintf(stderr, "ccgate-kbs: unknown command %s\n", cmd);
        usage(stderr);
    }
    ccg_kbs_free(k);
    ccg_kbs_config_free(&cfg);
    return rc;
}
