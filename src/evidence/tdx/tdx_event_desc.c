/* Names and short descriptions of TCG event types (TCG PC Client PFP 10.4.1, UEFI CC measurement
 * protocol). Descriptions are for operators reading a log: the event data is not measured (only its
 * digest is), so nothing here is ever a basis for a decision. Every read is bounds-checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/reader.h"
#include "ccgate/tdx_eventlog.h"
#include "ccgate/util.h"

static const struct {
    uint32_t type;
    const char *name;
} TYPES[] = {
    {0x00000000, "EV_PREBOOT_CERT"},
    {0x00000001, "EV_POST_CODE"},
    {0x00000002, "EV_UNUSED"},
    {0x00000003, "EV_NO_ACTION"},
    {0x00000004, "EV_SEPARATOR"},
    {0x00000005, "EV_ACTION"},
    {0x00000006, "EV_EVENT_TAG"},
    {0x00000007, "EV_S_CRTM_CONTENTS"},
    {0x00000008, "EV_S_CRTM_VERSION"},
    {0x00000009, "EV_CPU_MICROCODE"},
    {0x0000000a, "EV_PLATFORM_CONFIG_FLAGS"},
    {0x0000000b, "EV_TABLE_OF_DEVICES"},
    {0x0000000c, "EV_COMPACT_HASH"},
    {0x0000000d, "EV_IPL"},
    {0x0000000e, "EV_IPL_PARTITION_DATA"},
    {0x0000000f, "EV_NONHOST_CODE"},
    {0x00000010, "EV_NONHOST_CONFIG"},
    {0x00000011, "EV_NONHOST_INFO"},
    {0x00000012, "EV_OMIT_BOOT_DEVICE_EVENTS"},
    {0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG"},
    {0x80000002, "EV_EFI_VARIABLE_BOOT"},
    {0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION"},
    {0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER"},
    {0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER"},
    {0x80000006, "EV_EFI_GPT_EVENT"},
    {0x80000007, "EV_EFI_ACTION"},
    {0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB"},
    {0x80000009, "EV_EFI_HANDOFF_TABLES"},
    {0x8000000a, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"},
    {0x8000000b, "EV_EFI_HANDOFF_TABLES2"},
    {0x8000000c, "EV_EFI_VARIABLE_BOOT2"},
    {0x80000010, "EV_EFI_HCRTM_EVENT"},
    {0x800000e0, "EV_EFI_VARIABLE_AUTHORITY"},
    {0x800000e1, "EV_EFI_SPDM_FIRMWARE_BLOB"},
    {0x800000e2, "EV_EFI_SPDM_FIRMWARE_CONFIG"},
};

const char *ccg_tdx_event_type_name(uint32_t type)
{
    for (size_t i = 0; i < sizeof(TYPES) / sizeof(TYPES[0]); i++) {
        if (TYPES[i].type == type) {
            return TYPES[i].name;
        }
    }
    return NULL;
}

/* Appends printable ASCII from p (n bytes, or UTF-16LE code units when wide), stopping at a NUL;
 * anything else shows as '.'. */
static void append_text(char *out, size_t cap, const uint8_t *p, size_t n, int wide)
{
    size_t len = strlen(out);
    size_t step = wide ? 2 : 1;
    for (size_t i = 0; i + step <= n && len + 1 < cap; i += step) {
        unsigned c = wide ? (unsigned)(p[i] | (p[i + 1] << 8)) : p[i];
        if (c == 0) {
            break;
        }
        out[len++] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
    }
    out[len] = '\0';
}

/* UEFI_VARIABLE_DATA: GUID, u64 name length (UTF-16 characters), u64 data length, name, data. */
static void describe_variable(const uint8_t *p, size_t n, char *out, size_t cap)
{
    ccg_reader r;
    uint64_t name_chars = 0, data_len = 0;
    const uint8_t *name = NULL;
    ccg_reader_init(&r, p, n);
    if (ccg_failed(ccg_reader_skip(&r, 16)) || ccg_failed(ccg_reader_u64le(&r, &name_chars)) ||
        ccg_failed(ccg_reader_u64le(&r, &data_len)) || name_chars > ccg_reader_remaining(&r) / 2 ||
        ccg_failed(ccg_reader_borrow(&r, &name, (size_t)name_chars * 2))) {
        ccg_error_clear();
        return;
    }
    append_text(out, cap, name, (size_t)name_chars * 2, 1);
}

/* The media file path node (type 4, subtype 4) of an EFI device path, if any. */
static void describe_device_path(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t off = 0;
    while (off + 4 <= n) {
        uint8_t type = p[off], sub = p[off + 1];
        size_t node = (size_t)p[off + 2] | ((size_t)p[off + 3] << 8);
        if (node < 4 || node > n - off || type == 0x7f) {
            return;
        }
        if (type == 0x04 && sub == 0x04) {
            append_text(out, cap, p + off + 4, node - 4, 1);
            return;
        }
        off += node;
    }
}

/* UEFI_IMAGE_LOAD_EVENT: address, length, link-time address (uintn, read as u64), device path. */
static void describe_image(const uint8_t *p, size_t n, char *out, size_t cap)
{
    ccg_reader r;
    uint64_t addr = 0, length = 0, link = 0, path_len = 0;
    const uint8_t *path = NULL;
    ccg_reader_init(&r, p, n);
    if (ccg_failed(ccg_reader_u64le(&r, &addr)) || ccg_failed(ccg_reader_u64le(&r, &length)) ||
        ccg_failed(ccg_reader_u64le(&r, &link)) || ccg_failed(ccg_reader_u64le(&r, &path_len)) ||
        path_len > ccg_reader_remaining(&r) || ccg_failed(ccg_reader_borrow(&r, &path, (size_t)path_len))) {
        ccg_error_clear();
        return;
    }
    snprintf(out, cap, "image of %llu bytes ", (unsigned long long)length);
    describe_device_path(path, (size_t)path_len, out, cap);
    size_t len = strlen(out);
    if (len > 0 && out[len - 1] == ' ') {
        out[len - 1] = '\0';
    }
}

/* EV_EFI_PLATFORM_FIRMWARE_BLOB2 / EV_EFI_HANDOFF_TABLES2: u8 description size, description. */
static void describe_sized_text(const uint8_t *p, size_t n, char *out, size_t cap)
{
    if (n >= 1 && (size_t)p[0] <= n - 1) {
        append_text(out, cap, p + 1, p[0], 0);
    }
}

/* TCG_PCClientTaggedEvent: u32 tag, u32 size, data (Linux's EFI stub tags its initrd and load options). */
static void describe_tagged(const uint8_t *p, size_t n, char *out, size_t cap)
{
    ccg_reader r;
    uint32_t tag = 0, size = 0;
    const uint8_t *data = NULL;
    ccg_reader_init(&r, p, n);
    if (ccg_failed(ccg_reader_u32le(&r, &tag)) || ccg_failed(ccg_reader_u32le(&r, &size)) ||
        ccg_failed(ccg_reader_borrow(&r, &data, size))) {
        ccg_error_clear();
        return;
    }
    snprintf(out, cap, "tag 0x%08x: ", tag);
    append_text(out, cap, data, size, size >= 2 && data[1] == 0);
}

/* Text events: ASCII, or UTF-16LE when every other byte of the first characters is zero. */
static void describe_text(const uint8_t *p, size_t n, char *out, size_t cap)
{
    int wide = n >= 4 && p[0] != 0 && p[1] == 0 && p[2] != 0 && p[3] == 0;
    append_text(out, cap, p, n, wide);
}

void ccg_tdx_event_describe(const ccg_tdx_event *ev, char *out, size_t out_len)
{
    const uint8_t *p = ev->data;
    size_t n = ev->data_len;
    if (out_len == 0) {
        return;
    }
    out[0] = '\0';
    switch (ev->type) {
    case 0x00000003: /* EV_NO_ACTION: a signature-led structure, e.g. "StartupLocality" */
    case 0x00000001: /* EV_POST_CODE */
    case 0x00000005: /* EV_ACTION */
    case 0x00000008: /* EV_S_CRTM_VERSION */
    case 0x0000000a: /* EV_PLATFORM_CONFIG_FLAGS */
    case 0x0000000c: /* EV_COMPACT_HASH */
    case 0x0000000d: /* EV_IPL: GRUB commands, the kernel command line, file names */
    case 0x80000007: /* EV_EFI_ACTION */
        describe_text(p, n, out, out_len);
        break;
    case 0x00000004: /* EV_SEPARATOR: 0 normally, 1 or 0xFFFFFFFF on an error */
        snprintf(out, out_len, "separator%s", n == 4 && p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0 ? "" : " (error)");
        break;
    case 0x00000006:
        describe_tagged(p, n, out, out_len);
        break;
    case 0x80000001:
    case 0x80000002:
    case 0x8000000c:
    case 0x800000e0:
        describe_variable(p, n, out, out_len);
        break;
    case 0x80000003:
    case 0x80000004:
    case 0x80000005:
        describe_image(p, n, out, out_len);
        break;
    case 0x80000006:
        snprintf(out, out_len, "GPT header and partition entries");
        break;
    case 0x8000000a:
    case 0x8000000b:
        describe_sized_text(p, n, out, out_len);
        break;
    default:
        break;
    }
}

json_t *ccg_tdx_event_json(const ccg_tdx_event *ev, size_t seq)
{
    char digest[97], desc[128];
    const char *name = ccg_tdx_event_type_name(ev->type);
    ccg_hex_encode(ev->digest, 48, digest);
    ccg_tdx_event_describe(ev, desc, sizeof(desc));
    json_t *o = json_pack("{s:I, s:I, s:I, s:s, s:s, s:b}", "seq", (json_int_t)seq, "mr_index",
                          (json_int_t)ev->mr_index, "type", (json_int_t)ev->type, "digest", digest, "description",
                          desc, "runtime", ev->runtime);
    if (o != NULL) {
        json_object_set_new(o, "rtmr", ev->mr_index == 0 ? json_null() : json_integer(ev->mr_index - 1));
        json_object_set_new(o, "type_name", name != NULL ? json_string(name) : json_null());
    }
    return o;
}
