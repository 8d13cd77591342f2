/* Admin API, authority: reference-value sets (signed records, versioned) and collateral blobs. Each
 * write is recorded (kbs_admin_intent) before it is made. */
#include "kbs_admin.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

static void refval_put(kbs_admin_call *c)
{
    ccg_refval_set *set = NULL;
    char *text = NULL;
    json_t *body = NULL;
    c->action = "admin.refval.put";
    if (!kbs_admin_require(c, KBS_ROLE_AUTHORITY)) {
        return;
    }
    text = strndup(c->req->body, c->req->body_len);
    if (text == NULL || strlen(text) != c->req->body_len) {
        free(text);
        kbs_admin_deny(c, text == NULL ? CCG_R_INTERNAL_OUT_OF_MEMORY : CCG_R_ADMIN_REQUEST_MALFORMED);
        return;
    }
    if (ccg_failed(ccg_refval_set_parse(text, c->req->body_len, &set))) {
        kbs_admin_fail(c);
    } else if (!kbs_admin_intent(c)) {
        /* answered: nothing stored without its record */
    } else if (ccg_failed(ccg_store_refval_put(c->k->store, set->set_id, set->version, text, c->now))) {
        kbs_admin_fail(c);
    } else {
        body = json_pack("{s:s,s:I,s:I}", "set_id", set->set_id, "version", (json_int_t)set->version, "records",
                         (json_int_t)set->count);
        kbs_admin_ok(c, 201, body);
    }
    ccg_refval_set_free(set);
    free(text);
}

static void refval_get(kbs_admin_call *c, const char *set_id)
{
    ccg_store_doc doc;
    json_t *body;
    memset(&doc, 0, sizeof(doc));
    c->action = "admin.refval.get";
    if (c->who.role != KBS_ROLE_AUTHORITY && c->who.role != KBS_ROLE_OPERATOR) {
        kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN);
        return;
    }
    if (ccg_failed(ccg_store_refval_get(c->k->store, set_id, 0, &doc))) {
        kbs_admin_fail(c);
        return;
    }
    body = json_pack("{s:s,s:I,s:s,s:o}", "set_id", set_id, "version", (json_int_t)doc.version, "digest", doc.digest,
                     "document", json_loadb((const char *)doc.body, doc.len, 0, NULL));
    ccg_store_doc_free(&doc);
    kbs_admin_ok(c, 200, body);
}

void kbs_admin_refvals(kbs_admin_call *c, const char *rest)
{
    c->action = "admin.refval";
    if (rest[0] == 0 && strcmp(c->req->method, "POST") == 0) {
        refval_put(c);
    } else if (rest[0] == '/' && strcmp(c->req->method, "GET") == 0 && kbs_admin_id_valid(rest + 1)) {
        refval_get(c, rest + 1);
    } else {
        kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
    }
}

void kbs_admin_collateral(kbs_admin_call *c, const char *rest)
{
    kbs_admin_collateral_doc doc;
    c->action = "admin.collateral.put";
    if (rest[0] != 0 || strcmp(c->req->method, "POST") != 0) {
        kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
        return;
    }
    if (!kbs_admin_require(c, KBS_ROLE_AUTHORITY)) {
        return;
    }
    if (ccg_failed(kbs_admin_parse_collateral(c->req->body, c->req->body_len, &doc))) {
        kbs_admin_fail(c);
        return;
    }
    if (ccg_failed(kbs_collateral_check_upload(doc.id, doc.data, doc.len, c->now))) {
        kbs_admin_collateral_doc_clear(&doc);
        kbs_admin_fail(c);
        return;
    }
    if (!kbs_admin_intent(c)) {
        kbs_admin_collateral_doc_clear(&doc);
        return;
    }
    if (ccg_failed(
            ccg_store_doc_put(c->k->store, CCG_DOC_COLLATERAL, doc.id, doc.version, doc.data, doc.len, c->now))) {
        kbs_admin_collateral_doc_clear(&doc);
        kbs_admin_fail(c);
        return;
    }
    kbs_admin_ok(c, 201, json_pack("{s:s,s:I,s:I}", "collateral_id", doc.id, "version", (json_int_t)doc.version,
                                   "bytes", (json_int_t)doc.len));
    kbs_admin_collateral_doc_clear(&doc);
}
