/* GET /.well-known/ccgate/evidence?nonce=<b64url 32 bytes>&binding=tls-exporter|hpke
 *
 * Fresh evidence from the guest's attester (through deps.evidence: in ccgate-endpoint, a request to
 * ccgate-agent over the control channel) whose REPORT_DATA binds the client's nonce, this TLS
 * session's RFC 9266 exporter (tls-exporter; zeros for hpke) and the endpoint's HPKE key configuration
 * (docs/endpoint.md, "Attestation binding"). No credential is needed (the client verifies before it
 * sends its key); the route is rate-limited per address, and the attester is used by one request at a
 * time. */
#include "ep_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/endpoint_binding.h"
#include "ccgate/error.h"
#include "ccgate/jose.h"

/* nonce: unpadded base64url of 32 bytes; binding: tls-exporter (the default) or hpke. */
static ccg_result parse_query(struct MHD_Connection *mc, uint8_t nonce[32], ccg_endpoint_binding *binding)
{
    ccg_result result = CCG_FAILURE;
    const char *n = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "nonce");
    const char *b = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "binding");
    CCG_ENSURE_MSG(n != NULL, CCG_R_ENDPOINT_REQUEST_INVALID, "nonce is required");
    CCG_ENSURE_MSG(ep_value_count(mc, MHD_GET_ARGUMENT_KIND, "nonce") == 1 &&
                       ep_value_count(mc, MHD_GET_ARGUMENT_KIND, "binding") <= 1,
                   CCG_R_ENDPOINT_REQUEST_INVALID, "nonce or binding given twice");
    CCG_TRY(ccg_endpoint_nonce_decode(n, nonce));
    *binding = CCG_ENDPOINT_BINDING_TLS_EXPORTER;
    if (b != NULL) {
        CCG_TRY(ccg_endpoint_binding_parse(b, binding));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result produce(struct ccg_endpoint *ep, ep_conn *conn, const uint8_t nonce[32],
                          ccg_endpoint_binding binding, char **out)
{
    ccg_result result = CCG_FAILURE;
    const uint8_t *kc = NULL;
    size_t kc_len = 0;
    uint8_t rd[64];
    ccg_evidence ev;
    ccg_endpoint_evidence doc;
    int locked = 0;
    memset(&ev, 0, sizeof(ev));
    memset(&doc, 0, sizeof(doc));
    CCG_ENSURE_MSG(ep->deps.evidence != NULL, CCG_R_ENDPOINT_EVIDENCE_UNAVAILABLE, "no attester");
    ep_gateway_key_config(ep, &kc, &kc_len);
    CCG_TRY(ccg_endpoint_report_data(binding, nonce, binding == CCG_ENDPOINT_BINDING_HPKE ? NULL : conn->exporter, kc,
                                     kc_len, rd));
    pthread_mutex_lock(&ep->attester_lock);
    locked = 1;
    CCG_TRY(ep->deps.evidence(ep->deps.evidence_ctx, rd, &ev));
    CCG_ENSURE_MSG(ev.report != NULL && ev.report_len > 0 && (ev.tee == CCG_TEE_SNP || ev.tee == CCG_TEE_TDX),
                   CCG_R_ENDPOINT_EVIDENCE_UNAVAILABLE, "the evidence source returned no report");
    pthread_mutex_unlock(&ep->attester_lock);
    locked = 0;
    doc.version = 1;
    doc.tee = ev.tee == CCG_TEE_TDX ? CCG_ENDPOINT_TEE_TDX : CCG_ENDPOINT_TEE_SNP;
    doc.binding = binding;
    memcpy(doc.nonce, nonce, 32);
    doc.key_config = (uint8_t *)kc;
    doc.key_config_len = kc_len;
    doc.report = ev.report;
    doc.report_len = ev.report_len;
    doc.certs = ev.certs;
    doc.certs_len = ev.certs_len;
    if (ev.tee == CCG_TEE_TDX) {
        doc.ccel = (uint8_t *)ep->deps.ccel;
        doc.ccel_len = ep->deps.ccel_len;
        doc.ccel_data = (uint8_t *)ep->deps.ccel_data;
        doc.ccel_data_len = ep->deps.ccel_data_len;
    }
    CCG_TRY(ccg_endpoint_evidence_encode(&doc, out));
    result = CCG_SUCCESS;
cleanup:
    if (locked) {
        pthread_mutex_unlock(&ep->attester_lock);
    }
    ccg_evidence_free(&ev);
    return result;
}

ccg_result ccg_endpoint_attester_evidence(void *ctx, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                                          ccg_evidence *out)
{
    return ccg_attester_get_evidence((ccg_attester *)ctx, report_data, out);
}

enum MHD_Result ep_evidence_route(struct ccg_endpoint *ep, struct MHD_Connection *mc, ep_conn *conn, const char *cid,
                                  ccg_reason *outcome, unsigned *status)
{
    uint8_t nonce[32];
    ccg_endpoint_binding binding = CCG_ENDPOINT_BINDING_TLS_EXPORTER;
    char *text = NULL;
    struct MHD_Response *r;
    enum MHD_Result ret;
    if (ccg_failed(parse_query(mc, nonce, &binding))) {
        *outcome = CCG_R_ENDPOINT_REQUEST_INVALID;
        *status = 400;
    } else if (ccg_failed(produce(ep, conn, nonce, binding, &text))) {
        ep_logrec rec = {.level = "error", .event = "endpoint.evidence", .cid = cid,
                         .reason = ccg_error_reason(), .detail = ccg_error_last()->message};
        ep_log(ep, &rec);
        *outcome = CCG_R_ENDPOINT_EVIDENCE_UNAVAILABLE;
        *status = 503;
    }
    ccg_error_clear();
    if (*outcome != CCG_R_OK) {
        r = ep_error_response(*outcome, cid);
    } else {
        *status = 200;
        r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (r == NULL) {
            free(text);
        } else {
            MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
            MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
            MHD_add_response_header(r, "ccgate-correlation-id", cid);
        }
    }
    if (r == NULL) {
        return MHD_NO;
    }
    ret = MHD_queue_response(mc, *status, r);
    MHD_destroy_response(r);
    return ret;
}
