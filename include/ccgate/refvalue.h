/* Reference values: signed, expiring records of an approved launch measurement, grouped in versioned
 * sets (docs/reference-values.md). A provider signs each record (ECDSA P-384 or Ed25519) over its
 * RFC 8785 canonical JSON without the "signature" member; a verifier trusts issuers by key ID. */
#ifndef CCGATE_REFVALUE_H
#define CCGATE_REFVALUE_H

#include <jansson.h>
#include <openssl/evp.h>

#include "ccgate/decision.h"
#include "ccgate/result.h"
#include "ccgate/util.h"

#define CCG_REFVAL_ID_MAX 128
#define CCG_REFVAL_MAX_RECORDS 1024

/* The TD registers a "tdx" record may pin beside MRTD (its "measurement"), in this order:
 * rtmr0, rtmr1, rtmr2, rtmr3, mrconfigid, mrowner, mrownerconfig, mrservicetd. */
#define CCG_REFVAL_TDX_FIELDS 8
/* The name of TDX field i ("rtmr0", ...), or NULL past the last. */
const char *ccg_refval_tdx_field_name(size_t i);

typedef struct {
    char id[CCG_REFVAL_ID_MAX];
    char tee[16];
    uint8_t measurement[64];
    size_t measurement_len;
    char build_id[CCG_REFVAL_ID_MAX];
    ccg_time not_before;
    ccg_time not_after;
    char issuer[CCG_REFVAL_ID_MAX]; /* "" when unsigned */
    int has_signature;
    unsigned tdx_mask;                         /* bit i: "tdx" pins field i */
    uint8_t tdx[CCG_REFVAL_TDX_FIELDS][48];
    json_t *doc; /* the record as parsed (owned): canonical bytes are computed from it */
} ccg_refval_record;

/* A TD's measurements, as a quote reports them. */
typedef struct {
    uint8_t mrtd[48];
    uint8_t fields[CCG_REFVAL_TDX_FIELDS][48];
} ccg_refval_td;

typedef struct ccg_refval_set {
    char set_id[CCG_REFVAL_ID_MAX];
    int64_t version;
    ccg_refval_record *records;
    size_t count;
} ccg_refval_set;

/* Trusted issuers: key ID -> public key. */
typedef struct ccg_refval_issuers ccg_refval_issuers;

CCG_MUST_CHECK ccg_result ccg_refval_issuers_new(ccg_refval_issuers **out);
/* Adds a PEM public key (or certificate) under an issuer ID. */
CCG_MUST_CHECK ccg_result ccg_refval_issuers_add_pem(ccg_refval_issuers *iss, const char *id, const uint8_t *pem,
                                                     size_t len);
void ccg_refval_issuers_free(ccg_refval_issuers *iss);

/* Strict parse of one record (refval.malformed on any unknown member, wrong type or bad value, an
 * "snp" or "tdx" measurement that is not 48 bytes, a "tdx" member on another TEE's record or with an
 * unknown register, or a record without canonical signing bytes). */
CCG_MUST_CHECK ccg_result ccg_refval_record_parse(const json_t *obj, ccg_refval_record *out);
void ccg_refval_record_free(ccg_refval_record *r);
/* A set document {"set_id","version","records":[...]}, unique by record ID and issuer, or a single record
 * read as a set of one. */
CCG_MUST_CHECK ccg_result ccg_refval_set_parse(const char *text, size_t len, ccg_refval_set **out);
void ccg_refval_set_free(ccg_refval_set *set);

/* The bytes a signature covers: RFC 8785 JSON of the record without "signature". malloc'd. */
CCG_MUST_CHECK ccg_result ccg_refval_signing_bytes(const json_t *record, char **out, size_t *out_len);
/* Signs a record in place: sets "issuer" and "signature" {"alg": "ES384"|"Ed25519", "value": b64url}. */
CCG_MUST_CHECK ccg_result ccg_refval_sign(json_t *record, EVP_PKEY *key, const char *issuer);

/* Checks one record for use at `now` for evidence of `tee`: signed, by a trusted issuer, signature
 * valid, within validity. Adds each failure to d with the record's id; returns 1 when usable. */
int ccg_refval_record_check(const ccg_refval_record *r, const char *tee, const ccg_refval_issuers *iss, ccg_time now,
                            ccg_decision *d);
/* The measurement must equal a usable record of the set (tee NULL: any TEE). Otherwise: the refusals
 * of every record holding it (refval.expired, refval.unsigned, ...), or, when none holds it,
 * refval.measurement_mismatch with the measurement got, the set ID and version, and the build ID of
 * the usable record sharing the most leading bytes with it. Returns 1 on a match. */
int ccg_refval_set_match(const ccg_refval_set *set, const char *tee, const uint8_t *measurement, size_t len,
                         const ccg_refval_issuers *iss, ccg_time now, ccg_decision *d);

/* The TDX form: a "tdx" record holds the TD when its measurement is the MRTD and every register its
 * "tdx" member names equals the TD's. Then as ccg_refval_set_match (tee "tdx"); a mismatch's details
 * also name the closest record's differing registers ("mismatched_fields": "mrtd", "rtmr1", ...). */
int ccg_refval_set_match_tdx(const ccg_refval_set *set, const ccg_refval_td *td, const ccg_refval_issuers *iss,
                             ccg_time now, ccg_decision *d);

#endif
