/* The admin import that loses a race, deterministically (src/kbs/kbs_admin_keys.c, key_import). The
 * handler checks that nobody owns the key ID and that no key has it, and only then looks for the key
 * once more before recording and claiming; a provider that imports the same ID between the two (seen
 * by cli_test_kbs_owner_race on PostgreSQL under load) must leave the loser with admin.forbidden, never
 * store.conflict, which tells the owner of a key to rotate it. Here the race is made to happen every
 * time: this test is linked with -Wl,--wrap=ccg_store_key_get (cmake/admin_race.cmake), and the wrapper
 * lets the rival's claim and import land right after the handler's first look at the key ID. The same
 * injection with the caller as the "rival" (its own second import) is store.conflict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ccgate/error.h"
#include "ccgate/jose.h"
#include "ccgate/kbs.h"
#include "ccgate/store.h"
#include "testutil.h"
#include "tu_admin.h"
#include "tu_kbs.h"
#include "../src/kbs/kbs_internal.h"

#define KEY_ID "acme/model/raced"
#define POLICY_ID "acme-policy"

/* ---- the injected race ---- */

ccg_result __real_ccg_store_key_get(ccg_store *s, const char *key_id, int64_t version, ccg_store_key *out);
ccg_result __wrap_ccg_store_key_get(ccg_store *s, const char *key_id, int64_t version, ccg_store_key *out);

typedef struct {
    ccg_kbs *kbs;
    const char *owner_subject; /* who imports KEY_ID in between; NULL: nobody */
    char issuer[CCG_STORE_OWNER_MAX + 1];
    int looks;    /* the handler's lookups of KEY_ID */
    int injected; /* the rival's import happened */
    int injecting; /* inside it */
} race;

static race R;

/* The rival's whole import, as the admin API makes it: the owner claimed, then the key stored. */
static void rival_imports(void)
{
    ccg_store_owner rival;
    int mine = 0;
    memset(&rival, 0, sizeof(rival));
    snprintf(rival.issuer, sizeof(rival.issuer), "%s", R.issuer);
    snprintf(rival.subject, sizeof(rival.subject), "%s", R.owner_subject);
    assert_true(ccg_ok(ccg_store_owner_claim(R.kbs->store, CCG_OWNED_KEY, KEY_ID, &rival, ccg_time_now(), &mine)));
    assert_int_equal(mine, 1);
    tu_kbs_import_key(R.kbs, KEY_ID, POLICY_ID, 0x42);
}

ccg_result __wrap_ccg_store_key_get(ccg_store *s, const char *key_id, int64_t version, ccg_store_key *out)
{
    ccg_result r = __real_ccg_store_key_get(s, key_id, version, out);
    if (R.injecting || key_id == NULL || strcmp(key_id, KEY_ID) != 0) {
        return r; /* another key, or the rival's own lookups */
    }
    R.looks++;
    if (R.owner_subject != NULL && !R.injected) {
        /* The handler's first look found nothing: the rival wins the race now, before the second. */
        assert_true(ccg_failed(r));
        R.injected = 1;
        R.injecting = 1;
        rival_imports();
        R.injecting = 0;
        ccg_error_clear();
    }
    return r;
}

/* ---- the broker ---- */

typedef struct {
    char dir[64];
    ccg_kbs_config cfg;
    ccg_kbs *kbs;
    char *acme;
} fixture;

static void admin_call(fixture *f, const char *method, const char *path, const char *body,
                       ccg_kbs_http_response *resp)
{
    ccg_kbs_http_request req;
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    req.body = body;
    req.body_len = strlen(body);
    req.request_id = "req-race";
    req.client_address = "192.0.2.1";
    req.authorization = f->acme;
    ccg_kbs_handle(f->kbs, &req, resp);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char admin[1024], config[2048];
    ccg_keystore *ks = NULL;
    ccg_kbs_http_response resp;
    ccg_store_owner owner;
    int found = 0;
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ccg-import-race-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(tu_admin_config(f->dir, admin, sizeof(admin)), 0);
    snprintf(config, sizeof(config),
             "{\"store\":\"%s/kbs.db\",\"port\":0,\"allow_unlocked_memory\":true,"
             "\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s/kek\"},%s}",
             f->dir, f->dir, admin);
    assert_true(ccg_ok(ccg_kbs_config_parse(config, strlen(config), &f->cfg)));
    assert_true(ccg_ok(ccg_kbs_new(&f->cfg, NULL, NULL, &f->kbs)));
    assert_true(ccg_ok(kbs_keystore(f->kbs, &ks)));
    assert_true(ccg_ok(ccg_keystore_create_kek(ks, NULL)));
    f->acme = tu_admin_bearer("provider");
    assert_non_null(f->acme);
    /* acme's release policy, through the admin API: acme owns it, so acme may import keys under it. */
    admin_call(f, "POST", "/admin/v0/policies",
               "{\"policy_id\":\"" POLICY_ID "\",\"version\":1,\"allowed_tees\":[\"snp\"],\"gpu_required\":false,"
               "\"snp_policy\":{\"policy_id\":\"s\",\"version\":1,\"allowed_measurements\":[\"abababababababababab"
               "abababababababababababababababababababababababababababababababababababababab\"]}}",
               &resp);
    tu_kbs_expect(&resp, 201, NULL);
    ccg_kbs_response_free(&resp);
    assert_true(ccg_ok(ccg_store_owner_get(f->kbs->store, CCG_OWNED_POLICY, POLICY_ID, &owner, &found)));
    assert_int_equal(found, 1);
    assert_string_equal(owner.subject, "acme");
    memset(&R, 0, sizeof(R));
    R.kbs = f->kbs;
    snprintf(R.issuer, sizeof(R.issuer), "%s", owner.issuer); /* the issuer as the broker records it */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    memset(&R, 0, sizeof(R));
    ccg_kbs_free(f->kbs);
    ccg_kbs_config_free(&f->cfg);
    free(f->acme);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* acme imports KEY_ID; `rival` (or nobody) imports it between the handler's two looks. */
static void import_raced(fixture *f, const char *rival, ccg_kbs_http_response *resp)
{
    char *key = ccg_b64url_encode((const uint8_t *)"0123456789abcdef0123456789abcdef", 32);
    char body[512];
    assert_non_null(key);
    snprintf(body, sizeof(body), "{\"key_id\":\"" KEY_ID "\",\"policy_id\":\"" POLICY_ID "\",\"key\":\"%s\"}", key);
    free(key);
    R.owner_subject = rival;
    admin_call(f, "POST", "/admin/v0/keys", body, resp);
    R.owner_subject = NULL;
}

/* The stored key is the rival's: version 1, its material, and the rival still owns it. */
static void assert_rival_kept_it(fixture *f, const char *subject)
{
    ccg_store_key key;
    ccg_store_owner owner;
    int found = 0;
    memset(&key, 0, sizeof(key));
    assert_true(ccg_ok(ccg_store_key_get(f->kbs->store, KEY_ID, 0, &key)));
    assert_int_equal(key.version, 1);
    ccg_store_key_free(&key);
    assert_true(ccg_ok(ccg_store_owner_get(f->kbs->store, CCG_OWNED_KEY, KEY_ID, &owner, &found)));
    assert_int_equal(found, 1);
    assert_string_equal(owner.subject, subject);
    assert_string_equal(owner.issuer, R.issuer);
}

/* acme imports KEY_ID while `rival` (NULL: nobody) imports it between the handler's two looks: the
 * answer has `status` and (for a refusal) `code` first and never `never`; the key and its ownership stay
 * `owner`'s. */
static void expect_race(void **state, const char *rival, unsigned status, const char *code, const char *never,
                        const char *owner)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    import_raced(f, rival, &resp);
    assert_int_equal(R.injected, rival != NULL);
    assert_true(R.looks >= 2); /* the handler looked again after the first look */
    tu_kbs_expect(&resp, status, code);
    assert_null(strstr(resp.body, never));
    ccg_kbs_response_free(&resp);
    assert_rival_kept_it(f, owner);
}

/* Without a race the import is made: the injection is what changes the answers below. */
static void unraced_import_is_made(void **state) { expect_race(state, NULL, 201, NULL, "reasons", "acme"); }

/* Another provider (globex, same issuer) imports the ID in between: acme is forbidden, globex's key and
 * ownership stand. */
static void loser_of_the_race_is_forbidden(void **state)
{
    expect_race(state, "globex", 403, "admin.forbidden", "store.conflict", "globex");
}

/* acme's own import lands in between (a retry racing its first attempt): the key is acme's, so the
 * answer is store.conflict ("rotate it instead"), not a refusal of acme's own ID. */
static void own_key_in_between_is_a_conflict(void **state)
{
    expect_race(state, "acme", 409, "store.conflict", "admin.forbidden", "acme");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(unraced_import_is_made, setup, teardown),
        cmocka_unit_test_setup_teardown(loser_of_the_race_is_forbidden, setup, teardown),
        cmocka_unit_test_setup_teardown(own_key_in_between_is_a_conflict, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
