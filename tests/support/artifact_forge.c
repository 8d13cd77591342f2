/* ccg-artifact-forge: what a holder of the model key who is NOT the provider can do to a sealed artifact.
 * TESTS ONLY (tests/cli/test_artifact_attacks.sh drives `ccgate unseal` on its output).
 *
 *   ccg-artifact-forge --in A --out B --key-file KEY --chunk I [--xor N] [--sealed-final 0|1]
 *                      [--framing-final 0|1]
 *
 * Decrypts chunk I of A with the model key, XORs its first plaintext byte with N (default 0: unchanged),
 * and seals it again at position I under A's signed header, so GCM accepts it. --sealed-final seals it
 * as if it were (1) or were not (0) the last chunk (default: the truth); --framing-final writes that flag
 * in the clear framing (default: the sealed one). The header and its signature are left alone: a key
 * holder cannot re-sign them. Exit status 0 when B was written. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/artifact/artifact_internal.h"
#include "ccgate/secmem.h"
#include "ccgate/util.h"

typedef struct {
    const char *in, *out, *key_file;
    uint64_t chunk;
    int xor_byte;
    int sealed_final, framing_final; /* -1: the truth */
} forge_opts;

static int usage(void)
{
    fprintf(stderr, "usage: ccg-artifact-forge --in A --out B --key-file KEY --chunk I [--xor N] "
                    "[--sealed-final 0|1] [--framing-final 0|1]\n");
    return 2;
}

static int parse(int argc, char **argv, forge_opts *o)
{
    static const struct option longs[] = {
        {"in", required_argument, 0, 'i'},           {"out", required_argument, 0, 'o'},
        {"key-file", required_argument, 0, 'k'},     {"chunk", required_argument, 0, 'c'},
        {"xor", required_argument, 0, 'x'},          {"sealed-final", required_argument, 0, 's'},
        {"framing-final", required_argument, 0, 'f'}, {0, 0, 0, 0}};
    int c;
    memset(o, 0, sizeof(*o));
    o->sealed_final = o->framing_final = -1;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'i': o->in = optarg; break;
        case 'o': o->out = optarg; break;
        case 'k': o->key_file = optarg; break;
        case 'c': o->chunk = strtoull(optarg, NULL, 10); break;
        case 'x': o->xor_byte = (int)strtol(optarg, NULL, 0) & 0xff; break;
        case 's': o->sealed_final = atoi(optarg) != 0; break;
        case 'f': o->framing_final = atoi(optarg) != 0; break;
        default: return -1;
        }
    }
    return o->in && o->out && o->key_file ? 0 : -1;
}

static ccg_result forge(const forge_opts *o)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *d = NULL, *key = NULL, *pt = NULL;
    size_t len = 0, key_len = 0;
    ccg_artifact_header h, as_sealed;
    art_keys k = {0};
    art_chunk_ctx c = {0};
    CCG_TRY(ccg_file_read(o->in, 1u << 30, &d, &len));
    CCG_TRY(ccg_file_read(o->key_file, 64, &key, &key_len));
    CCG_TRY(ccg_artifact_parse_header(d, len, &h));
    CCG_ENSURE_MSG(o->chunk < h.chunk_count && h.total_len == len, CCG_R_USAGE_INVALID, "no chunk %llu",
                   (unsigned long long)o->chunk);
    CCG_TRY(art_derive_keys(key, key_len, &h, &k));
    CCG_TRY(art_chunk_ctx_init(&c));
    uint8_t *rec = d + art_record_offset(&h, o->chunk);
    size_t n = (size_t)art_chunk_len(&h, o->chunk);
    pt = malloc(n + 1);
    CCG_ENSURE_ALLOC(pt);
    CCG_TRY(art_chunk_open(&c, &k, &h, o->chunk, rec, rec + ART_PREFIX_LEN, n, rec + ART_PREFIX_LEN + n, pt, NULL));
    if (n > 0) {
        pt[0] ^= (uint8_t)o->xor_byte;
    }
    /* The final flag follows from chunk_count: a copy of the header says what this chunk is sealed as. */
    as_sealed = h;
    int truth = o->chunk + 1 == h.chunk_count;
    int sealed = o->sealed_final < 0 ? truth : o->sealed_final;
    int framing = o->framing_final < 0 ? sealed : o->framing_final;
    as_sealed.chunk_count = sealed ? o->chunk + 1 : o->chunk + 2;
    CCG_TRY(art_chunk_seal(&c, &k, &as_sealed, o->chunk, pt, n, rec + ART_PREFIX_LEN, rec + ART_PREFIX_LEN + n));
    art_chunk_prefix(&as_sealed, o->chunk, rec);
    rec[ART_ARTIFACT_TAG_LEN + 8] = framing ? ART_FLAG_FINAL : 0;
    CCG_TRY(ccg_file_write(o->out, d, len));
    result = CCG_SUCCESS;
cleanup:
    art_chunk_ctx_free(&c);
    ccg_secure_zero(&k, sizeof(k));
    if (key != NULL) {
        ccg_secure_zero(key, key_len);
    }
    free(pt);
    free(key);
    free(d);
    return result;
}

int main(int argc, char **argv)
{
    forge_opts o;
    if (parse(argc, argv, &o) != 0) {
        return usage();
    }
    if (ccg_failed(forge(&o))) {
        fprintf(stderr, "ccg-artifact-forge: %s: %s\n", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
        return 1;
    }
    return 0;
}
