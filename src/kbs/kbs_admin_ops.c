/* Admin API, operator: the audit log (list, verify, show a request) and health (keystore readiness and key states,
 * never material). */
#include "kbs_admin.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

#define KBS_ADMIN_AUDIT_LIMIT 1000u

static void audit_list(kbs_admin_call *c)
{
    json_t *records = NULL;
    c->action = "admin.audit.list";
    if (ccg_failed(ccg_audit_list(c->k->audit, 0, 0, &records))) {
        kbs_admin_fail(c);
        return;
    }
    /* The newest records, oldest first. */
    while (json_array_size(records) > KBS_ADMIN_AUDIT_LIMIT) {
        json_array_remove(records, 0);
    }
    kbs_admin_ok(c, 200, json_pack("{s:o}", "records", records));
}

static void audit_verify(kbs_admin_call *c)
{
    ccg_audit_verify_report report;
    memset(&report, 0, sizeof(report));
    c->action = "admin.audit.verify";
    if (ccg_failed(ccg_audit_verify(c->k->audit, NULL, &report)) && ccg_error_reason() != CCG_R_AUDIT_CHAIN_BROKEN) {
        kbs_admin_fail(c);
        return;
    }
    ccg_error_clear();
    kbs_admin_ok(c, 200, ccg_audit_verify_report_json(&report));
}

/* GET /admin/v0/audit/<request-id>: the request's records explained (ccg_audit_show). The ID is one
 * path segment of the request ID alphabet; anything else is admin.request_malformed. */
static void audit_show(kbs_admin_call *c, const char *request_id)
{
    json_t *show = NULL;
    size_t n = strlen(request_id);
    c->action = "admin.audit.show";
    if (n == 0 || n > CCG_AUDIT_REQUEST_ID_MAX || strspn(request_id,
                                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                          "0123456789._:-") != n) {
        kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
        return;
    }
    if (ccg_failed(ccg_audit_show(c->k->audit, request_id, &show))) {
        if (ccg_error_reason() == CCG_R_AUDIT_RECORD_NOT_FOUND) {
            kbs_admin_deny(c, CCG_R_AUDIT_RECORD_NOT_FOUND);
        } else {
            kbs_admin_fail(c);
        }
        return;
    }
    kbs_admin_ok(c, 200, show);
}

static void health(kbs_admin_call *c)
{
    ccg_keystore *ks = NULL;
    ccg_store_key *keys = NULL;
    size_t n = 0;
    int64_t counts[4] = {0, 0, 0, 0};
    int ready;
    c->action = "admin.health";
    ready = ccg_ok(kbs_keystore(c->k, &ks)) && ccg_ok(ccg_keystore_health(ks));
    ccg_error_clear();
    if (ccg_failed(ccg_store_key_list(c->k->store, NULL, &keys, &n))) {
        kbs_admin_fail(c);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (keys[i].state >= CCG_KEY_ACTIVE && keys[i].state <= CCG_KEY_RETIRED) {
            counts[keys[i].state]++;
        }
    }
    ccg_store_key_list_free(keys, n);
    kbs_admin_ok(c, 200,
                 json_pack("{s:s,s:s,s:{s:I,s:I,s:I}}", "status", ready ? "ready" : "not_ready", "store",
                           ccg_store_backend(c->k->store), "key_versions", "active", (json_int_t)counts[CCG_KEY_ACTIVE],
                           "disabled", (json_int_t)counts[CCG_KEY_DISABLED], "retired",
                           (json_int_t)counts[CCG_KEY_RETIRED]));
}

void kbs_admin_ops(kbs_admin_call *c, const char *group, const char *rest)
{
    c->action = strcmp(group, "audit") == 0 ? "admin.audit" : "admin.health";
    if (strcmp(c->req->method, "GET") != 0) {
        kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
        return;
    }
    if (!kbs_admin_require(c, KBS_ROLE_OPERATOR)) {
        return;
    }
    if (strcmp(group, "health") == 0 && rest[0] == 0) {
        health(c);
    } else if (rest[0] == 0) {
        audit_list(c);
    } else if (strcmp(rest, "/verify") == 0) {
        audit_verify(c);
    } else if (rest[0] == '/') {
        audit_show(c, rest + 1);
    } else {
        kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
    }
}
