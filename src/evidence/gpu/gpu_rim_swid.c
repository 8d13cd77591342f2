/* The SWID tag (ISO/IEC 19770-2:2015) as NVIDIA's RIMs use it (TCG RIM information model):
 *   SoftwareIdentity @tagId @name
 *     Meta @colloquialVersion @product @edition @revision
 *     Payload
 *       Resource @type="Measurement" @index @active @alternatives @size, {hash-ns}:Hash0..HashN-1
 * The hash attributes' namespace names the digest (NVIDIA: http://www.w3.org/2001/04/xmlenc#sha384). */
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_rim_internal.h"

typedef struct {
    const char *ns;
    uint16_t size;
} hash_ns;

static const hash_ns hash_namespaces[] = {
    {"http://www.w3.org/2001/04/xmlenc#sha256", 32},
    {"http://www.w3.org/2001/04/xmlenc#sha384", 48},
    {"http://www.w3.org/2001/04/xmlenc#sha512", 64},
};

static const hash_ns *find_hash_ns(const xmlNs *ns)
{
    for (size_t i = 0; ns != NULL && ns->href != NULL && i < sizeof(hash_namespaces) / sizeof(hash_namespaces[0]);
         i++) {
        if (strcmp((const char *)ns->href, hash_namespaces[i].ns) == 0) {
            return &hash_namespaces[i];
        }
    }
    return NULL;
}

/* An unqualified attribute's value (malloc'd by libxml2), or NULL. */
static xmlChar *attr(xmlNodePtr node, const char *name)
{
    return xmlGetNoNsProp(node, (const xmlChar *)name);
}

/* Copies printable ASCII text into out; required attributes must be present and non-empty. */
static ccg_result copy_attr(xmlNodePtr node, const char *name, int required, char *out, size_t out_len)
{
    ccg_result result = CCG_FAILURE;
    xmlChar *v = attr(node, name);
    out[0] = 0;
    if (v == NULL && !required) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_ENSURE_MSG(v != NULL && v[0] != 0, CCG_R_GPU_RIM_MALFORMED, "the RIM's %s has no %s", node->name, name);
    size_t n = strlen((const char *)v);
    CCG_ENSURE_MSG(n < out_len, CCG_R_GPU_RIM_MALFORMED, "the RIM's %s/@%s is longer than %zu characters",
                   node->name, name, out_len - 1);
    for (size_t i = 0; i < n; i++) {
        CCG_ENSURE_MSG(v[i] >= 0x20 && v[i] < 0x7f, CCG_R_GPU_RIM_MALFORMED,
                       "the RIM's %s/@%s holds a character outside printable ASCII", node->name, name);
    }
    memcpy(out, v, n + 1);
    result = CCG_SUCCESS;
cleanup:
    xmlFree(v);
    return result;
}

/* A decimal attribute in [min, max]; digits only. */
static ccg_result uint_attr(xmlNodePtr node, const char *name, unsigned min, unsigned max, unsigned *out)
{
    ccg_result result = CCG_FAILURE;
    xmlChar *v = attr(node, name);
    unsigned long n = 0;
    size_t len = v != NULL ? strlen((const char *)v) : 0;
    CCG_ENSURE_MSG(len > 0 && len <= 5, CCG_R_GPU_RIM_MALFORMED, "a RIM Resource has no valid %s", name);
    for (size_t i = 0; i < len; i++) {
        CCG_ENSURE_MSG(v[i] >= '0' && v[i] <= '9', CCG_R_GPU_RIM_MALFORMED, "a RIM Resource's %s is not a number",
                       name);
        n = n * 10 + (unsigned long)(v[i] - '0');
    }
    CCG_ENSURE_MSG(n >= min && n <= max, CCG_R_GPU_RIM_MALFORMED, "a RIM Resource's %s %lu is outside %u..%u", name,
                   n, min, max);
    *out = (unsigned)n;
    result = CCG_SUCCESS;
cleanup:
    xmlFree(v);
    return result;
}

static ccg_result bool_attr(xmlNodePtr node, const char *name, int *out)
{
    ccg_result result = CCG_FAILURE;
    xmlChar *v = attr(node, name);
    const char *s = v != NULL ? (const char *)v : "";
    if (strcmp(s, "True") == 0 || strcmp(s, "true") == 0) {
        *out = 1;
    } else if (strcmp(s, "False") == 0 || strcmp(s, "false") == 0) {
        *out = 0;
    } else {
        CCG_BAIL(CCG_R_GPU_RIM_MALFORMED, "a RIM Resource's %s is neither True nor False", name);
    }
    result = CCG_SUCCESS;
cleanup:
    xmlFree(v);
    return result;
}

/* "Hash<k>" -> k; -1 for any other name. */
static int hash_number(const xmlChar *name)
{
    const char *s = (const char *)name;
    if (strncmp(s, "Hash", 4) != 0 || s[4] == 0 || strlen(s + 4) > 2) {
        return -1;
    }
    int k = 0;
    for (s += 4; *s; s++) {
        if (*s < '0' || *s > '9') {
            return -1;
        }
        k = k * 10 + (*s - '0');
    }
    return k;
}

/* Every Hash<k> attribute: one digest namespace, k < alternatives, each exactly `size` bytes of hex. */
static ccg_result read_hashes(xmlNodePtr node, ccg_gpu_rim_resource *r)
{
    ccg_result result = CCG_FAILURE;
    const hash_ns *alg = NULL;
    unsigned seen = 0;
    xmlChar *v = NULL;
    for (xmlAttrPtr a = node->properties; a != NULL; a = a->next) {
        int k = hash_number(a->name);
        if (k < 0) {
            continue;
        }
        const hash_ns *ns = find_hash_ns(a->ns);
        CCG_ENSURE_MSG(ns != NULL, CCG_R_GPU_RIM_MALFORMED, "RIM index %u: Hash%d is not in a known digest namespace",
                       r->index, k);
        CCG_ENSURE_MSG(alg == NULL || alg == ns, CCG_R_GPU_RIM_MALFORMED, "RIM index %u mixes digest algorithms",
                       r->index);
        alg = ns;
        CCG_ENSURE_MSG(k < r->alternatives, CCG_R_GPU_RIM_MALFORMED,
                       "RIM index %u: Hash%d is beyond its %u alternatives", r->index, k, r->alternatives);
        CCG_ENSURE_MSG(ns->size == r->size, CCG_R_GPU_RIM_MALFORMED,
                       "RIM index %u: size %u is not the %u bytes of its digest", r->index, r->size, ns->size);
        CCG_ENSURE_MSG((seen & (1u << k)) == 0, CCG_R_GPU_RIM_MALFORMED, "RIM index %u: Hash%d appears twice",
                       r->index, k);
        v = xmlNodeListGetString(node->doc, a->children, 1);
        CCG_ENSURE_MSG(v != NULL && strlen((const char *)v) == 2u * r->size, CCG_R_GPU_RIM_MALFORMED,
                       "RIM index %u: Hash%d is not %u hex bytes", r->index, k, r->size);
        CCG_ENSURE_MSG(ccg_ok(ccg_hex_decode_exact((const char *)v, r->values[k], r->size)), CCG_R_GPU_RIM_MALFORMED,
                       "RIM index %u: Hash%d is not hex", r->index, k);
        xmlFree(v);
        v = NULL;
        seen |= 1u << k;
    }
    CCG_ENSURE_MSG(seen == (1u << r->alternatives) - 1, CCG_R_GPU_RIM_MALFORMED,
                   "RIM index %u lacks some of its %u alternatives", r->index, r->alternatives);
    result = CCG_SUCCESS;
cleanup:
    xmlFree(v);
    return result;
}

/* 1 when the Resource is a measurement (other resource types carry no golden values). */
static int is_measurement(xmlNodePtr node)
{
    xmlChar *type = attr(node, "type");
    int yes = type != NULL && strcmp((const char *)type, "Measurement") == 0;
    xmlFree(type);
    return yes;
}

static ccg_result parse_resource(xmlNodePtr node, ccg_gpu_rim_resource *r)
{
    ccg_result result = CCG_FAILURE;
    unsigned index = 0, alternatives = 0, size = 0;
    memset(r, 0, sizeof(*r));
    CCG_TRY(uint_attr(node, "index", 0, CCG_GPU_RIM_INDEX_COUNT - 1, &index));
    CCG_TRY(bool_attr(node, "active", &r->active));
    CCG_TRY(uint_attr(node, "alternatives", 1, CCG_GPU_RIM_MAX_ALTERNATIVES, &alternatives));
    CCG_TRY(uint_attr(node, "size", 1, CCG_GPU_RIM_MAX_DIGEST, &size));
    r->index = (uint16_t)index;
    r->alternatives = (uint8_t)alternatives;
    r->size = (uint16_t)size;
    CCG_TRY(read_hashes(node, r));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int by_index(const void *a, const void *b)
{
    const ccg_gpu_rim_resource *x = a, *y = b;
    return (int)x->index - (int)y->index;
}

static ccg_result parse_payload(xmlNodePtr payload, ccg_gpu_rim *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t seen[CCG_GPU_RIM_INDEX_COUNT] = {0};
    size_t n = 0;
    for (xmlNodePtr c = payload->children; c != NULL; c = c->next) {
        n += gpu_rim_is_element(c, "Resource", GPU_RIM_NS_SWID) && is_measurement(c);
    }
    CCG_ENSURE_MSG(n > 0 && n <= CCG_GPU_RIM_INDEX_COUNT, CCG_R_GPU_RIM_MALFORMED,
                   "the RIM's Payload has %zu measurement Resources (1..%d)", n, CCG_GPU_RIM_INDEX_COUNT);
    out->resources = calloc(n, sizeof(*out->resources));
    CCG_ENSURE_ALLOC(out->resources);
    for (xmlNodePtr c = payload->children; c != NULL; c = c->next) {
        if (!gpu_rim_is_element(c, "Resource", GPU_RIM_NS_SWID) || !is_measurement(c)) {
            continue;
        }
        ccg_gpu_rim_resource *r = &out->resources[out->n_resources];
        CCG_TRY(parse_resource(c, r));
        CCG_ENSURE_MSG(!seen[r->index], CCG_R_GPU_RIM_MALFORMED, "the RIM lists index %u twice", r->index);
        seen[r->index] = 1;
        out->n_resources++;
    }
    qsort(out->resources, out->n_resources, sizeof(*out->resources), by_index);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The one child element of root with this name; zero or several is malformed. */
static ccg_result only_child(xmlNodePtr root, const char *name, xmlNodePtr *out)
{
    ccg_result result = CCG_FAILURE;
    size_t n = 0;
    for (xmlNodePtr c = root->children; c != NULL; c = c->next) {
        if (gpu_rim_is_element(c, name, GPU_RIM_NS_SWID)) {
            *out = c;
            n++;
        }
    }
    CCG_ENSURE_MSG(n == 1, CCG_R_GPU_RIM_MALFORMED, "the RIM has %zu %s elements; exactly one is required", n, name);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result gpu_rim_swid_parse(xmlDocPtr doc, ccg_gpu_rim *out)
{
    ccg_result result = CCG_FAILURE;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr meta = NULL, payload = NULL;
    CCG_ENSURE_MSG(gpu_rim_is_element(root, "SoftwareIdentity", GPU_RIM_NS_SWID), CCG_R_GPU_RIM_MALFORMED,
                   "the RIM's root is not an ISO 19770-2:2015 SoftwareIdentity");
    CCG_TRY(copy_attr(root, "tagId", 1, out->tag_id, sizeof(out->tag_id)));
    CCG_TRY(copy_attr(root, "name", 0, out->name, sizeof(out->name)));
    CCG_TRY(only_child(root, "Meta", &meta));
    CCG_TRY(copy_attr(meta, "colloquialVersion", 1, out->version, sizeof(out->version)));
    CCG_TRY(copy_attr(meta, "product", 0, out->product, sizeof(out->product)));
    CCG_TRY(copy_attr(meta, "edition", 0, out->edition, sizeof(out->edition)));
    CCG_TRY(copy_attr(meta, "revision", 0, out->revision, sizeof(out->revision)));
    CCG_TRY(only_child(root, "Payload", &payload));
    CCG_TRY(parse_payload(payload, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
