/* The text form of `ccgate audit show` and `ccgate kbs audit show`: one block per record of the
 * request, the failed checks first named by code and described, then what was presented. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static const char *text_or(const json_t *v, const char *dflt)
{
    const char *s = json_string_value(v);
    return s != NULL ? s : dflt;
}

static void print_id_version(FILE *out, const char *label, const json_t *iv)
{
    const json_t *version = json_object_get(iv, "version");
    fprintf(out, "  %-9s %s", label, text_or(json_object_get(iv, "id"), "-"));
    if (json_is_integer(version)) {
        fprintf(out, " (version %lld)", (long long)json_integer_value(version));
    }
    fprintf(out, "\n");
}

/* One claim as text: a string, a number, a boolean, or a list of strings. */
static void print_claim(FILE *out, const char *name, const json_t *v)
{
    size_t i;
    const json_t *item;
    fprintf(out, "    %-22s ", name);
    if (json_is_string(v)) {
        fprintf(out, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        fprintf(out, "%lld", (long long)json_integer_value(v));
    } else if (json_is_boolean(v)) {
        fprintf(out, "%s", json_is_true(v) ? "yes" : "no");
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            fprintf(out, "%s%s", i ? " " : "", text_or(item, "?"));
        }
    } else {
        fprintf(out, "-");
    }
    fprintf(out, "\n");
}

static void print_record(FILE *out, const json_t *r)
{
    const json_t *checks = json_object_get(r, "failed_checks"), *presented = json_object_get(r, "presented");
    const json_t *tcb = json_object_get(r, "tcb"), *c, *v;
    const char *name;
    size_t i;
    fprintf(out, "record %lld  %s  %s  %s (%s)\n", (long long)json_integer_value(json_object_get(r, "seq")),
            text_or(json_object_get(r, "time"), "-"), text_or(json_object_get(r, "action"), "-"),
            text_or(json_object_get(r, "decision"), "-"), text_or(json_object_get(r, "persona"), "-"));
    print_id_version(out, "policy", json_object_get(r, "policy"));
    print_id_version(out, "key", json_object_get(r, "key"));
    if (json_array_size(checks) == 0) {
        fprintf(out, "  failed checks: none\n");
    } else {
        fprintf(out, "  failed checks:\n");
        json_array_foreach(checks, i, c) {
            fprintf(out, "    %s: %s\n", text_or(json_object_get(c, "code"), "?"),
                    text_or(json_object_get(c, "description"), ""));
        }
    }
    if (json_is_object(tcb)) {
        fprintf(out, "  tcb status: %s\n", text_or(json_object_get(tcb, "status"), "-"));
    }
    if (json_is_object(presented)) {
        fprintf(out, "  presented:\n");
        json_object_foreach((json_t *)presented, name, v) {
            print_claim(out, name, v);
        }
    } else {
        fprintf(out, "  presented: not recorded (a record without claims)\n");
    }
    if (json_is_string(json_object_get(r, "evidence_digest"))) {
        fprintf(out, "  evidence  %s\n", json_string_value(json_object_get(r, "evidence_digest")));
    }
}

void cli_audit_show_print(FILE *out, const json_t *show)
{
    const json_t *records = json_object_get(show, "records"), *r;
    size_t i;
    fprintf(out, "request %s: %zu record%s\n", text_or(json_object_get(show, "request_id"), "?"),
            json_array_size(records), json_array_size(records) == 1 ? "" : "s");
    json_array_foreach(records, i, r) {
        print_record(out, r);
    }
}
