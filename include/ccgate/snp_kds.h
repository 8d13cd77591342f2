/* SEV-SNP collateral from a local cache directory, and on a cache miss from AMD's Key Distribution
 * Service (KDS, "VCEK Certificate and KDS Interface Specification", AMD publication 57230).
 *
 * Items and where they live (docs/kds-collateral.md):
 *   VCEK        {base}/vcek/v1/{Product}/{hwid}?blSPL=..   {dir}/{product}/vcek/{hwid}/{tcb}.der
 *   VLEK        (never fetched: KDS serves VLEKs to cloud providers only) {dir}/{product}/vlek/{tcb}.der
 *   ASK+ARK     {base}/vcek/v1/{Product}/cert_chain        {dir}/{product}/cert_chain.pem
 *   ASVK+ARK    {base}/vlek/v1/{Product}/cert_chain        {dir}/{product}/vlek_cert_chain.pem
 *   CRL (VCEK)  {base}/vcek/v1/{Product}/crl               {dir}/{product}/crl.der
 *   CRL (VLEK)  {base}/vlek/v1/{Product}/crl               {dir}/{product}/vlek_crl.der
 * {hwid} is lowercase hex of the CHIP_ID bytes the product's VCEK carries (64, or 8 on Turin) and
 * {tcb} the 16 lowercase hex digits of the 64-bit TCB_VERSION.
 *
 * The verification-path rule: an item found in the cache is never fetched again. Fetched bytes are
 * parsed before they are stored, so an error page never lands in the cache.
 *
 * A lookup (the key broker's store: collateral uploaded through its admin API) may come before the
 * cache: an item it holds is used as is and neither cached nor fetched. Its collateral IDs are the
 * cache paths under "snp/" without the file extension (ccg_snp_kds_item_id):
 *   snp/{product}/vcek/{hwid}/{tcb}   snp/{product}/vlek/{tcb}
 *   snp/{product}/cert_chain          snp/{product}/vlek_cert_chain
 *   snp/{product}/crl                 snp/{product}/vlek_crl */
#ifndef CCGATE_SNP_KDS_H
#define CCGATE_SNP_KDS_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"
#include "ccgate/snp_report.h"
#include "ccgate/snp_verify.h"

#define CCG_SNP_KDS_DEFAULT_URL "https://kdsintf.amd.com"
#define CCG_SNP_KDS_DEFAULT_MAX_RESPONSE (1u << 20)
#define CCG_SNP_KDS_DEFAULT_RETRY_CAP_S 30u
#define CCG_SNP_KDS_DEFAULT_RETRIES 3
#define CCG_SNP_KDS_DEFAULT_TIMEOUT_S 30L
/* Longest URL or cache path built here. */
#define CCG_SNP_KDS_PATH_MAX 4096

/* A source consulted before the cache: *found 0 (and *out NULL) on a miss; a failure is the source's
 * own error (e.g. store.unavailable) and fails the load. *out is malloc'd. */
typedef ccg_result (*ccg_snp_collateral_lookup)(void *ctx, const char *collateral_id, uint8_t **out,
                                                size_t *out_len, int *found);

typedef struct {
    const char *base_url;               /* NULL: CCG_SNP_KDS_DEFAULT_URL; http:// or https:// only */
    const char *cache_dir;              /* required unless lookup is set (then NULL: the lookup only) */
    ccg_snp_collateral_lookup lookup;   /* NULL: none */
    void *lookup_ctx;
    int allow_fetch;                    /* 0: cache only */
    int max_retries;                    /* further attempts after a 429; negative counts as 0 */
    unsigned max_retry_after_s;         /* cap on one wait after a 429; 0: 30 s */
    void (*sleep_fn)(unsigned seconds); /* NULL: a real sleep */
    long timeout_s;                     /* whole-request timeout; 0 or negative: 30 s */
    size_t max_response_bytes;          /* 0: 1 MiB; larger bodies fail with collateral.fetch_failed */
} ccg_snp_kds_config;

/* Defaults: KDS URL, fetching off, 3 retries, 30 s caps, 1 MiB bodies; cache_dir NULL. */
void ccg_snp_kds_config_init(ccg_snp_kds_config *cfg);

typedef enum {
    CCG_SNP_KDS_KEY = 0, /* the VCEK or VLEK for one chip and TCB */
    CCG_SNP_KDS_CHAIN,   /* ASK+ARK (VCEK) or ASVK+ARK (VLEK), PEM */
    CCG_SNP_KDS_CRL,     /* the product's CRL signed by the ARK, DER */
} ccg_snp_kds_kind;

/* One piece of collateral. chip_id and tcb matter for KEY items only. */
typedef struct {
    ccg_snp_kds_kind kind;
    ccg_snp_product product;
    ccg_snp_signer signer; /* VCEK or VLEK */
    uint8_t chip_id[64];
    ccg_snp_tcb tcb;
} ccg_snp_kds_item;

/* "VCEK", "VLEK", "ASK+ARK chain", "ASVK+ARK chain", "VCEK CRL", "VLEK CRL". */
const char *ccg_snp_kds_item_name(const ccg_snp_kds_item *item);
/* Lowercase product name used in cache paths and on the command line ("milan"). */
const char *ccg_snp_kds_product_dir(ccg_snp_product p);

/* The KEY item of a report: signer, CHIP_ID and REPORTED_TCB from the report; the product as given,
 * or from the report's CPUID when product is CCG_SNP_PRODUCT_UNKNOWN. A given product that differs
 * from a known CPUID product fails with snp.product_mismatch. */
CCG_MUST_CHECK ccg_result ccg_snp_kds_item_from_report(ccg_snp_product product, const uint8_t *report,
                                                       size_t report_len, ccg_snp_kds_item *out);

/* The KDS URL of an item. A VLEK has none (collateral.missing). Bad base URLs: input.malformed. */
CCG_MUST_CHECK ccg_result ccg_snp_kds_url(const char *base_url, const ccg_snp_kds_item *item, char *out,
                                          size_t out_len);

/* The collateral ID of an item in the key broker's store ("snp/milan/crl"; see above). */
CCG_MUST_CHECK ccg_result ccg_snp_kds_item_id(const ccg_snp_kds_item *item, char *out, size_t out_len);
/* Whether id has the shape of an SNP collateral ID, and which kind of item it names (for checking
 * uploaded bytes with ccg_snp_kds_validate). 0 when it is not one. */
int ccg_snp_kds_id_kind(const char *id, ccg_snp_kds_kind *kind, ccg_snp_signer *signer);

/* The cache path of an item under cache_dir. */
CCG_MUST_CHECK ccg_result ccg_snp_cache_path(const char *cache_dir, const ccg_snp_kds_item *item, char *out,
                                             size_t out_len);
/* Reads a cached item. *found is 0 (and *out NULL) when the file does not exist; unreadable, oversized
 * or non-regular files fail with collateral.cache_error. */
CCG_MUST_CHECK ccg_result ccg_snp_cache_read(const char *cache_dir, const ccg_snp_kds_item *item, uint8_t **out,
                                             size_t *out_len, int *found);
/* Stores an item atomically (temporary file, fsync, rename); directories are created with mode 0700. */
CCG_MUST_CHECK ccg_result ccg_snp_cache_write(const char *cache_dir, const ccg_snp_kds_item *item,
                                              const uint8_t *data, size_t len);

/* One HTTP GET with the 429 retry rule. 200 gives the body; 404 collateral.missing; 429 after
 * max_retries further attempts collateral.rate_limited; anything else collateral.fetch_failed.
 * `what` names the item in error messages. */
CCG_MUST_CHECK ccg_result ccg_snp_kds_get(const ccg_snp_kds_config *cfg, const char *url, const char *what,
                                          uint8_t **out, size_t *out_len);

/* Checks that bytes are what the item should hold: one certificate (KEY), a bundle of at least one
 * certificate (CHAIN) or a CRL (CRL). Fails with the parser's reason (cert.parse_failed). */
CCG_MUST_CHECK ccg_result ccg_snp_kds_validate(const ccg_snp_kds_item *item, const uint8_t *data, size_t len);

/* An item from the cache; on a miss with allow_fetch, fetched, validated, stored, and read back.
 * *fetched tells which happened. A corrupt cached file fails with collateral.cache_error. */
CCG_MUST_CHECK ccg_result ccg_snp_kds_load(const ccg_snp_kds_config *cfg, const ccg_snp_kds_item *item,
                                           uint8_t **out, size_t *out_len, int *fetched);
/* Fetches an item even when cached and replaces the cached copy (a CRL refresh; never on the
 * verification path). */
CCG_MUST_CHECK ccg_result ccg_snp_kds_refresh(const ccg_snp_kds_config *cfg, const ccg_snp_kds_item *item);

/* Stores one VCEK or VLEK certificate (PEM or DER) obtained elsewhere under the key its AMD extensions
 * give: VCEK by hwID and TCB, VLEK by TCB. The product comes from its productName extension, or
 * `product` when that is absent; *out receives the item. Not a chain check: verification does that. */
CCG_MUST_CHECK ccg_result ccg_snp_kds_import_key(const char *cache_dir, ccg_snp_product product,
                                                 const uint8_t *data, size_t len, ccg_snp_kds_item *out);

/* Adds the endorsement key (VCEK or VLEK), its chain and, with want_crl, the CRL to out (which the
 * caller initialised) from the cache, fetching only missing items and only when allow_fetch.
 * A masked (all-zero) chip ID cannot name a VCEK: collateral.missing. */
CCG_MUST_CHECK ccg_result ccg_snp_collateral_from_cache_or_kds(const ccg_snp_kds_config *cfg,
                                                               ccg_snp_product product, ccg_snp_signer signer,
                                                               const uint8_t chip_id[64],
                                                               const ccg_snp_tcb *reported_tcb, int want_crl,
                                                               ccg_snp_collateral *out);
/* The CRL alone (VCEK or VLEK, as the report's signer) for a report whose guest sent its own chain. */
CCG_MUST_CHECK ccg_result ccg_snp_crl_for_report(const ccg_snp_kds_config *cfg, const uint8_t *report,
                                                 size_t report_len, ccg_snp_collateral *out);
/* As above for the identity of a report (see ccg_snp_kds_item_from_report). */
CCG_MUST_CHECK ccg_result ccg_snp_collateral_for_report(const ccg_snp_kds_config *cfg, ccg_snp_product product,
                                                        const uint8_t *report, size_t report_len, int want_crl,
                                                        ccg_snp_collateral *out);

#endif
