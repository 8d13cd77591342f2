/* The RIM front end's stages (internal to src/evidence/gpu/gpu_rim*.c). */
#ifndef CCGATE_GPU_RIM_INTERNAL_H
#define CCGATE_GPU_RIM_INTERNAL_H

#include <libxml/tree.h>
#include <openssl/x509.h>

#include "ccgate/gpu_rim.h"

#define GPU_RIM_NS_SWID "http://standards.iso.org/iso/19770/-2/2015/schema.xsd"
#define GPU_RIM_NS_DSIG "http://www.w3.org/2000/09/xmldsig#"

/* libxml2 and xmlsec (OpenSSL back end) initialised once per process; xmlsec's error printing off. */
CCG_MUST_CHECK ccg_result gpu_rim_lib_init(void);

/* Parses at most CCG_GPU_RIM_MAX_BYTES with no network, no DTD (any DOCTYPE is refused before its
 * entities are read), no entity substitution and no XInclude. */
CCG_MUST_CHECK ccg_result gpu_rim_xml_parse(const uint8_t *xml, size_t len, xmlDocPtr *out);

/* The one ds:Signature of the document, a child of the root element (enveloped). */
CCG_MUST_CHECK ccg_result gpu_rim_signature_node(xmlDocPtr doc, xmlNodePtr *out);

/* The certificates of Signature/KeyInfo/X509Data, the first being the signer, chained with OpenSSL to
 * root alone at `now`. *chain: signer .. root. */
CCG_MUST_CHECK ccg_result gpu_rim_chain_verify(xmlNodePtr signature, X509 *root, ccg_time now,
                                               STACK_OF(X509) **chain);

/* The XML signature, verified by xmlsec with the signer's public key only. */
CCG_MUST_CHECK ccg_result gpu_rim_signature_verify(xmlNodePtr signature, X509 *signer);

/* SoftwareIdentity, Meta and Payload/Resource into out (strings, resources). */
CCG_MUST_CHECK ccg_result gpu_rim_swid_parse(xmlDocPtr doc, ccg_gpu_rim *out);

/* 1 when the element has this local name and namespace URI. */
int gpu_rim_is_element(const xmlNode *node, const char *name, const char *ns);

#endif
