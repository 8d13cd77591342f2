/* SIGHUP (docs/kbs.md, "Reload"): the configuration file is read again and validated whole; what may
 * change while running is the TLS certificate and key ("tls", whose files are always re-read). Every
 * other member is bound into state made at start (the store, the audit log, the keystore, the
 * listening socket, the policies' caches), so a change to one is refused by name and the broker goes on
 * with what it has. */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

#define KBS_RELOAD_CONFIG_MAX (64u * 1024u)

/* Members a reload applies. */
static int reloadable(const char *member) { return strcmp(member, "tls") == 0; }

static ccg_result read_json(const char *path, char **text, size_t *len, json_t **json)
{
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    *text = NULL;
    *json = NULL;
    CCG_TRY(ccg_file_read(path, KBS_RELOAD_CONFIG_MAX, (uint8_t **)text, len));
    *json = json_loadb(*text, *len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(json_is_object(*json), CCG_R_KBS_CONFIG_INVALID,
                   "the configuration is not a JSON object (line %d: %s)", jerr.line, jerr.text);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        json_decref(*json);
        *json = NULL;
        free(*text);
        *text = NULL;
    }
    return result;
}

ccg_result ccg_kbs_config_load_json(const char *path, ccg_kbs_config *cfg, json_t **json)
{
    ccg_result result = CCG_FAILURE;
    char *text = NULL;
    size_t len = 0;
    memset(cfg, 0, sizeof(*cfg));
    CCG_TRY(read_json(path, &text, &len, json));
    if (ccg_failed(ccg_kbs_config_parse(text, len, cfg))) {
        json_decref(*json);
        *json = NULL;
        goto cleanup;
    }
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

/* The first member, in either document, whose value differs and which a reload cannot apply. */
static const char *restart_member(const json_t *was, const json_t *now)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)was, name, v) {
        if (!reloadable(name) && !json_equal(v, json_object_get(now, name))) {
            return name;
        }
    }
    json_object_foreach((json_t *)now, name, v) {
        if (!reloadable(name) && json_object_get(was, name) == NULL) {
            return name;
        }
    }
    return NULL;
}

ccg_result ccg_kbs_reload(ccg_kbs_server *srv, const char *config_path, json_t **running)
{
    ccg_result result = CCG_FAILURE;
    ccg_kbs_config cfg;
    json_t *json = NULL;
    const char *changed;
    int have_cfg = 0;
    CCG_TRY(ccg_kbs_config_load_json(config_path, &cfg, &json));
    have_cfg = 1;
    changed = restart_member(*running, json);
    CCG_ENSURE_MSG(changed == NULL, CCG_R_KBS_RELOAD_NEEDS_RESTART,
                   "config member \"%.64s\" changed: it takes effect only after a restart", changed);
    CCG_TRY(ccg_kbs_server_reload_tls(srv, &cfg));
    json_decref(*running);
    *running = json;
    json = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(json);
    if (have_cfg) {
        ccg_kbs_config_free(&cfg);
    }
    return result;
}
