/* Stable reason codes (the registry is reason_list.h) and reason lists with structured details.
 * A verifier collects every failed check into a ccg_reasons list; each entry has a code and a JSON
 * object of details (expected/got values, field names, certificate subjects). Details never hold
 * secrets, prompts or weights. */
#ifndef CCGATE_REASONS_H
#define CCGATE_REASONS_H

#include <stddef.h>
#include <jansson.h>

typedef enum {
#define X(name, code, component, kind, message) CCG_R_##name,
#include "ccgate/reason_list.h"
#undef X
    CCG_R__COUNT
} ccg_reason;

typedef enum {
    CCG_KIND_OK,
    CCG_KIND_DENY,
    CCG_KIND_INPUT,
    CCG_KIND_DEPENDENCY,
    CCG_KIND_INTERNAL,
} ccg_reason_kind;

const char *ccg_reason_code(ccg_reason r);
const char *ccg_reason_component(ccg_reason r);
const char *ccg_reason_message(ccg_reason r);
ccg_reason_kind ccg_reason_kind_of(ccg_reason r);
const char *ccg_reason_kind_name(ccg_reason_kind k);
/* Looks a wire code up; returns CCG_R__COUNT when unknown. */
ccg_reason ccg_reason_from_code(const char *code);

typedef struct {
    ccg_reason reason;
    json_t *details; /* a JSON object, owned */
} ccg_reason_entry;

typedef struct {
    ccg_reason_entry *items;
    size_t count;
    size_t capacity;
} ccg_reasons;

void ccg_reasons_init(ccg_reasons *list);
void ccg_reasons_free(ccg_reasons *list);
/* Appends a reason; takes ownership of details (may be NULL). Returns 0, or -1 when out of memory. */
int ccg_reasons_add(ccg_reasons *list, ccg_reason reason, json_t *details);
int ccg_reasons_has(const ccg_reasons *list, ccg_reason reason);
/* Renders [{"code","component","kind","message","details"}...]; a new reference. */
json_t *ccg_reasons_to_json(const ccg_reasons *list);
/* Renders one reason with details as a JSON object; a new reference. */
json_t *ccg_reason_to_json(ccg_reason reason, json_t *details_borrowed);

/* The whole registry as JSON and as the Markdown page docs/reason-codes.md. Caller frees. */
json_t *ccg_reason_registry_json(void);
char *ccg_reason_registry_markdown(void);

#endif
