/* The TD's fields as claims: every binary field as lowercase hex of its bytes in quote order, and
 * TDATTRIBUTES also decoded into the names of the bits it sets. */
#include <stdio.h>
#include <stdlib.h>

#include "ccgate/util.h"
#include "tdx_internal.h"

/* Hex is ASCII: no UTF-8 check and no temporary allocation needed (this runs on every verification). */
static void put_hex(json_t *o, const char *key, const uint8_t *p, size_t n)
{
    char hex[2 * 64 + 1];
    if (n > 64) {
        json_object_set_new(o, key, json_null());
        return;
    }
    ccg_hex_encode(p, n, hex);
    json_object_set_new(o, key, json_stringn_nocheck(hex, 2 * n));
}

static void put_u64_wire(json_t *o, const char *key, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    put_hex(o, key, b, 8);
}

static json_t *attribute_names(uint64_t attrs)
{
    static const struct {
        uint64_t bit;
        const char *name;
    } BITS[] = {
        {CCG_TDX_ATTR_DEBUG, "DEBUG"},         {CCG_TDX_ATTR_HGS_PLUS_PROF, "HGS_PLUS_PROF"},
        {CCG_TDX_ATTR_PERF_PROF, "PERF_PROF"}, {CCG_TDX_ATTR_PMT_PROF, "PMT_PROF"},
        {CCG_TDX_ATTR_ICSSD, "ICSSD"},         {CCG_TDX_ATTR_LASS, "LASS"},
        {CCG_TDX_ATTR_SEPT_VE_DISABLE, "SEPT_VE_DISABLE"}, {CCG_TDX_ATTR_MIGRATABLE, "MIGRATABLE"},
        {CCG_TDX_ATTR_PKS, "PKS"},             {CCG_TDX_ATTR_KL, "KL"},
        {CCG_TDX_ATTR_TPA, "TPA"},             {CCG_TDX_ATTR_PERFMON, "PERFMON"},
    };
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < sizeof(BITS) / sizeof(BITS[0]); i++) {
        if (attrs & BITS[i].bit) {
            json_array_append_new(arr, json_string(BITS[i].name));
        }
    }
    return arr;
}

json_t *tdx_td_claims(const ccg_tdx_quote *q)
{
    const ccg_tdx_td_report *td = &q->td;
    json_t *o = json_object();
    char name[8];
    if (o == NULL) {
        return NULL;
    }
    json_object_set_new(o, "body", json_string(td->is_td15 ? "td_report_1.5" : "td_report_1.0"));
    put_hex(o, "tee_tcb_svn", td->tee_tcb_svn, 16);
    put_hex(o, "mrseam", td->mrseam, 48);
    put_hex(o, "mrsignerseam", td->mrsignerseam, 48);
    put_hex(o, "seam_attributes", td->seam_attributes, 8);
    put_u64_wire(o, "td_attributes", td->td_attributes);
    json_object_set_new(o, "td_attributes_flags", attribute_names(td->td_attributes));
    put_u64_wire(o, "td_attributes_reserved", td->td_attributes & ~CCG_TDX_ATTR_DEFINED);
    json_object_set_new(o, "debug", json_boolean((td->td_attributes & CCG_TDX_ATTR_DEBUG) != 0));
    put_u64_wire(o, "xfam", td->xfam);
    put_hex(o, "mrtd", td->mrtd, 48);
    put_hex(o, "mrconfigid", td->mrconfigid, 48);
    put_hex(o, "mrowner", td->mrowner, 48);
    put_hex(o, "mrownerconfig", td->mrownerconfig, 48);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "rtmr%d", i);
        put_hex(o, name, td->rtmr[i], 48);
    }
    put_hex(o, "report_data", td->report_data, 64);
    if (td->is_td15) {
        put_hex(o, "tee_tcb_svn2", td->tee_tcb_svn2, 16);
        put_hex(o, "mrservicetd", td->mrservicetd, 48);
    }
    return o;
}
