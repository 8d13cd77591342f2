/* The OVMF footer GUID table and SEV metadata, read from an untrusted firmware image.
 *
 * The table ends 32 bytes before the end of the image: a footer entry {u16 size, GUID 96b582de-...}
 * whose size covers the whole table. Entries run backwards from there, each {data, u16 size, GUID}.
 * The SEV metadata entry gives the offset from the end of the image to an "ASEV" header followed by
 * {u32 gpa, u32 size, u32 type} section descriptors. Everything is read through the bounded reader. */
#include <stdio.h>
#include <string.h>

#include "ccgate/reader.h"
#include "snp_internal.h"

#define GUID_LEN 16
#define ENTRY_HEADER_LEN (2 + GUID_LEN)
#define FOOTER_GAP 32 /* the table ends 32 bytes before the end of the image */
#define META_HEADER_LEN 16
#define META_ITEM_LEN 12

static const uint8_t footer_guid[GUID_LEN] = { /* 96b582de-1fb2-45f7-baea-a366c55a082d */
    0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45, 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};
static const uint8_t metadata_guid[GUID_LEN] = { /* dc886566-984a-4798-a75e-5585a7bf67cc */
    0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47, 0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc};
static const uint8_t reset_block_guid[GUID_LEN] = { /* 00f771de-1a7e-4fcb-890e-68c77e2fb44e */
    0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f, 0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e};
static const uint8_t hashes_table_guid[GUID_LEN] = { /* 7255371f-3a3b-4b04-927b-1da6efa8d454 */
    0x1f, 0x37, 0x55, 0x72, 0x3b, 0x3a, 0x04, 0x4b, 0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54};

/* The entries ccgate uses, found while walking the table. */
typedef struct {
    ccg_reader metadata, reset_block, hashes_table;
    int have_metadata, have_reset_block, have_hashes_table;
} footer_entries;

/* A sub-reader over data[off, off+n). */
static ccg_result reader_at(const uint8_t *data, size_t len, size_t off, size_t n, ccg_reader *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader whole;
    ccg_reader_init(&whole, data, len);
    CCG_TRY(ccg_reader_skip(&whole, off));
    CCG_TRY(ccg_reader_sub(&whole, out, n));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result keep_entry(footer_entries *e, const uint8_t guid[GUID_LEN], const ccg_reader *body)
{
    ccg_result result = CCG_FAILURE;
    struct { const uint8_t *guid; ccg_reader *dst; int *have; const char *name; } known[] = {
        {metadata_guid, &e->metadata, &e->have_metadata, "SEV metadata"},
        {reset_block_guid, &e->reset_block, &e->have_reset_block, "SEV-ES reset block"},
        {hashes_table_guid, &e->hashes_table, &e->have_hashes_table, "SEV hashes table"},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (memcmp(guid, known[i].guid, GUID_LEN) == 0) {
            /* Two entries with one GUID would make the firmware ambiguous. */
            CCG_ENSURE_MSG(!*known[i].have, CCG_R_MEASURE_OVMF_MALFORMED, "two %s entries in the footer table",
                           known[i].name);
            *known[i].dst = *body;
            *known[i].have = 1;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Walks the entries backwards from the end of the table; they must tile it exactly. */
static ccg_result walk_entries(const uint8_t *table, size_t table_len, footer_entries *e)
{
    ccg_result result = CCG_FAILURE;
    size_t end = table_len;
    while (end > 0) {
        ccg_reader hdr, body;
        uint16_t size = 0;
        const uint8_t *guid = NULL;
        CCG_ENSURE_MSG(end >= ENTRY_HEADER_LEN, CCG_R_MEASURE_OVMF_MALFORMED,
                       "%zu stray bytes at the start of the footer table", end);
        CCG_TRY(reader_at(table, table_len, end - ENTRY_HEADER_LEN, ENTRY_HEADER_LEN, &hdr));
        CCG_TRY(ccg_reader_u16le(&hdr, &size));
        CCG_TRY(ccg_reader_borrow(&hdr, &guid, GUID_LEN));
        CCG_ENSURE_MSG(size >= ENTRY_HEADER_LEN && size <= end, CCG_R_MEASURE_OVMF_MALFORMED,
                       "footer table entry size %u does not fit (%zu bytes left)", size, end);
        CCG_TRY(reader_at(table, table_len, end - size, size - ENTRY_HEADER_LEN, &body));
        CCG_TRY(keep_entry(e, guid, &body));
        end -= size;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_footer(const uint8_t *data, size_t len, footer_entries *e)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader footer, table;
    uint16_t size = 0;
    const uint8_t *guid = NULL, *table_bytes = NULL;
    CCG_ENSURE_MSG(len >= FOOTER_GAP + ENTRY_HEADER_LEN, CCG_R_MEASURE_OVMF_MALFORMED,
                   "%zu bytes is too short for an OVMF footer table", len);
    size_t footer_off = len - FOOTER_GAP - ENTRY_HEADER_LEN;
    CCG_TRY(reader_at(data, len, footer_off, ENTRY_HEADER_LEN, &footer));
    CCG_TRY(ccg_reader_u16le(&footer, &size));
    CCG_TRY(ccg_reader_borrow(&footer, &guid, GUID_LEN));
    CCG_ENSURE_MSG(memcmp(guid, footer_guid, GUID_LEN) == 0, CCG_R_MEASURE_OVMF_MALFORMED,
                   "no OVMF footer table GUID 32 bytes before the end of the image");
    CCG_ENSURE_MSG(size >= ENTRY_HEADER_LEN && (size_t)size - ENTRY_HEADER_LEN <= footer_off,
                   CCG_R_MEASURE_OVMF_MALFORMED, "footer table size %u does not fit in the image", size);
    size_t table_len = (size_t)size - ENTRY_HEADER_LEN;
    CCG_TRY(reader_at(data, len, footer_off - table_len, table_len, &table));
    CCG_TRY(ccg_reader_borrow(&table, &table_bytes, table_len));
    CCG_TRY(walk_entries(table_bytes, table_len, e));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result read_sections(ccg_reader *r, uint32_t count, ccg_snp_ovmf_info *out)
{
    ccg_result result = CCG_FAILURE;
    for (uint32_t i = 0; i < count; i++) {
        ccg_snp_ovmf_section *s = &out->sections[i];
        CCG_TRY(ccg_reader_u32le(r, &s->gpa));
        CCG_TRY(ccg_reader_u32le(r, &s->size));
        CCG_TRY(ccg_reader_u32le(r, &s->section_type));
    }
    out->section_count = count;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_metadata(const uint8_t *data, size_t len, ccg_reader *entry, ccg_snp_ovmf_info *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader hdr, items;
    uint32_t from_end = 0, size = 0, version = 0, count = 0;
    uint8_t signature[4];
    CCG_TRY(ccg_reader_u32le(entry, &from_end));
    CCG_ENSURE_MSG(from_end >= META_HEADER_LEN && from_end <= len, CCG_R_MEASURE_OVMF_MALFORMED,
                   "SEV metadata offset %u lies outside the image", from_end);
    size_t start = len - from_end;
    CCG_TRY(reader_at(data, len, start, META_HEADER_LEN, &hdr));
    CCG_TRY(ccg_reader_copy(&hdr, signature, sizeof(signature)));
    CCG_TRY(ccg_reader_u32le(&hdr, &size));
    CCG_TRY(ccg_reader_u32le(&hdr, &version));
    CCG_TRY(ccg_reader_u32le(&hdr, &count));
    CCG_ENSURE_MSG(memcmp(signature, "ASEV", 4) == 0, CCG_R_MEASURE_OVMF_MALFORMED, "SEV metadata lacks 'ASEV'");
    CCG_ENSURE_MSG(version == 1, CCG_R_MEASURE_OVMF_MALFORMED, "SEV metadata version %u is not 1", version);
    CCG_ENSURE_MSG(count <= CCG_SNP_MAX_SECTIONS, CCG_R_MEASURE_OVMF_MALFORMED,
                   "SEV metadata has %u sections (at most %d)", count, CCG_SNP_MAX_SECTIONS);
    /* The header's size covers exactly the header and the descriptors. */
    CCG_ENSURE_MSG(size == META_HEADER_LEN + META_ITEM_LEN * count, CCG_R_MEASURE_OVMF_MALFORMED,
                   "SEV metadata size %u does not match %u sections", size, count);
    CCG_TRY(reader_at(data, len, start + META_HEADER_LEN, META_ITEM_LEN * (size_t)count, &items));
    CCG_TRY(read_sections(&items, count, out));
    CCG_TRY(snp_sections_check(out->sections, out->section_count, CCG_R_MEASURE_OVMF_MALFORMED));
    out->has_metadata = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_image(const uint8_t *data, size_t len, ccg_snp_ovmf_info *out)
{
    ccg_result result = CCG_FAILURE;
    footer_entries e;
    memset(&e, 0, sizeof(e));
    CCG_TRY(parse_footer(data, len, &e));
    if (e.have_reset_block) {
        CCG_TRY(ccg_reader_u32le(&e.reset_block, &out->sev_es_reset_eip));
        out->has_reset_eip = 1;
    }
    if (e.have_hashes_table) {
        CCG_TRY(ccg_reader_u32le(&e.hashes_table, &out->sev_hashes_table_gpa));
    }
    if (e.have_metadata) {
        CCG_TRY(parse_metadata(data, len, &e.metadata, out));
    }
    /* Where the firmware reserves both, its hashes table must sit inside its kernel-hashes page. */
    if (out->sev_hashes_table_gpa != 0 &&
        snp_find_section(out->sections, out->section_count, CCG_SNP_SECTION_KERNEL_HASHES) != NULL) {
        CCG_TRY(snp_hashes_gpa_check(out->sections, out->section_count, out->sev_hashes_table_gpa,
                                     CCG_R_MEASURE_OVMF_MALFORMED));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A short read anywhere in the image is a malformed firmware; keep the reader's detail. */
static void remap_short_read(void)
{
    ccg_reason why = ccg_error_reason();
    if (why == CCG_R_INPUT_TRUNCATED || why == CCG_R_INPUT_TRAILING_BYTES) {
        char detail[sizeof(ccg_error_last()->message)];
        snprintf(detail, sizeof(detail), "%s", ccg_error_last()->message);
        ccg_error_set(CCG_R_MEASURE_OVMF_MALFORMED, __FILE__, __LINE__, "truncated OVMF: %s", detail);
    }
}

ccg_result ccg_snp_ovmf_parse(const uint8_t *data, size_t len, ccg_snp_ovmf_info *out)
{
    ccg_result result = CCG_FAILURE;
    memset(out, 0, sizeof(*out));
    if (ccg_failed(parse_image(data, len, out))) {
        remap_short_read();
        goto cleanup;
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        memset(out, 0, sizeof(*out));
    }
    return result;
}
