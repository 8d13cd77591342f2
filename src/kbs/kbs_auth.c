/* POST /kbs/v0/auth: Request -> Challenge. A new session with a fresh single-use nonce that expires
 * after nonce_ttl; its ID goes back in the kbs-session-id cookie. An address that has used up its
 * failed attempts (kbs_attempts.c) gets no new session until its window closes. */
#include "kbs_internal.h"

#include <stdio.h>
#include <string.h>

#include "ccgate/error.h"

void kbs_handle_auth(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp)
{
    ccg_kbs_request r;
    char session_id[64], nonce[64];
    ccg_time now = kbs_now(k);
    kbs_context ctx = {.request_id = req->request_id};

    if (kbs_attempts_exhausted(k->attempts, req->client_address, NULL, now)) {
        kbs_refuse_attempts(k, resp, &ctx);
        return;
    }
    if (ccg_failed(ccg_kbs_request_parse(req->body, req->body_len, &r))) {
        ccg_reason why = ccg_error_reason();
        kbs_deny(k, resp, "kbs.auth", &ctx, why, why == CCG_R_KBS_VERSION_UNSUPPORTED ? 401 : 400, now);
        kbs_attempts_failed(k->attempts, req->client_address, NULL, now);
        return;
    }
    /* The TEEs the broker has a verifier for; the release policy then says which it allows. */
    if (strcmp(r.tee, "snp") != 0 && strcmp(r.tee, "tdx") != 0) {
        kbs_deny(k, resp, "kbs.auth", &ctx, CCG_R_KBS_TEE_NOT_ALLOWED, 401, now);
        kbs_attempts_failed(k->attempts, req->client_address, NULL, now);
        return;
    }
    if (ccg_failed(kbs_random_id(session_id)) || ccg_failed(kbs_random_id(nonce)) ||
        ccg_failed(ccg_store_session_create(k->store, session_id, nonce, r.tee, now, now + k->nonce_ttl))) {
        ccg_reason why = ccg_error_reason();
        kbs_deny(k, resp, "kbs.auth", &ctx, why, 0, now);
        return;
    }
    /* Expired sessions are removed now and then (every 64th challenge), an hour after expiry, and the
     * GPU reports seen before the retention window. */
    if (atomic_fetch_add(&k->metrics.challenges, 1) % 64 == 63 &&
        (ccg_failed(ccg_store_session_purge(k->store, now, 3600, NULL)) ||
         ccg_failed(ccg_store_gpu_report_purge(k->store, now - kbs_gpu_retention(k->gpu), NULL)))) {
        ccg_error_clear(); /* housekeeping: a failure here does not refuse the challenge */
    }
    snprintf(resp->set_cookie, sizeof(resp->set_cookie), "%s=%s; Path=/kbs; HttpOnly", CCG_KBS_COOKIE,
             session_id);
    kbs_json_response(resp, 200, json_pack("{s:s,s:{}}", "nonce", nonce, "extra-params"));
}
