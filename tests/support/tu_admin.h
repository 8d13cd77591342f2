/* An admin issuer for broker tests that call the authenticated endpoints (e.g. /kbs/v0/explain): a fresh
 * P-256 key, its public PEM written under a directory, the "admin" configuration member naming it (roles
 * operator and provider, subjects "ops" and "acme"), and ES256 tokens it signs. */
#ifndef CCGATE_TU_ADMIN_H
#define CCGATE_TU_ADMIN_H

#include <stddef.h>

#define TU_ADMIN_AUDIENCE "https://kbs.test/admin"

/* Writes dir/tu-admin.pub.pem once per dir and fills out with `"admin":{...}` (no braces around it, to
 * splice into a configuration object). 0 on success. */
int tu_admin_config(const char *dir, char *out, size_t size);
/* "Bearer <token>" for role ("operator" with subject "ops", "provider" with subject "acme"), valid for
 * 10 minutes from now. malloc'd; NULL on failure. tu_admin_config must have run first. */
char *tu_admin_bearer(const char *role);
/* The same, issued at `now` (a broker with an injected clock). */
char *tu_admin_bearer_at(const char *role, long long now);

#endif
