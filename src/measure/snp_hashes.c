/* The SEV hashes table: SHA-256 of the cmdline, initrd and kernel that QEMU writes into the OVMF's
 * kernel-hashes page for measured direct boot. OVMF checks the loaded files against it, so measuring
 * this page measures the kernel, initrd and cmdline. The layout must be byte-identical to QEMU's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "snp_internal.h"

#define GUID_LEN 16
#define ENTRY_LEN (GUID_LEN + 2 + 32)          /* 50 */
#define TABLE_LEN (GUID_LEN + 2 + 3 * ENTRY_LEN) /* 168, padded to 176 */
#define FILE_CHUNK (1u << 20)

/* GUIDs in their little-endian (EFI) byte order. */
static const uint8_t table_guid[GUID_LEN] = { /* 9438d606-4f22-4cc9-b479-a793d411fd21 */
    0x06, 0xd6, 0x38, 0x94, 0x22, 0x4f, 0xc9, 0x4c, 0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21};
static const uint8_t cmdline_guid[GUID_LEN] = { /* 97d02dd8-bd20-4c94-aa78-e7714d36ab2a */
    0xd8, 0x2d, 0xd0, 0x97, 0x20, 0xbd, 0x94, 0x4c, 0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab, 0x2a};
static const uint8_t initrd_guid[GUID_LEN] = { /* 44baf731-3a2f-4bd7-9af1-41e29169781d */
    0x31, 0xf7, 0xba, 0x44, 0x2f, 0x3a, 0xd7, 0x4b, 0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d};
static const uint8_t kernel_guid[GUID_LEN] = { /* 4de79437-abd2-427f-b835-d5b172d2045b */
    0x37, 0x94, 0xe7, 0x4d, 0xd2, 0xab, 0x7f, 0x42, 0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b};

ccg_result snp_sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
    ccg_result result = CCG_FAILURE;
    unsigned int n = 0;
    CCG_ENSURE_OSSL(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == 32, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static uint8_t *put_entry(uint8_t *p, const uint8_t guid[GUID_LEN], const uint8_t hash[32])
{
    memcpy(p, guid, GUID_LEN);
    p[GUID_LEN] = ENTRY_LEN & 0xff;
    p[GUID_LEN + 1] = ENTRY_LEN >> 8;
    memcpy(p + GUID_LEN + 2, hash, 32);
    return p + ENTRY_LEN;
}

ccg_result snp_hashes_page(const ccg_snp_launch_inputs *in, uint32_t offset_in_page, uint8_t page[CCG_SNP_PAGE_SIZE])
{
    ccg_result result = CCG_FAILURE;
    const char *cmdline = in->cmdline != NULL ? in->cmdline : "";
    uint8_t cmdline_hash[32];
    CCG_ENSURE(offset_in_page + SNP_HASHES_TABLE_SIZE <= CCG_SNP_PAGE_SIZE, CCG_R_INTERNAL_ERROR);
    /* The kernel sees the cmdline with its terminating NUL, and so does the hash. */
    CCG_TRY(snp_sha256((const uint8_t *)cmdline, strlen(cmdline) + 1, cmdline_hash));
    memset(page, 0, CCG_SNP_PAGE_SIZE);
    uint8_t *p = page + offset_in_page;
    memcpy(p, table_guid, GUID_LEN);
    p[GUID_LEN] = TABLE_LEN & 0xff;
    p[GUID_LEN + 1] = TABLE_LEN >> 8;
    p = put_entry(p + GUID_LEN + 2, cmdline_guid, cmdline_hash);
    p = put_entry(p, initrd_guid, in->initrd_hash);
    (void)put_entry(p, kernel_guid, in->kernel_hash);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_sha256_file(const char *path, uint8_t out[32])
{
    ccg_result result = CCG_FAILURE;
    FILE *f = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t *buf = malloc(FILE_CHUNK);
    unsigned int n = 0;
    CCG_ENSURE_ALLOC(ctx);
    CCG_ENSURE_ALLOC(buf);
    f = fopen(path, "rb");
    CCG_ENSURE_MSG(f != NULL, CCG_R_IO_READ_FAILED, "cannot open %s: %s", path, strerror(errno));
    CCG_ENSURE_OSSL(EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    for (;;) {
        size_t got = fread(buf, 1, FILE_CHUNK, f);
        CCG_ENSURE_OSSL(EVP_DigestUpdate(ctx, buf, got) == 1, CCG_R_INTERNAL_CRYPTO);
        if (got < FILE_CHUNK) {
            CCG_ENSURE_MSG(!ferror(f), CCG_R_IO_READ_FAILED, "cannot read %s", path);
            break;
        }
    }
    CCG_ENSURE_OSSL(EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 32, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    if (f != NULL) {
        fclose(f);
    }
    free(buf);
    EVP_MD_CTX_free(ctx);
    return result;
}
