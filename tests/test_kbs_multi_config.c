/* The broker's configuration for several instances on one database (docs/kbs.md "Several instances"):
 * the audit log defaults to the store's database for every URL form (the file of "sqlite:PATH" or of a
 * plain path; the very same URL for PostgreSQL, so all instances append to one chain), an explicit
 * "audit" wins, and "store_connections" sizes the store's pool within its bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ccgate/error.h"
#include "ccgate/kbs.h"
#include "ccgate/store.h"
#include "testutil.h"
#include "../src/kbs/kbs_internal.h"

/* Parses {"store": STORE, <extra>, "keystore": {...}} and returns the result; *c is filled on success. */
static ccg_result parse(const char *store, const char *extra, ccg_kbs_config *c)
{
    char text[1024];
    snprintf(text, sizeof(text), "{\"store\":\"%s\"%s,\"keystore\":{\"backend\":\"file\",\"kek_file\":\"/k\"}}",
             store, extra);
    return ccg_kbs_config_parse(text, strlen(text), c);
}

static void audit_default(const char *store, const char *want)
{
    ccg_kbs_config c;
    assert_true(ccg_ok(parse(store, "", &c)));
    assert_string_equal(c.store, store);
    assert_string_equal(c.audit, want);
    ccg_kbs_config_free(&c);
}

static void the_audit_log_defaults_to_the_stores_database(void **state)
{
    (void)state;
    audit_default("/var/lib/ccgate/kbs.db", "/var/lib/ccgate/kbs.db");
    audit_default("sqlite:/var/lib/ccgate/kbs.db", "/var/lib/ccgate/kbs.db");
    audit_default("postgresql:///ccgate?host=/run/postgresql&user=ccgate",
                  "postgresql:///ccgate?host=/run/postgresql&user=ccgate");
    audit_default("postgres://ccgate@db.internal:5432/ccgate?sslmode=verify-full",
                  "postgres://ccgate@db.internal:5432/ccgate?sslmode=verify-full");
    /* Not a PostgreSQL URL: a file name that merely starts like one stays a path. */
    audit_default("postgresql.db", "postgresql.db");
}

static void an_explicit_audit_wins(void **state)
{
    ccg_kbs_config c;
    (void)state;
    assert_true(ccg_ok(parse("postgresql:///ccgate?host=/s", ",\"audit\":\"/var/lib/ccgate/audit.db\"", &c)));
    assert_string_equal(c.audit, "/var/lib/ccgate/audit.db");
    ccg_kbs_config_free(&c);
}

static void postgres_locations_are_recognised(void **state)
{
    (void)state;
    assert_true(kbs_location_is_postgres("postgresql:///ccgate"));
    assert_true(kbs_location_is_postgres("postgres://h/db"));
    assert_false(kbs_location_is_postgres("postgresql:/x"));
    assert_false(kbs_location_is_postgres("sqlite:postgres://x"));
    assert_false(kbs_location_is_postgres("/srv/postgres://x"));
    assert_false(kbs_location_is_postgres(NULL));
}

static void store_connections_bounds(void **state)
{
    ccg_kbs_config c;
    char extra[64];
    (void)state;
    assert_true(ccg_ok(parse("/x.db", "", &c)));
    assert_int_equal(c.store_connections, 0); /* absent: as many as threads */
    ccg_kbs_config_free(&c);
    snprintf(extra, sizeof(extra), ",\"store_connections\":%u", CCG_STORE_MAX_CONNECTIONS);
    assert_true(ccg_ok(parse("/x.db", extra, &c)));
    assert_int_equal(c.store_connections, CCG_STORE_MAX_CONNECTIONS);
    ccg_kbs_config_free(&c);
    assert_true(ccg_ok(parse("/x.db", ",\"store_connections\":1,\"threads\":8", &c)));
    assert_int_equal(c.store_connections, 1);
    assert_int_equal(c.threads, 8);
    ccg_kbs_config_free(&c);
    snprintf(extra, sizeof(extra), ",\"store_connections\":%u", CCG_STORE_MAX_CONNECTIONS + 1);
    assert_true(ccg_failed(parse("/x.db", extra, &c)));
    assert_int_equal(ccg_error_reason(), CCG_R_KBS_CONFIG_INVALID);
    assert_true(ccg_failed(parse("/x.db", ",\"store_connections\":0", &c)));
    assert_int_equal(ccg_error_reason(), CCG_R_KBS_CONFIG_INVALID);
    assert_true(ccg_failed(parse("/x.db", ",\"store_connections\":\"4\"", &c)));
    assert_int_equal(ccg_error_reason(), CCG_R_KBS_CONFIG_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_audit_log_defaults_to_the_stores_database),
        cmocka_unit_test(an_explicit_audit_wins),
        cmocka_unit_test(postgres_locations_are_recognised),
        cmocka_unit_test(store_connections_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
