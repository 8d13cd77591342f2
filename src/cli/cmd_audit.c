/* ccgate audit: verify, list and anchor the hash-chained audit log of the key broker, and keep it
 * bounded (checkpoint, prune). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "ccgate/audit.h"
#include "cli.h"

typedef struct {
    const char *db;
    int json;
    int64_t since;
    int64_t limit;
    int has_anchor;
    ccg_audit_anchor anchor;
    int64_t checkpoint;      /* prune --checkpoint SEQ */
    int has_before;          /* prune --before TIME */
    ccg_time before;
    const char *request_id;  /* show REQUEST_ID */
} audit_args;

static const char *g_name = "ccgate audit"; /* the full name of the subcommand being run */

static void usage(FILE *out)
{
    /* The forms of every subcommand, then what they share; cli_usage_for picks this one's forms. */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m == NULL) {
        return;
    }
    fprintf(m,
            "       ccgate audit verify --db FILE [--anchor SEQ:HASH] [--json]\n"
            "       ccgate audit list   --db FILE [--since SEQ] [--limit N] [--json]\n"
            "       ccgate audit head   --db FILE [--json]\n"
            "       ccgate audit checkpoint --db FILE [--json]\n"
            "       ccgate audit prune  --db FILE (--checkpoint SEQ | --before TIME) [--json]\n"
            "       ccgate audit show   --db FILE REQUEST_ID [--json]\n"
            "\n"
            "verify  walks the hash chain from the first record and names the first broken link;\n"
            "        every record must have the members of its format (1 event, 2 counted, 3 TCB status,\n"
            "        4 GPUs, 5 TDX, 6 presented claims: docs/audit.md).\n"
            "        --anchor SEQ:HASH also requires record SEQ to exist with that hash (a head\n"
            "        recorded earlier with 'audit head'), which detects removal of the newest records.\n"
            "list    prints the records with seq > SEQ (default 0: all), oldest first.\n"
            "head    prints the newest record's seq and hash, to keep as an anchor elsewhere.\n"
            "checkpoint  appends a checkpoint record and prints its SEQ:HASH (keep it as an anchor):\n"
            "        the chain can later be verified from it alone.\n"
            "prune   deletes every record before a checkpoint (--checkpoint SEQ, or the newest one made\n"
            "        at or before --before TIME, RFC 3339) and records the prune; a broken chain is\n"
            "        never pruned. verify then starts at that checkpoint.\n"
            "show    why a request was decided so, from its records alone: what was presented (the\n"
            "        claims), each failed check (reason code and description), the decision, the policy\n"
            "        and key with their versions, the time. --json prints the same as JSON.\n"
            "FILE    a SQLite database, or a PostgreSQL URI (postgresql://... or postgres://...).\n"
            "\n"
            "Exit status: 0 intact (or success, or shown), 1 chain broken (show: no record of REQUEST_ID,\n"
            "audit.record_not_found), 2 bad usage or unreadable database.\n");
    fclose(m);
    cli_usage_for(out, g_name, text);
    free(text);
}

static int parse_int(const char *s, int64_t min, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_anchor(const char *s, ccg_audit_anchor *a)
{
    const char *colon = strchr(s, ':');
    char seq[32];
    size_t n = colon ? (size_t)(colon - s) : 0;
    if (colon == NULL || n == 0 || n >= sizeof(seq) || strlen(colon + 1) != 64) {
        return -1;
    }
    memcpy(seq, s, n);
    seq[n] = '\0';
    if (parse_int(seq, 1, &a->seq) != 0) {
        return -1;
    }
    memcpy(a->hash, colon + 1, 65);
    for (size_t i = 0; i < 64; i++) {
        char c = a->hash[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return -1;
        }
    }
    return 0;
}

/* Returns 0, or a CCG_CLI_EXIT_* outcome (already printed). Each option is taken only by the subcommands
 * it belongs to. */
static int parse_args(const char *sub, int argc, char **argv, audit_args *args)
{
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'},           {"db", required_argument, 0, 'd'},
        {"since", required_argument, 0, 's'},    {"limit", required_argument, 0, 'l'},
        {"checkpoint", required_argument, 0, 'c'}, {"before", required_argument, 0, 'b'},
        {"anchor", required_argument, 0, 'a'},   CCG_CLI_STD_OPTIONS,
        {0, 0, 0, 0},
    };
    const ccg_cli cli = {g_name, usage, opts, NULL};
    int c;
    memset(args, 0, sizeof(*args));
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc - 1, argv + 1)) != CCG_CLI_END) {
        const char *only = c == 's' || c == 'l' ? "list" : c == 'c' || c == 'b' ? "prune" : c == 'a' ? "verify" : NULL;
        if (c < 0) {
            return c; /* help, version or a usage error, already printed */
        }
        if (only != NULL && strcmp(sub, only) != 0) {
            const char *opt = c == 's' ? "--since" : c == 'l' ? "--limit" : c == 'c' ? "--checkpoint"
                            : c == 'b' ? "--before" : "--anchor";
            return ccg_cli_usage_error(&cli, "%s belongs to 'ccgate audit %s'", opt, only);
        }
        switch (c) {
        case 'j': args->json = 1; break;
        case 'd': args->db = optarg; break;
        case 's':
            if (ccg_cli_int(&cli, "--since", optarg, 0, INT64_MAX, &args->since) != 0) {
                return CCG_CLI_EXIT_2;
            }
            break;
        case 'l':
            if (ccg_cli_int(&cli, "--limit", optarg, 1, INT64_MAX, &args->limit) != 0) {
                return CCG_CLI_EXIT_2;
            }
            break;
        case 'c':
            if (ccg_cli_int(&cli, "--checkpoint", optarg, 1, INT64_MAX, &args->checkpoint) != 0) {
                return CCG_CLI_EXIT_2;
            }
            break;
        case 'b':
            if (ccg_failed(ccg_time_parse_rfc3339(optarg, &args->before))) {
                return ccg_cli_usage_error(&cli, "--before needs an RFC 3339 time, e.g. 2026-01-01T00:00:00Z");
            }
            args->has_before = 1;
            break;
        case 'a':
            if (parse_anchor(optarg, &args->anchor) != 0) {
                return ccg_cli_usage_error(&cli, "--anchor needs SEQ:HASH (seq >= 1, 64 lowercase hex digits)");
            }
            args->has_anchor = 1;
            break;
        default: return CCG_CLI_EXIT_2;
        }
    }
    if (strcmp(sub, "show") == 0) {
        if (optind != argc - 2) {
            return ccg_cli_usage_error(&cli, "give exactly one REQUEST_ID");
        }
        args->request_id = argv[optind + 1];
    } else if (optind != argc - 1) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind + 1]);
    }
    if (args->db == NULL) {
        return ccg_cli_usage_error(&cli, "--db FILE is required");
    }
    if (strcmp(sub, "prune") == 0 && (args->checkpoint != 0) == (args->has_before != 0)) {
        return ccg_cli_usage_error(&cli, "give exactly one of --checkpoint SEQ and --before TIME");
    }
    return 0;
}

static int print_json(json_t *value)
{
    char *text = value ? json_dumps(value, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (text == NULL) {
        fprintf(stderr, "ccgate audit: out of memory\n");
        return -1;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

static int do_verify(ccg_audit *a, const audit_args *args)
{
    ccg_audit_verify_report report;
    ccg_result r = ccg_audit_verify(a, args->has_anchor ? &args->anchor : NULL, &report);
    if (ccg_failed(r) && ccg_error_reason() != CCG_R_AUDIT_CHAIN_BROKEN) {
        return cli_report_error("audit verify", args->json);
    }
    if (args->json) {
        json_t *out = ccg_audit_verify_report_json(&report);
        int rc = print_json(out);
        json_decref(out);
        if (rc != 0) {
            return CLI_EXIT_USAGE;
        }
    } else if (report.intact) {
        printf("audit chain intact: %lld records, head seq %lld hash %s\n", (long long)report.records,
               (long long)report.head_seq, report.head_hash);
        if (report.start_seq > 1) {
            printf("  verified from checkpoint %lld (the %lld records before it were pruned)\n",
                   (long long)report.start_seq, (long long)(report.start_seq - 1));
        }
        if (report.events != report.records) {
            printf("  the records stand for %lld events (summaries count several)\n", (long long)report.events);
        }
    } else {
        printf("audit chain BROKEN at seq %lld: %s\n", (long long)report.broken_seq, report.problem);
        printf("  %s\n", report.detail);
        if (report.expected[0]) {
            printf("  expected: %s\n", report.expected);
        }
        if (report.stored[0]) {
            printf("  stored:   %s\n", report.stored);
        }
        printf("  records before it verified: %lld (last good seq %lld)\n", (long long)report.records,
               (long long)report.head_seq);
    }
    if (!report.intact) {
        fprintf(stderr, "ccgate: audit verify: %s: the chain is broken at seq %lld (%s)\n",
                ccg_reason_code(CCG_R_AUDIT_CHAIN_BROKEN), (long long)report.broken_seq, report.problem);
        return CLI_EXIT_DENY;
    }
    return CLI_EXIT_OK;
}

static const char *opt_text(const json_t *rec, const char *key)
{
    const char *s = json_string_value(json_object_get(rec, key));
    return s ? s : "-";
}

/* A format-4 record's GPUs: " gpus=<arch>:<ueid>:<measurements>[<mismatched indexes>],...". */
static void print_gpus(const json_t *gpus)
{
    size_t i, j;
    json_t *g, *index;
    json_array_foreach(gpus, i, g) {
        const json_t *mismatched = json_object_get(g, "mismatched_indexes");
        printf("%s%s:%s:%s", i == 0 ? " gpus=" : ",", opt_text(g, "arch"), opt_text(g, "ueid"),
               opt_text(g, "measurements"));
        json_array_foreach(mismatched, j, index) {
            printf("%s%lld", j == 0 ? "[" : " ", (long long)json_integer_value(index));
        }
        if (json_array_size(mismatched) > 0) {
            printf("]");
        }
    }
}

static void print_record_line(const json_t *rec)
{
    char key[300], policy[300], reasons[1024] = "";
    size_t i = 0, used = 0;
    json_t *code = NULL;
    json_t *kv = json_object_get(rec, "key_version");
    json_t *pv = json_object_get(rec, "policy_version");
    if (json_is_integer(kv)) {
        snprintf(key, sizeof(key), "%s@%lld", opt_text(rec, "key_id"), (long long)json_integer_value(kv));
    } else {
        snprintf(key, sizeof(key), "%s", opt_text(rec, "key_id"));
    }
    if (json_is_integer(pv)) {
        snprintf(policy, sizeof(policy), "%s@%lld", opt_text(rec, "policy_id"), (long long)json_integer_value(pv));
    } else {
        snprintf(policy, sizeof(policy), "%s", opt_text(rec, "policy_id"));
    }
    json_array_foreach(json_object_get(rec, "reasons"), i, code) {
        int n = snprintf(reasons + used, sizeof(reasons) - used, "%s%s", i ? "," : "", json_string_value(code));
        if (n < 0 || (size_t)n >= sizeof(reasons) - used) {
            break;
        }
        used += (size_t)n;
    }
    printf("%lld %s %-5s %s %s req=%s key=%s policy=%s reasons=%s",
           (long long)json_integer_value(json_object_get(rec, "seq")), opt_text(rec, "time"),
           opt_text(rec, "decision"), opt_text(rec, "persona"), opt_text(rec, "action"), opt_text(rec, "request_id"),
           key, policy, used ? reasons : "-");
    print_gpus(json_object_get(rec, "gpus"));
    printf("\n");
}

static int do_list(ccg_audit *a, const audit_args *args)
{
    json_t *records = NULL;
    size_t i = 0;
    json_t *rec = NULL;
    int rc = CLI_EXIT_OK;
    if (ccg_failed(ccg_audit_list(a, args->since, (size_t)args->limit, &records))) {
        return cli_report_error("audit list", args->json);
    }
    if (args->json) {
        rc = print_json(records) == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    } else {
        json_array_foreach(records, i, rec) {
            print_record_line(rec);
        }
    }
    json_decref(records);
    return rc;
}

static int do_head(ccg_audit *a, const audit_args *args)
{
    int64_t seq = 0;
    char hash[CCG_AUDIT_HASH_HEX];
    if (ccg_failed(ccg_audit_head(a, &seq, hash))) {
        return cli_report_error("audit head", args->json);
    }
    if (args->json) {
        json_t *out = json_pack("{s:I, s:s}", "seq", (json_int_t)seq, "hash", hash);
        int rc = print_json(out);
        json_decref(out);
        return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    printf("%lld:%s\n", (long long)seq, hash);
    return CLI_EXIT_OK;
}

/* A request ID for a record the operator makes from the command line: "cli-" and 16 hex digits. */
static int cli_request_id(char out[32])
{
    uint8_t raw[8];
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return -1;
    }
    memcpy(out, "cli-", 4);
    ccg_hex_encode(raw, sizeof(raw), out + 4);
    return 0;
}

static int do_checkpoint(ccg_audit *a, const audit_args *args)
{
    int64_t seq = 0;
    char hash[CCG_AUDIT_HASH_HEX], rid[32];
    if (cli_request_id(rid) != 0 || ccg_failed(ccg_audit_checkpoint(a, ccg_time_now(), rid, &seq, hash))) {
        return cli_report_error("audit checkpoint", args->json);
    }
    if (args->json) {
        json_t *out = json_pack("{s:I, s:s}", "seq", (json_int_t)seq, "hash", hash);
        int rc = print_json(out);
        json_decref(out);
        return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    printf("%lld:%s\n", (long long)seq, hash);
    return CLI_EXIT_OK;
}

static int do_prune(ccg_audit *a, const audit_args *args)
{
    int64_t checkpoint = args->checkpoint, removed = 0;
    char rid[32];
    if ((args->has_before && ccg_failed(ccg_audit_checkpoint_before(a, args->before, &checkpoint))) ||
        cli_request_id(rid) != 0 || ccg_failed(ccg_audit_prune(a, checkpoint, ccg_time_now(), rid, &removed))) {
        int rc = cli_report_error("audit prune", args->json);
        /* A refusal of the log's own (a broken chain, no such checkpoint) is a denial, not bad usage. */
        ccg_reason why = ccg_error_reason();
        return why == CCG_R_AUDIT_CHAIN_BROKEN || why == CCG_R_AUDIT_CHECKPOINT_INVALID ? CLI_EXIT_DENY : rc;
    }
    if (args->json) {
        json_t *out = json_pack("{s:I, s:I}", "checkpoint", (json_int_t)checkpoint, "removed", (json_int_t)removed);
        int rc = print_json(out);
        json_decref(out);
        return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    printf("pruned %lld records before checkpoint %lld\n", (long long)removed, (long long)checkpoint);
    return CLI_EXIT_OK;
}

static int do_show(ccg_audit *a, const audit_args *args)
{
    json_t *show = NULL;
    int rc = CLI_EXIT_OK;
    if (ccg_failed(ccg_audit_show(a, args->request_id, &show))) {
        return cli_report_error("audit show", args->json);
    }
    if (args->json) {
        rc = print_json(show) == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    } else {
        cli_audit_show_print(stdout, show);
    }
    json_decref(show);
    return rc;
}

int cmd_audit(int argc, char **argv)
{
    audit_args args;
    ccg_audit *a = NULL;
    ccg_audit_options opts = {.busy_timeout_ms = 0, .create = 0};
    int rc;
    static const cli_sub subs[] = {
        {"verify", "walk the hash chain and name the first broken link"},
        {"list", "print the records after a sequence number, oldest first"},
        {"head", "print the newest record's SEQ:HASH, to keep as an anchor"},
        {"checkpoint", "append a checkpoint record and print its SEQ:HASH"},
        {"prune", "delete the records before a checkpoint"},
        {"show", "why a request was decided so: presented claims, failed checks, versions"},
    };
    char name[64];
    int k = cli_group("ccgate audit", "Verify, list, anchor or prune the key broker's hash-chained audit log.",
                      subs, sizeof(subs) / sizeof(subs[0]), argc, argv, &rc);
    if (k < 0) {
        return rc;
    }
    const char *sub = subs[k].word;
    g_name = cli_subname(name, sizeof(name), "ccgate audit", sub);
    rc = cli_parse_result(parse_args(sub, argc, argv, &args), NULL);
    if (rc >= 0) {
        return rc;
    }
    if (ccg_failed(ccg_audit_open(args.db, &opts, &a))) {
        return cli_report_error("audit", args.json);
    }
    if (strcmp(sub, "verify") == 0) {
        rc = do_verify(a, &args);
    } else if (strcmp(sub, "list") == 0) {
        rc = do_list(a, &args);
    } else if (strcmp(sub, "checkpoint") == 0) {
        rc = do_checkpoint(a, &args);
    } else if (strcmp(sub, "prune") == 0) {
        rc = do_prune(a, &args);
    } else if (strcmp(sub, "show") == 0) {
        rc = do_show(a, &args);
    } else {
        rc = do_head(a, &args);
    }
    ccg_audit_close(a);
    return rc;
}
