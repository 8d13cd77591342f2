/* POST /.well-known/ccgate/ohttp: gateway mode (RFC 9458 Oblivious HTTP carrying RFC 9292 binary HTTP).
 * Until the shared OHTTP API is merged, the route is not served: endpoint.gateway_disabled. The key
 * configuration the evidence binds is a fresh HPKE X25519 key per start (RFC 9458 section 3). */
#include "ep_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/hpke.h"

typedef struct {
    ccg_hpke_keypair kp;
    uint8_t key_config[64];
    size_t key_config_len;
} ep_gateway;

ccg_result ep_gateway_init(struct ccg_endpoint *ep);
void ep_gateway_free(struct ccg_endpoint *ep);
ccg_result ep_gateway_key_config(struct ccg_endpoint *ep, const uint8_t **kc, size_t *kc_len);

ccg_result ep_gateway_init(struct ccg_endpoint *ep)
{
    ccg_result result = CCG_FAILURE;
    ep_gateway *g = calloc(1, sizeof(*g));
    uint8_t *p;
    CCG_ENSURE_ALLOC(g);
    CCG_TRY(ccg_hpke_generate_keypair(&g->kp));
    /* key_id u8, kem_id u16, public key, cipher suites length u16, (kdf u16, aead u16) */
    p = g->key_config;
    *p++ = 1;
    *p++ = 0x00;
    *p++ = 0x20;
    memcpy(p, g->kp.pk, 32);
    p += 32;
    *p++ = 0;
    *p++ = 4;
    *p++ = 0;
    *p++ = 1;
    *p++ = 0;
    *p++ = 1;
    g->key_config_len = (size_t)(p - g->key_config);
    ep->gateway = g;
    g = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(g);
    return result;
}

void ep_gateway_free(struct ccg_endpoint *ep)
{
    ep_gateway *g = ep->gateway;
    if (g == NULL) {
        return;
    }
    ccg_hpke_keypair_clear(&g->kp);
    free(g);
    ep->gateway = NULL;
}

ccg_result ep_gateway_key_config(struct ccg_endpoint *ep, const uint8_t **kc, size_t *kc_len)
{
    ep_gateway *g = ep->gateway;
    *kc = g->key_config;
    *kc_len = g->key_config_len;
    return CCG_SUCCESS;
}

enum MHD_Result ep_gateway_route(struct ccg_endpoint *ep, struct MHD_Connection *mc, const uint8_t *body, size_t len,
                                 const char *cid, ccg_reason *outcome, unsigned *status, char *caller,
                                 size_t caller_len);
enum MHD_Result ep_gateway_route(struct ccg_endpoint *ep, struct MHD_Connection *mc, const uint8_t *body, size_t len,
                                 const char *cid, ccg_reason *outcome, unsigned *status, char *caller,
                                 size_t caller_len)
{
    struct MHD_Response *r;
    enum MHD_Result ret;
    (void)ep;
    (void)body;
    (void)len;
    (void)caller;
    (void)caller_len;
    *outcome = CCG_R_ENDPOINT_GATEWAY_DISABLED;
    *status = 404;
    r = ep_error_response(*outcome, cid);
    if (r == NULL) {
        return MHD_NO;
    }
    ret = MHD_queue_response(mc, *status, r);
    MHD_destroy_response(r);
    return ret;
}
