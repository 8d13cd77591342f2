/* The reason-code registry and reason lists. */
#include "ccgate/reasons.h"
#include "ccgate/util.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *code;
    const char *component;
    ccg_reason_kind kind;
    const char *message;
} reason_info;

static const reason_info registry[CCG_R__COUNT] = {
#define X(name, code, component, kind, message) [CCG_R_##name] = {code, component, CCG_KIND_##kind, message},
#include "ccgate/reason_list.h"
#undef X
};

static const reason_info *info(ccg_reason r)
{
    static const reason_info unknown = {"internal.unknown_reason", "core", CCG_KIND_INTERNAL,
                                        "An unregistered reason code was raised."};
    if ((unsigned)r >= CCG_R__COUNT) {
        return &unknown;
    }
    return &registry[r];
}

const char *ccg_reason_code(ccg_reason r) { return info(r)->code; }
const char *ccg_reason_component(ccg_reason r) { return info(r)->component; }
const char *ccg_reason_message(ccg_reason r) { return info(r)->message; }
ccg_reason_kind ccg_reason_kind_of(ccg_reason r) { return info(r)->kind; }

const char *ccg_reason_kind_name(ccg_reason_kind k)
{
    switch (k) {
    case CCG_KIND_OK: return "ok";
    case CCG_KIND_DENY: return "deny";
    case CCG_KIND_INPUT: return "input";
    case CCG_KIND_DEPENDENCY: return "dependency";
    case CCG_KIND_INTERNAL: return "internal";
    }
    return "internal";
}

ccg_reason ccg_reason_from_code(const char *code)
{
    for (int i = 0; i < CCG_R__COUNT; i++) {
        if (strcmp(registry[i].code, code) == 0) {
            return (ccg_reason)i;
        }
    }
    return CCG_R__COUNT;
}

void ccg_reasons_init(ccg_reasons *list) { memset(list, 0, sizeof(*list)); }

void ccg_reasons_free(ccg_reasons *list)
{
    for (size_t i = 0; i < list->count; i++) {
        json_decref(list->items[i].details);
    }
    free(list->items);
    memset(list, 0, sizeof(*list));
}

int ccg_reasons_add(ccg_reasons *list, ccg_reason reason, json_t *details)
{
    ccg_reason_entry *grown = ccg_array_grow(list->items, &list->capacity, list->count, sizeof(*grown));
    if (grown == NULL) {
        json_decref(details);
        return -1;
    }
    list->items = grown;
    list->items[list->count].reason = reason;
    list->items[list->count].details = details ? details : json_object();
    list->count++;
    return 0;
}

int ccg_reasons_has(const ccg_reasons *list, ccg_reason reason)
{
    for (size_t i = 0; i < list->count; i++) {
        if (list->items[i].reason == reason) {
            return 1;
        }
    }
    return 0;
}

json_t *ccg_reason_to_json(ccg_reason reason, json_t *details_borrowed)
{
    json_t *obj = json_pack("{s:s, s:s, s:s, s:s}", "code", ccg_reason_code(reason), "component",
                            ccg_reason_component(reason), "kind",
                            ccg_reason_kind_name(ccg_reason_kind_of(reason)), "message",
                            ccg_reason_message(reason));
    if (obj != NULL) {
        json_object_set(obj, "details", details_borrowed ? details_borrowed : json_object());
    }
    return obj;
}

json_t *ccg_reasons_to_json(const ccg_reasons *list)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < list->count; i++) {
        json_array_append_new(arr, ccg_reason_to_json(list->items[i].reason, list->items[i].details));
    }
    return arr;
}

json_t *ccg_reason_registry_json(void)
{
    json_t *arr = json_array();
    for (int i = 1; arr != NULL && i < CCG_R__COUNT; i++) {
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "code", registry[i].code,
                                             "component", registry[i].component, "kind",
                                             ccg_reason_kind_name(registry[i].kind), "message",
                                             registry[i].message));
    }
    return arr;
}

static int append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        size_t newcap = (*cap + n + 1) * 2;
        char *grown = realloc(*buf, newcap);
        if (grown == NULL) {
            return -1;
        }
        *buf = grown;
        *cap = newcap;
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    return 0;
}

char *ccg_reason_registry_markdown(void)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int bad = 0;
    bad |= append(&buf, &len, &cap,
                  "# Reason codes\n\n"
                  "Every denial and every error ccgate reports carries one of these stable codes. "
                  "A code never changes meaning and is never reused. In JSON output each reason is an object "
                  "`{\"code\", \"component\", \"kind\", \"message\", \"details\"}`; `details` holds "
                  "structured facts (expected and got values, field names, certificate subjects, key, request and "
                  "policy identifiers) and never keys, prompts, responses or model data.\n\n"
                  "Kinds: `deny` (the evidence or request was refused), `input` (malformed or unsupported "
                  "input, exit status 2), `dependency` (a service, file or device ccgate relies on failed), "
                  "`internal` (a bug or resource failure).\n\n"
                  "This page is generated by `ccgate reasons --markdown` from `include/ccgate/reason_list.h`, "
                  "which includes one file per group from `include/ccgate/reasons/`; a test keeps the two "
                  "equal.\n\n"
                  "| code | component | kind | meaning |\n|---|---|---|---|\n");
    for (int i = 1; i < CCG_R__COUNT && !bad; i++) {
        bad |= append(&buf, &len, &cap, "| `");
        bad |= append(&buf, &len, &cap, registry[i].code);
        bad |= append(&buf, &len, &cap, "` | ");
        bad |= append(&buf, &len, &cap, registry[i].component);
        bad |= append(&buf, &len, &cap, " | ");
        bad |= append(&buf, &len, &cap, ccg_reason_kind_name(registry[i].kind));
        bad |= append(&buf, &len, &cap, " | ");
        bad |= append(&buf, &len, &cap, registry[i].message);
        bad |= append(&buf, &len, &cap, " |\n");
    }
    if (bad) {
        free(buf);
        return NULL;
    }
    return buf;
}
