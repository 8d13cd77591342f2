/* xmlsec's OpenSSL back-end headers under ccgate's OPENSSL_NO_DEPRECATED build: they still name the
 * legacy key types (RSA, DSA, EC_KEY) in prototypes ccgate never calls, which OpenSSL 3 hides then.
 * Declaring the incomplete types again is enough (C11 allows an identical typedef twice). */
#ifndef CCGATE_GPU_XMLSEC_H
#define CCGATE_GPU_XMLSEC_H

#include <openssl/types.h>

#ifdef OPENSSL_NO_DEPRECATED_3_0
typedef struct rsa_st RSA;
typedef struct dsa_st DSA;
typedef struct ec_key_st EC_KEY;
#endif

#include <xmlsec/xmlsec.h>
#include <xmlsec/openssl/crypto.h>
#include <xmlsec/openssl/evp.h>

#endif
