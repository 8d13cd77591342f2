/* The SNP certificate table of the extended guest request (GHCB spec 56421, MSG_REPORT_REQ): what
 * /dev/sev-guest's SNP_GET_EXT_REPORT writes to certs_address and configfs-tsm returns as auxblob. */
#include <stdlib.h>
#include <string.h>

#include "attest_internal.h"
#include "ccgate/reader.h"

#define ENTRY_LEN 24u
#define GUID_LEN 16u
#define NO_END "the certificate table has no terminating all-zero entry"

/* RFC 4122 byte order, as AMD's tools (libuuid uuid_parse) and the hosts write them. */
static const struct {
    ccg_snp_cert_kind kind;
    uint8_t guid[GUID_LEN];
    const char *name;
} known[] = {
    /* 63da758d-e664-4564-adc5-f4b93be8accd */
    {CCG_SNP_CERT_VCEK, {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd},
     "VCEK"},
    /* a8074bc2-a25a-483e-aae6-39c045a0b8a1 */
    {CCG_SNP_CERT_VLEK, {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1},
     "VLEK"},
    /* 4ab7b379-bbac-4fe4-a02f-05aef327c782 */
    {CCG_SNP_CERT_ASK, {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82},
     "ASK"},
    /* c0b406a4-a803-4952-9743-3fb6014cd0ae */
    {CCG_SNP_CERT_ARK, {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae},
     "ARK"},
};

const char *ccg_snp_cert_kind_name(ccg_snp_cert_kind kind)
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (known[i].kind == kind) {
            return known[i].name;
        }
    }
    return "other";
}

static ccg_snp_cert_kind kind_of(const uint8_t guid[GUID_LEN])
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (memcmp(known[i].guid, guid, GUID_LEN) == 0) {
            return known[i].kind;
        }
    }
    return CCG_SNP_CERT_OTHER;
}

static const uint8_t *guid_of(ccg_snp_cert_kind kind)
{
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (known[i].kind == kind) {
            return known[i].guid;
        }
    }
    return NULL;
}

/* Reads the entries up to the all-zero terminator. */
static ccg_result read_entries(ccg_reader *rd, ccg_snp_cert_entry *entries, size_t max, size_t *n,
                               uint32_t offs[], uint32_t lens[])
{
    ccg_result result = CCG_FAILURE;
    *n = 0;
    for (;;) {
        uint8_t guid[GUID_LEN];
        uint32_t off = 0, len = 0;
        CCG_TRY_AS(ccg_reader_copy(rd, guid, GUID_LEN), CCG_R_ATTEST_OUTPUT_MALFORMED, "%s", NO_END);
        CCG_TRY_AS(ccg_reader_u32le(rd, &off), CCG_R_ATTEST_OUTPUT_MALFORMED, "%s", NO_END);
        CCG_TRY_AS(ccg_reader_u32le(rd, &len), CCG_R_ATTEST_OUTPUT_MALFORMED, "%s", NO_END);
        if (ccg_is_all_zero(guid, GUID_LEN) && off == 0 && len == 0) {
            break;
        }
        CCG_ENSURE_MSG(*n < max && *n < CCG_SNP_CERT_TABLE_MAX_ENTRIES, CCG_R_ATTEST_CERTS_TOO_LARGE,
                       "the certificate table has more than %zu entries", max);
        for (size_t i = 0; i < *n; i++) {
            CCG_ENSURE_MSG(memcmp(entries[i].guid, guid, GUID_LEN) != 0, CCG_R_ATTEST_OUTPUT_MALFORMED,
                           "the certificate table names one GUID twice");
        }
        ccg_snp_cert_entry *e = &entries[*n];
        memset(e, 0, sizeof(*e));
        memcpy(e->guid, guid, GUID_LEN);
        e->kind = kind_of(guid);
        offs[*n] = off;
        lens[*n] = len;
        (*n)++;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Each certificate lies after the table, inside the buffer, and overlaps no other. */
static ccg_result place_entries(const uint8_t *buf, size_t len, size_t table_end, ccg_snp_cert_entry *entries, size_t n,
                                const uint32_t offs[], const uint32_t lens[], size_t *used)
{
    ccg_result result = CCG_FAILURE;
    *used = table_end;
    for (size_t i = 0; i < n; i++) {
        uint64_t end = (uint64_t)offs[i] + lens[i];
        CCG_ENSURE_MSG(lens[i] > 0 && offs[i] >= table_end && end <= len, CCG_R_ATTEST_OUTPUT_MALFORMED,
                       "certificate %s at %u+%u lies outside the %zu-byte blob", ccg_snp_cert_kind_name(entries[i].kind),
                       offs[i], lens[i], len);
        for (size_t j = 0; j < i; j++) {
            CCG_ENSURE_MSG(end <= offs[j] || (uint64_t)offs[j] + lens[j] <= offs[i], CCG_R_ATTEST_OUTPUT_MALFORMED,
                           "two certificates of the table overlap");
        }
        entries[i].der = buf + offs[i];
        entries[i].der_len = lens[i];
        if (end > *used) {
            *used = (size_t)end;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_cert_table_parse(const uint8_t *buf, size_t len, ccg_snp_cert_entry *entries, size_t max, size_t *n,
                                    size_t *used_len)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader rd;
    uint32_t offs[CCG_SNP_CERT_TABLE_MAX_ENTRIES], lens[CCG_SNP_CERT_TABLE_MAX_ENTRIES];
    size_t count = 0, used = 0;
    *n = 0;
    *used_len = 0;
    CCG_ENSURE_MSG(len <= CCG_ATTESTER_CERTS_MAX, CCG_R_ATTEST_CERTS_TOO_LARGE,
                   "a certificate blob of %zu bytes (at most %u accepted)", len, CCG_ATTESTER_CERTS_MAX);
    ccg_reader_init(&rd, buf, len);
    CCG_TRY(read_entries(&rd, entries, max, &count, offs, lens));
    CCG_TRY(place_entries(buf, len, ccg_reader_offset(&rd), entries, count, offs, lens, &used));
    /* Gaps between certificates may hold anything the host wrote; the tail past the last one is the
     * kernel's zeroed page remainder and must stay zero. */
    CCG_ENSURE_MSG(ccg_is_all_zero(buf + used, len - used), CCG_R_ATTEST_OUTPUT_MALFORMED,
                   "non-zero bytes after the certificate table's last certificate");
    *n = count;
    *used_len = used;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

ccg_result ccg_snp_cert_table_build(const ccg_snp_cert_entry *entries, size_t n, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = NULL;
    size_t total = (n + 1) * ENTRY_LEN;
    *out = NULL;
    *out_len = 0;
    CCG_ENSURE_MSG(n <= CCG_SNP_CERT_TABLE_MAX_ENTRIES, CCG_R_ATTEST_CERTS_TOO_LARGE, "%zu certificates", n);
    for (size_t i = 0; i < n; i++) {
        CCG_ENSURE_MSG(entries[i].der_len > 0 && entries[i].der_len <= CCG_ATTESTER_CERTS_MAX,
                       CCG_R_ATTEST_CERTS_TOO_LARGE, "a certificate of %zu bytes", entries[i].der_len);
        total += entries[i].der_len;
    }
    CCG_ENSURE_MSG(total <= CCG_ATTESTER_CERTS_MAX, CCG_R_ATTEST_CERTS_TOO_LARGE, "a certificate table of %zu bytes",
                   total);
    buf = calloc(1, total);
    CCG_ENSURE_ALLOC(buf);
    size_t off = (n + 1) * ENTRY_LEN;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *guid = entries[i].kind == CCG_SNP_CERT_OTHER ? entries[i].guid : guid_of(entries[i].kind);
        CCG_ENSURE_MSG(guid != NULL, CCG_R_USAGE_INVALID, "unknown certificate kind %d", (int)entries[i].kind);
        memcpy(buf + i * ENTRY_LEN, guid, GUID_LEN);
        put_u32le(buf + i * ENTRY_LEN + GUID_LEN, (uint32_t)off);
        put_u32le(buf + i * ENTRY_LEN + GUID_LEN + 4, (uint32_t)entries[i].der_len);
        memcpy(buf + off, entries[i].der, entries[i].der_len);
        off += entries[i].der_len;
    }
    *out = buf;
    *out_len = total;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}
