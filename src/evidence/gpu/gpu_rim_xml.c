/* The RIM's XML: library set-up and a bounded, network-free, DTD-free parse. */
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <pthread.h>
#include <string.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/errors.h>

#include "gpu_xmlsec.h"

#include "gpu_rim_internal.h"

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static int lib_ok;

/* No external entity, DTD or stylesheet is ever loaded from anywhere. */
static xmlParserInputPtr refuse_external(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    return NULL;
}

/* xmlsec reports failures through our reason codes; its own printing would only be noise. */
static void quiet_xmlsec(const char *file, int line, const char *func, const char *object, const char *subject,
                         int reason, const char *msg)
{
}

/* libxml2 reports C14N and other errors on stderr; the reason codes say what failed. */
static void quiet_libxml(void *ctx, const char *msg, ...)
{
}

static void quiet_libxml_structured(void *ctx, xmlErrorPtr error)
{
}

static void lib_init(void)
{
    xmlInitParser();
    xmlThrDefSetGenericErrorFunc(NULL, quiet_libxml);
    xmlThrDefSetStructuredErrorFunc(NULL, quiet_libxml_structured);
    xmlSetExternalEntityLoader(refuse_external);
    if (xmlSecInit() < 0 || xmlSecCheckVersion() != 1 || xmlSecOpenSSLInit() < 0) {
        return;
    }
    xmlSecErrorsSetCallback(quiet_xmlsec);
    lib_ok = 1;
}

ccg_result gpu_rim_lib_init(void)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE(pthread_once(&lib_once, lib_init) == 0, CCG_R_INTERNAL_ERROR);
    CCG_ENSURE_MSG(lib_ok, CCG_R_INTERNAL_CRYPTO, "xmlsec (OpenSSL back end) failed to initialise");
    /* libxml2's error handlers are per thread: quiet this one too. */
    xmlSetGenericErrorFunc(NULL, quiet_libxml);
    xmlSetStructuredErrorFunc(NULL, quiet_libxml_structured);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

int gpu_rim_is_element(const xmlNode *node, const char *name, const char *ns)
{
    return node != NULL && node->type == XML_ELEMENT_NODE && node->ns != NULL && node->ns->href != NULL &&
           strcmp((const char *)node->name, name) == 0 && strcmp((const char *)node->ns->href, ns) == 0;
}

/* SAX internalSubset: a DOCTYPE stops the parse before any declaration in it is read. */
static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;
    *(int *)ctxt->_private = 1;
    xmlStopParser(ctxt);
}

ccg_result gpu_rim_xml_parse(const uint8_t *xml, size_t len, xmlDocPtr *out)
{
    ccg_result result = CCG_FAILURE;
    xmlParserCtxtPtr ctxt = NULL;
    xmlDocPtr doc = NULL;
    int saw_doctype = 0;
    *out = NULL;
    CCG_ENSURE_MSG(len <= CCG_GPU_RIM_MAX_BYTES, CCG_R_GPU_RIM_TOO_LARGE, "the RIM has %zu bytes; at most %u are read",
                   len, CCG_GPU_RIM_MAX_BYTES);
    CCG_ENSURE_MSG(len > 0, CCG_R_GPU_RIM_MALFORMED, "the RIM is empty");
    CCG_TRY(gpu_rim_lib_init());
    ctxt = xmlNewParserCtxt();
    CCG_ENSURE_ALLOC(ctxt);
    ctxt->_private = &saw_doctype;
    ctxt->sax->internalSubset = refuse_doctype;
    /* Deliberately absent: XML_PARSE_NOENT, DTDLOAD, DTDATTR, XINCLUDE and HUGE. */
    doc = xmlCtxtReadMemory(ctxt, (const char *)xml, (int)len, NULL, NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    CCG_ENSURE_MSG(!saw_doctype, CCG_R_GPU_RIM_MALFORMED, "the RIM has a DOCTYPE; DTDs are refused");
    CCG_ENSURE_MSG(doc != NULL && ctxt->wellFormed && ctxt->nsWellFormed, CCG_R_GPU_RIM_MALFORMED,
                   "the RIM is not well-formed, namespace-correct XML (line %d)",
                   ctxt->input != NULL ? ctxt->input->line : 0);
    CCG_ENSURE_MSG(doc->intSubset == NULL && doc->extSubset == NULL, CCG_R_GPU_RIM_MALFORMED,
                   "the RIM carries a DTD subset; DTDs are refused");
    *out = doc;
    doc = NULL;
    result = CCG_SUCCESS;
cleanup:
    xmlFreeDoc(doc);
    if (ctxt != NULL) {
        ctxt->_private = NULL;
        xmlFreeParserCtxt(ctxt);
    }
    return result;
}

/* Counts ds:Signature elements anywhere below node (iteratively: depth is attacker-chosen). */
static size_t count_signatures(xmlNodePtr top)
{
    size_t n = 0;
    xmlNodePtr node = top;
    while (node != NULL) {
        if (gpu_rim_is_element(node, "Signature", GPU_RIM_NS_DSIG)) {
            n++;
        }
        if (node->type == XML_ELEMENT_NODE && node->children != NULL) {
            node = node->children;
            continue;
        }
        while (node != NULL && node != top && node->next == NULL) {
            node = node->parent;
        }
        if (node == NULL || node == top) {
            break;
        }
        node = node->next;
    }
    return n;
}

ccg_result gpu_rim_signature_node(xmlDocPtr doc, xmlNodePtr *out)
{
    ccg_result result = CCG_FAILURE;
    xmlNodePtr root = xmlDocGetRootElement(doc);
    xmlNodePtr sig = NULL;
    CCG_ENSURE_MSG(root != NULL, CCG_R_GPU_RIM_MALFORMED, "the RIM has no root element");
    for (xmlNodePtr c = root->children; c != NULL; c = c->next) {
        if (gpu_rim_is_element(c, "Signature", GPU_RIM_NS_DSIG)) {
            sig = c;
            break;
        }
    }
    size_t n = count_signatures(root);
    CCG_ENSURE_MSG(n > 0, CCG_R_GPU_RIM_SIGNATURE_UNSUPPORTED, "the RIM is not signed (no ds:Signature)");
    CCG_ENSURE_MSG(n == 1 && sig != NULL, CCG_R_GPU_RIM_SIGNATURE_UNSUPPORTED,
                   "the RIM must carry exactly one ds:Signature, a child of its root element (found %zu)", n);
    *out = sig;
    result = CCG_SUCCESS;
cleanup:
    return result;
}
