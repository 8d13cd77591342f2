/* The RIM front end: size bound, parse, chain, signature, SWID (docs/gpu-rim.md). */
#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/x509util.h"
#include "gpu_rim_internal.h"

void ccg_gpu_rim_free(ccg_gpu_rim *rim)
{
    if (rim == NULL) {
        return;
    }
    sk_X509_pop_free(rim->chain, X509_free);
    free(rim->resources);
    memset(rim, 0, sizeof(*rim));
}

static ccg_result record_signer(ccg_gpu_rim *out)
{
    ccg_result result = CCG_FAILURE;
    X509 *signer = sk_X509_value(out->chain, 0);
    ccg_time not_after = 0;
    char *subject = ccg_x509_name_text(X509_get_subject_name(signer));
    CCG_ENSURE_ALLOC(subject);
    snprintf(out->signer, sizeof(out->signer), "%s", subject);
    CCG_TRY(ccg_x509_validity(signer, &out->signer_not_before, &not_after));
    out->chain_not_after = not_after;
    for (int i = 1; i < sk_X509_num(out->chain); i++) {
        ccg_time nb = 0, na = 0;
        CCG_TRY(ccg_x509_validity(sk_X509_value(out->chain, i), &nb, &na));
        out->chain_not_after = na < out->chain_not_after ? na : out->chain_not_after;
    }
    result = CCG_SUCCESS;
cleanup:
    free(subject);
    return result;
}

ccg_result ccg_gpu_rim_verify(const uint8_t *xml, size_t len, X509 *root, ccg_time now, ccg_gpu_rim *out)
{
    ccg_result result = CCG_FAILURE;
    xmlDocPtr doc = NULL;
    xmlNodePtr signature = NULL;
    X509 *pinned = NULL;
    memset(out, 0, sizeof(*out));
    if (root == NULL) {
        CCG_TRY(ccg_gpu_rim_pinned_root(&pinned));
        root = pinned;
    }
    CCG_TRY(gpu_rim_xml_parse(xml, len, &doc));
    CCG_TRY(gpu_rim_signature_node(doc, &signature));
    /* The chain first: xmlsec is handed only a key that chains to the trusted root at `now`. */
    CCG_TRY(gpu_rim_chain_verify(signature, root, now, &out->chain));
    CCG_TRY(gpu_rim_signature_verify(signature, sk_X509_value(out->chain, 0)));
    CCG_TRY(record_signer(out));
    /* The Reference is URI="" with the enveloped transform: everything outside ds:Signature, which is
     * all the SWID parser reads, was covered by the signature just verified. */
    CCG_TRY(gpu_rim_swid_parse(doc, out));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_gpu_rim_free(out);
    }
    xmlFreeDoc(doc);
    X509_free(pinned);
    return result;
}

json_t *ccg_gpu_rim_claims_json(const ccg_gpu_rim *rim)
{
    char nb[32], na[32];
    json_t *active = json_array();
    for (size_t i = 0; active != NULL && i < rim->n_resources; i++) {
        if (rim->resources[i].active) {
            json_array_append_new(active, json_integer(rim->resources[i].index));
        }
    }
    ccg_time_format_rfc3339(rim->signer_not_before, nb, sizeof(nb));
    ccg_time_format_rfc3339(rim->chain_not_after, na, sizeof(na));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o*}", "tag_id", rim->tag_id, "name", rim->name,
                     "version", rim->version, "product", rim->product, "signer", rim->signer, "signer_not_before",
                     nb, "chain_not_after", na, "edition", rim->edition, "active_indexes", active);
}
