/* The FWID in a GPU leaf (the "GSP FMC LF" alias certificate): the SHA-384 digest of the firmware the
 * certified key belongs to. Two encodings exist:
 *   Hopper:    extension 2.23.133.5.4.1, a SEQUENCE whose last element is SEQUENCE {hashAlg, digest};
 *   Blackwell: extension 2.23.133.5.4.1.1, a TCG DICE TcbInfo SEQUENCE of [n] IMPLICIT fields, where
 *              fwids [6] is a SEQUENCE OF FWID ::= SEQUENCE {hashAlg, digest}; the first FWID counts.
 * Both are walked with OpenSSL's DER reader (ASN1_get_object); definite lengths only, and the digest
 * must be SHA-384 and 48 bytes. */
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <string.h>

#include "gpu_internal.h"

#define OID_FWID_HOPPER "2.23.133.5.4.1"
#define OID_FWID_DICE "2.23.133.5.4.1.1"
#define DICE_TAG_FWIDS 6

typedef struct {
    const unsigned char *body; /* the content octets */
    long len;
    int tag;
    int xclass;
    int constructed;
} der_tlv;

/* Reads one TLV at *p (not past end) and moves *p past it. */
static int der_next(const unsigned char **p, const unsigned char *end, der_tlv *t)
{
    const unsigned char *q = *p;
    long max = end - q;
    if (max <= 0) {
        return 0;
    }
    int ret = ASN1_get_object(&q, &t->len, &t->tag, &t->xclass, max);
    /* 0x80: an error; 0x21: constructed with an indefinite length, which DER forbids. */
    if ((ret & 0x80) != 0 || ret == 0x21 || t->len < 0 || t->len > end - q) {
        return 0;
    }
    t->constructed = (ret & V_ASN1_CONSTRUCTED) != 0;
    t->body = q;
    *p = q + t->len;
    return 1;
}

/* FWID ::= SEQUENCE { hashAlg OBJECT IDENTIFIER (sha384), digest OCTET STRING (48) }, filling it exactly. */
static int read_fwid(const der_tlv *seq, uint8_t fwid[CCG_GPU_FWID_SIZE])
{
    const unsigned char *p = seq->body, *end = seq->body + seq->len;
    const ASN1_OBJECT *sha384 = OBJ_nid2obj(NID_sha384);
    der_tlv oid, digest;
    if (seq->xclass != V_ASN1_UNIVERSAL || seq->tag != V_ASN1_SEQUENCE || !seq->constructed) {
        return 0;
    }
    if (!der_next(&p, end, &oid) || oid.xclass != V_ASN1_UNIVERSAL || oid.tag != V_ASN1_OBJECT || oid.constructed ||
        !der_next(&p, end, &digest) || digest.xclass != V_ASN1_UNIVERSAL || digest.tag != V_ASN1_OCTET_STRING ||
        digest.constructed || p != end || digest.len != CCG_GPU_FWID_SIZE) {
        return 0;
    }
    /* The OID's content octets against sha384's. */
    if (sha384 == NULL || oid.len != (long)OBJ_length(sha384) ||
        memcmp(oid.body, OBJ_get0_data(sha384), (size_t)oid.len) != 0) {
        return 0;
    }
    memcpy(fwid, digest.body, CCG_GPU_FWID_SIZE);
    return 1;
}

static int fwid_hopper(const unsigned char *data, long len, uint8_t fwid[CCG_GPU_FWID_SIZE])
{
    const unsigned char *p = data, *end = data + len;
    der_tlv outer, el, last = {0};
    int have_last = 0;
    if (!der_next(&p, end, &outer) || p != end || outer.tag != V_ASN1_SEQUENCE || !outer.constructed) {
        return 0;
    }
    p = outer.body;
    end = outer.body + outer.len;
    while (p < end) {
        if (!der_next(&p, end, &el)) {
            return 0;
        }
        last = el;
        have_last = 1;
    }
    return have_last && read_fwid(&last, fwid);
}

static int fwid_dice(const unsigned char *data, long len, uint8_t fwid[CCG_GPU_FWID_SIZE])
{
    const unsigned char *p = data, *end = data + len;
    der_tlv outer, el, first;
    if (!der_next(&p, end, &outer) || p != end || outer.tag != V_ASN1_SEQUENCE || !outer.constructed) {
        return 0;
    }
    p = outer.body;
    end = outer.body + outer.len;
    while (p < end) {
        if (!der_next(&p, end, &el)) {
            return 0;
        }
        if (el.xclass == V_ASN1_CONTEXT_SPECIFIC && el.tag == DICE_TAG_FWIDS) {
            const unsigned char *q = el.body;
            return el.constructed && der_next(&q, el.body + el.len, &first) && read_fwid(&first, fwid);
        }
    }
    return 0;
}

/* The extension's data, NULL when absent. *dup is set when the OID appears more than once, which would
 * make the FWID ambiguous. */
static ASN1_OCTET_STRING *extension_data(X509 *leaf, const char *oid_text, int *dup)
{
    ASN1_OBJECT *oid = OBJ_txt2obj(oid_text, 1);
    int loc = oid != NULL ? X509_get_ext_by_OBJ(leaf, oid, -1) : -1;
    if (loc >= 0 && X509_get_ext_by_OBJ(leaf, oid, loc) >= 0) {
        *dup = 1;
    }
    ASN1_OBJECT_free(oid);
    return loc >= 0 ? X509_EXTENSION_get_data(X509_get_ext(leaf, loc)) : NULL;
}

int gpu_leaf_fwid(X509 *leaf, uint8_t fwid[CCG_GPU_FWID_SIZE])
{
    int dup = 0;
    ASN1_OCTET_STRING *dice = extension_data(leaf, OID_FWID_DICE, &dup);
    ASN1_OCTET_STRING *hopper = extension_data(leaf, OID_FWID_HOPPER, &dup);
    if (dup) {
        return 0;
    }
    if (dice != NULL) {
        return fwid_dice(ASN1_STRING_get0_data(dice), ASN1_STRING_length(dice), fwid);
    }
    if (hopper != NULL) {
        return fwid_hopper(ASN1_STRING_get0_data(hopper), ASN1_STRING_length(hopper), fwid);
    }
    return 0;
}
