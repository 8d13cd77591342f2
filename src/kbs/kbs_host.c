/* The host-side provisioning commands of ccgate-kbs (create-kek, set-policy, import-key, rotate-key,
 * key-state, key cut-over, key transfer, rewrap), audited as the host operator (persona host-operator,
 * request ID "host-<random>"). Each
 * change is checked, then recorded (write-ahead), then made: an unwritable audit log leaves everything
 * unchanged. A command refused by its checks, or a change that fails after its record, gets an error
 * record naming the reason. */
#include "kbs_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccgate/artifact.h"
#include "ccgate/error.h"

/* One host command: what it changes, for its records. */
typedef struct {
    ccg_kbs *k;
    const char *action;
    char request_id[72];
    const char *key_id;
    int64_t key_version;
    const char *policy_id;
    int64_t policy_version;
    const json_t *claims; /* format-6 claims of its records (a transfer's new owner), or NULL */
} host_call;

/* An ID as the audit log accepts it (printable ASCII without space), else none: a bad ID is refused
 * by the command and must not also make its error record unwritable. */
static const char *audit_id(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > CCG_AUDIT_ID_MAX) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (id[i] <= 0x20 || id[i] >= 0x7f) {
            return NULL;
        }
    }
    return id;
}

/* The claims naming the owner a key is given to (format 6): an unbound owner's issuer is null, and a
 * name the audit log would refuse is left out rather than made a failure here (the store's owner rules
 * judge it). A new reference, NULL when out of memory. */
static json_t *owner_claims(const ccg_store_owner *to)
{
    return json_pack("{s:s?,s:s?}", "new_owner_issuer", audit_id(to->issuer), "new_owner_subject",
                     audit_id(to->subject));
}

static ccg_result host_begin(ccg_kbs *k, host_call *h, const char *action)
{
    ccg_result result = CCG_FAILURE;
    char id[64];
    memset(h, 0, sizeof(*h));
    h->k = k;
    h->action = action;
    CCG_TRY(kbs_random_id(id));
    snprintf(h->request_id, sizeof(h->request_id), "host-%.43s", id);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result host_record(host_call *h, ccg_audit_decision d, ccg_reason why)
{
    ccg_result result = CCG_FAILURE;
    ccg_audit_event ev;
    ccg_reasons list;
    ccg_reasons_init(&list);
    CCG_ENSURE_ALLOC(d == CCG_AUDIT_ALLOW || ccg_reasons_add(&list, why, NULL) == 0 ? &list : NULL);
    memset(&ev, 0, sizeof(ev));
    ev.time = kbs_now(h->k);
    ev.request_id = h->request_id;
    ev.persona = CCG_PERSONA_HOST_OPERATOR;
    ev.action = h->action;
    ev.key_id = audit_id(h->key_id);
    ev.key_version = h->key_version;
    ev.policy_id = audit_id(h->policy_id);
    ev.policy_version = h->policy_version;
    ev.decision = d;
    ev.reasons = d == CCG_AUDIT_ALLOW ? NULL : &list;
    ev.claims = h->claims;
    CCG_TRY(ccg_audit_append(h->k->audit, &ev, NULL, NULL));
    result = CCG_SUCCESS;
cleanup:
    ccg_reasons_free(&list);
    return result;
}

/* Write-ahead: the allow record of the change; audit.write_failed means nothing may change. */
static ccg_result host_intent(host_call *h) { return host_record(h, CCG_AUDIT_ALLOW, CCG_R_OK); }

/* Records the thread's last error as the command's outcome (deny or error) and fails with that error
 * unchanged. An audit failure is not recorded again. */
static ccg_result host_fail(host_call *h)
{
    ccg_error saved = *ccg_error_last();
    ccg_reason_kind kind;
    if (saved.reason == CCG_R_OK) {
        saved.reason = CCG_R_INTERNAL_ERROR;
        snprintf(saved.message, sizeof(saved.message), "the command failed without a reason");
    }
    kind = ccg_reason_kind_of(saved.reason);
    if (saved.reason != CCG_R_AUDIT_WRITE_FAILED) {
        (void)host_record(h, kind == CCG_KIND_DENY ? CCG_AUDIT_DENY : CCG_AUDIT_ERROR, saved.reason);
    }
    ccg_error_clear();
    ccg_error_set(saved.reason, saved.file != NULL ? saved.file : __FILE__, saved.line, "%s", saved.message);
    return CCG_FAILURE;
}

/* A command that sets a key's owner (import with an owner, transfer): its records name that owner, as
 * the admin API's owner_transfers do. *claims is a new reference the caller frees. */
static ccg_result host_name_owner(host_call *h, const ccg_store_owner *owner, json_t **claims)
{
    ccg_result result = CCG_FAILURE;
    *claims = owner_claims(owner);
    CCG_ENSURE_ALLOC(*claims);
    h->claims = *claims;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* After the record: h's key now belongs to owner. The host is authoritative, so this replaces whatever
 * owner or claim the ID had. */
static ccg_result host_write_owner(host_call *h, const ccg_store_owner *owner)
{
    int done = 0;
    if (ccg_failed(ccg_store_owner_transfer(h->k->store, CCG_OWNED_KEY, h->key_id, NULL, owner, kbs_now(h->k),
                                            &done))) {
        return host_fail(h);
    }
    return CCG_SUCCESS;
}

ccg_result ccg_kbs_host_create_kek(ccg_kbs *k)
{
    ccg_result result = CCG_FAILURE;
    host_call h;
    ccg_keystore_config kc;
    ccg_keystore *ks = NULL;
    int have_config = 0;
    memset(&kc, 0, sizeof(kc));
    CCG_TRY(host_begin(k, &h, "host.kek.create"));
    if (ccg_failed(ccg_keystore_config_from_json(k->keystore_cfg, &kc))) {
        CCG_TRY(host_fail(&h));
    }
    have_config = 1;
    if (k->allow_unlocked) {
        kc.allow_unlocked_memory = 1;
    }
    CCG_TRY(host_intent(&h));
    if (ccg_failed(ccg_keystore_open(&kc, &ks)) || ccg_failed(ccg_keystore_create_kek(ks, NULL))) {
        CCG_TRY(host_fail(&h));
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_keystore_close(ks);
    if (have_config) {
        ccg_keystore_config_free(&kc);
    }
    return result;
}

ccg_result ccg_kbs_host_set_policy(ccg_kbs *k, const char *json_text, size_t len)
{
    ccg_result result = CCG_FAILURE;
    host_call h;
    ccg_kbs_policy *p = NULL;
    CCG_TRY(host_begin(k, &h, "host.policy.set"));
    if (ccg_failed(ccg_kbs_policy_parse(json_text, len, &p))) {
        CCG_TRY(host_fail(&h));
    }
    h.policy_id = p->policy_id;
    h.policy_version = p->version;
    CCG_TRY(host_intent(&h));
    if (ccg_failed(ccg_kbs_set_policy(k, json_text, len))) {
        CCG_TRY(host_fail(&h));
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_kbs_policy_free(p);
    return result;
}

ccg_result ccg_kbs_resource_size_check(size_t len)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(len >= 1 && len <= CCG_KBS_RESOURCE_MAX, CCG_R_KEY_RESOURCE_TOO_LARGE,
                   "a key or resource of %zu bytes: the size rule is 1..%u bytes (1 MiB)", len, CCG_KBS_RESOURCE_MAX);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_kbs_host_import_key(ccg_kbs *k, const char *key_id, const char *policy_id, const ccg_secbuf *key)
{
    return ccg_kbs_host_import_key_owned(k, key_id, policy_id, key, NULL);
}

ccg_result ccg_kbs_host_import_key_owned(ccg_kbs *k, const char *key_id, const char *policy_id, const ccg_secbuf *key,
                                         const ccg_store_owner *owner)
{
    ccg_result result = CCG_FAILURE;
    host_call h;
    ccg_store_key existing;
    ccg_store_doc policy;
    json_t *claims = NULL;
    memset(&existing, 0, sizeof(existing));
    memset(&policy, 0, sizeof(policy));
    CCG_TRY(host_begin(k, &h, "host.key.import"));
    h.key_id = key_id;
    h.key_version = 1;
    if (owner != NULL) {
        CCG_TRY(host_name_owner(&h, owner, &claims));
    }
    h.policy_id = policy_id;
    /* Checked before the record: the ID's form, the size, an existing key, a missing policy. */
    if (ccg_failed(ccg_key_id_check(key_id)) || ccg_failed(ccg_kbs_resource_size_check(key != NULL ? key->len : 0))) {
        CCG_TRY(host_fail(&h));
    }
    if (ccg_ok(ccg_store_key_get(k->store, key_id, 0, &existing))) {
        ccg_error_set(CCG_R_STORE_CONFLICT, __FILE__, __LINE__, "key '%.256s' exists; rotate it instead", key_id);
        CCG_TRY(host_fail(&h));
    }
    if (ccg_error_reason() != CCG_R_KEY_NOT_FOUND ||
        ccg_failed(ccg_store_policy_get(k->store, policy_id, 0, &policy))) {
        CCG_TRY(host_fail(&h));
    }
    CCG_TRY(host_intent(&h));
    /* The owner first, like the admin API's claim: it replaces any claim a provider made on the ID
     * before the key existed. */
    if (owner != NULL) {
        CCG_TRY(host_write_owner(&h, owner));
    }
    if (ccg_failed(ccg_kbs_import_key(k, key_id, policy_id, key))) {
        CCG_TRY(host_fail(&h));
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(claims);
    ccg_store_key_free(&existing);
    ccg_store_doc_free(&policy);
    return result;
}

ccg_result ccg_kbs_host_cut_over(ccg_kbs *k, const char *key_id, int64_t version, int64_t *ended)
{
    ccg_result result = CCG_FAILURE;
    host_call h;
    ccg_store_key key;
    int64_t n = 0;
    memset(&key, 0, sizeof(key));
    CCG_TRY(host_begin(k, &h, "host.key.cut_over"));
    h.key_id = key_id;
    h.key_version = version;
    if (ccg_failed(ccg_store_key_get(k->store, key_id, version, &key))) {
        CCG_TRY(host_fail(&h));
    }
    h.policy_id = key.policy_id;
    if (version != 0 && key.state != CCG_KEY_RETIRED) {
        ccg_error_set(CCG_R_STORE_CONFLICT, __FILE__, __LINE__,
                      "key '%.200s' version %lld is %s: only a retired version has a grace to end", key_id,
                      (long long)version, ccg_key_state_name(key.state));
        CCG_TRY(host_fail(&h));
    }
    CCG_TRY(host_intent(&h));
    if (ccg_failed(ccg_store_key_end_grace(k->store, key_id, version, kbs_now(k), &n))) {
        CCG_TRY(host_fail(&h));
    }
    if (ended != NULL) {
        *ended = n;
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_store_key_free(&key);
    return result;
}

ccg_result ccg_kbs_host_transfer_key(ccg_kbs *k, const char *key_id, const ccg_store_owner *to)
{
    ccg_result result = CCG_FAILURE;
    host_call h;
    ccg_store_key key;
    json_t *claims = NULL;
    memset(&key, 0, sizeof(key));
    CCG_TRY(host_begin(k, &h, "host.key.transfer"));
    h.key_id = key_id;
    CCG_TRY(host_name_owner(&h, to, &claims));
    if (ccg_failed(ccg_store_key_get(k->store, key_id, 0, &key))) {
        CCG_TRY(host_fail(&h));
    }
    h.key_version = key.version;
    h.policy_id = key.policy_id;
    CCG_TRY(host_intent(&h));
    CCG_TRY(host_write_owner(&h, to));
    result = CCG_SUCCESS;
cleanup:
    json_decref(claims);
    ccg_store_key_free(&key);
    return result;
}

ccg_result ccg_kbs_host_rotate_key(ccg_kbs *k, const char *key_id, const ccg_secbuf *key, int64_t *version)
{
    ccg_result result = CCG_FAILURE;
    host_call h;
    ccg_store_key live;
    memset(&live, 0, sizeof(live));
    CCG_TRY(host_begin(k, &h, "host.key.rotate"));
    h.key_id = key_id;
    if (ccg_failed(ccg_kbs_resource_size_check(key != NULL ? key->len : 0))) {
        CCG_TRY(host_fail(&h));
    }
    if (ccg_failed(ccg_store_key_get(k->store, key_id, 0, &live))) {
        CCG_TRY(host_fail(&h));
    }
    h.key_version = live.version + 1;
    h.policy_id = live.policy_id;
    if (live.state == CCG_KEY_RETIRED) {
        ccg_error_set(CCG_R_STORE_CONFLICT, __FILE__, __LINE__, "key '%.256s' is retired", key_id);
        CCG_TRY(host_fail(&h));
    }
    CCG_TRY(host_intent(&h));
    if (ccg_failed(kbs_rotate_key_to(k, key_id, live.version + 1, key))) {
        CCG_TRY(host_fail(&h));
    }
    if (version != NULL) {
        *version = live.version + 1;
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_store_key_free(&live);
    return result;
}

ccg_result ccg_kbs_host_set_key_state(ccg_kbs *k, const char *key_id, const char *state)
{
    ccg_result result = CCG_FAILURE;
    host_call h;
    ccg_store_key live;
    ccg_key_state to = CCG_KEY_ACTIVE;
    int known = ccg_ok(ccg_key_state_parse(state, &to));
    memset(&live, 0, sizeof(live));
    /* The kill switch is host.key.disable; a state that is not one is still recorded as refused. */
    CCG_TRY(host_begin(k, &h, !known                    ? "host.key.state"
                              : to == CCG_KEY_DISABLED ? "host.key.disable"
                              : to == CCG_KEY_ACTIVE   ? "host.key.enable"
                                                       : "host.key.retire"));
    h.key_id = key_id;
    if (!known) {
        ccg_error_set(CCG_R_INPUT_MALFORMED, __FILE__, __LINE__, "unknown key state (active, disabled, retired)");
        CCG_TRY(host_fail(&h));
    }
    if (ccg_failed(ccg_store_key_get(k->store, key_id, 0, &live))) {
        CCG_TRY(host_fail(&h));
    }
    h.key_version = live.version;
    h.policy_id = live.policy_id;
    if (!ccg_key_transition_allowed(live.state, to)) {
        ccg_error_set(CCG_R_STORE_CONFLICT, __FILE__, __LINE__, "key '%.200s' version %lld is %s already or final",
                      key_id, (long long)live.version, ccg_key_state_name(live.state));
        CCG_TRY(host_fail(&h));
    }
    CCG_TRY(host_intent(&h));
    if (ccg_failed(ccg_store_key_set_state(k->store, key_id, live.version, to, kbs_now(k)))) {
        CCG_TRY(host_fail(&h));
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_store_key_free(&live);
    return result;
}

ccg_result ccg_kbs_host_record_reload(ccg_kbs *k, ccg_reason why)
{
    ccg_result result = CCG_FAILURE;
    host_call h;
    CCG_TRY(host_begin(k, &h, "host.reload"));
    CCG_TRY(host_record(&h, why == CCG_R_OK ? CCG_AUDIT_ALLOW : CCG_AUDIT_ERROR, why));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ---- KEK rotation (ccgate-kbs rewrap) ---- */

#ifdef CCG_TEST_HOOKS
/* Test builds only: CCG_TEST_REWRAP_CRASH_AFTER=N kills the process (SIGKILL, like a crash) right after
 * the Nth key version is re-wrapped, so tests/cli/test_kbs_rewrap.sh can show a rerun continues. */
static void rewrap_crash_hook(size_t done)
{
    const char *n = getenv("CCG_TEST_REWRAP_CRASH_AFTER");
    if (n != NULL && (size_t)strtoul(n, NULL, 10) == done) {
        kill(getpid(), SIGKILL);
    }
}
#else
static void rewrap_crash_hook(size_t done) { (void)done; }
#endif

/* Opens the new keystore from its configuration document; its label must differ from the old one. */
static ccg_result rewrap_open_new(ccg_kbs *k, const char *json_text, const char *old_label, ccg_keystore **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_keystore_config kc;
    int have = 0;
    memset(&kc, 0, sizeof(kc));
    CCG_TRY(ccg_keystore_config_parse(json_text, &kc));
    have = 1;
    if (k->allow_unlocked) {
        kc.allow_unlocked_memory = 1;
    }
    CCG_ENSURE_MSG(strcmp(kc.kek_label, old_label) != 0, CCG_R_KMS_CONFIG_INVALID,
                   "the new keystore's kek_label \"%s\" is the current one; a rotation needs a new label (the label "
                   "recorded beside each wrapped key is what tells re-wrapped keys apart)",
                   kc.kek_label);
    CCG_TRY(ccg_keystore_open(&kc, out));
    result = CCG_SUCCESS;
cleanup:
    if (have) {
        ccg_keystore_config_free(&kc);
    }
    return result;
}

/* One key version: unwrap under its recorded label with the old keystore, wrap with the new one, and
 * replace it in the store only while it is still under the old label. */
static ccg_result rewrap_one(ccg_kbs *k, ccg_keystore *old_ks, ccg_keystore *new_ks, const ccg_store_key *row)
{
    ccg_result result = CCG_FAILURE;
    ccg_store_key key;
    uint8_t *aad = NULL, *wrapped = NULL;
    size_t aad_len = 0, wrapped_len = 0;
    ccg_secbuf plain = {0};
    memset(&key, 0, sizeof(key));
    CCG_TRY(ccg_store_key_get(k->store, row->key_id, row->version, &key));
    CCG_TRY(ccg_kbs_key_aad(key.key_id, key.version, &aad, &aad_len));
    CCG_TRY(ccg_keystore_unwrap(old_ks, key.kek_label, key.wrapped, key.wrapped_len, aad, aad_len, &plain));
    CCG_TRY(ccg_keystore_wrap(new_ks, NULL, &plain, aad, aad_len, &wrapped, &wrapped_len));
    CCG_TRY(ccg_store_key_rewrap(k->store, key.key_id, key.version, key.kek_label, ccg_keystore_kek_label(new_ks),
                                 wrapped, wrapped_len, kbs_now(k)));
    result = CCG_SUCCESS;
cleanup:
    ccg_secbuf_free(&plain);
    free(aad);
    free(wrapped);
    ccg_store_key_free(&key);
    return result;
}

/* The token-signing key (a setting wrapped under the configured label): re-wrapped unless its blob's
 * header already names the new label. */
static ccg_result rewrap_token_key(ccg_kbs *k, ccg_keystore *old_ks, ccg_keystore *new_ks, int *outcome)
{
    ccg_result result = CCG_FAILURE;
    static const uint8_t aad[] = KBS_TOKEN_KEY_AAD;
    uint8_t *value = NULL, *wrapped = NULL, digest[32];
    size_t len = 0, wrapped_len = 0;
    int found = 0;
    unsigned int dlen = 0;
    ccg_wrapped_key parsed;
    ccg_secbuf plain = {0};
    const char *new_label = ccg_keystore_kek_label(new_ks);
    *outcome = 0;
    CCG_TRY(ccg_store_setting_get(k->store, CCG_KBS_TOKEN_KEY_SETTING, &value, &len, &found));
    if (!found) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(ccg_wrapped_key_parse(value, len, &parsed));
    CCG_ENSURE_OSSL(EVP_Digest(new_label, strlen(new_label), digest, &dlen, EVP_sha256(), NULL) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    if (memcmp(parsed.kek_label_digest, digest, sizeof(digest)) == 0) {
        *outcome = 2;
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(ccg_keystore_unwrap(old_ks, NULL, value, len, aad, sizeof(aad) - 1, &plain));
    CCG_TRY(ccg_keystore_wrap(new_ks, NULL, &plain, aad, sizeof(aad) - 1, &wrapped, &wrapped_len));
    CCG_TRY(ccg_store_setting_put(k->store, CCG_KBS_TOKEN_KEY_SETTING, wrapped, wrapped_len, kbs_now(k)));
    *outcome = 1;
    result = CCG_SUCCESS;
cleanup:
    ccg_secbuf_free(&plain);
    free(value);
    free(wrapped);
    return result;
}

ccg_result ccg_kbs_host_rewrap(ccg_kbs *k, const char *new_keystore_json, ccg_kbs_rewrap_report *report)
{
    ccg_result result = CCG_FAILURE;
    host_call h;
    ccg_keystore *old_ks = NULL, *new_ks = NULL, *opened = NULL;
    ccg_store_key *rows = NULL;
    size_t n = 0;
    memset(report, 0, sizeof(*report));
    CCG_TRY(host_begin(k, &h, "host.kek.rewrap"));
    if (ccg_failed(kbs_keystore(k, &old_ks)) ||
        (new_keystore_json != NULL &&
         ccg_failed(rewrap_open_new(k, new_keystore_json, ccg_keystore_kek_label(old_ks), &opened)))) {
        CCG_TRY(host_fail(&h));
    }
    /* Without a new keystore: into the configured KEK, unwrapping the rest with its "previous". */
    new_ks = opened != NULL ? opened : old_ks;
    if (ccg_failed(ccg_keystore_health(new_ks)) || ccg_failed(ccg_store_key_list(k->store, NULL, &rows, &n))) {
        CCG_TRY(host_fail(&h));
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].kek_label, ccg_keystore_kek_label(new_ks)) == 0) {
            report->already++;
            continue;
        }
        h.key_id = rows[i].key_id;
        h.key_version = rows[i].version;
        CCG_TRY(host_intent(&h));
        if (ccg_failed(rewrap_one(k, old_ks, new_ks, &rows[i]))) {
            CCG_TRY(host_fail(&h));
        }
        report->rewrapped++;
        rewrap_crash_hook(report->rewrapped);
    }
    h.key_id = NULL;
    h.key_version = 0;
    if (ccg_failed(rewrap_token_key(k, old_ks, new_ks, &report->token_key))) {
        CCG_TRY(host_fail(&h));
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_store_key_list_free(rows, n);
    ccg_keystore_close(opened);
    return result;
}
