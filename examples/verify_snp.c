/* Verifies an AMD SEV-SNP attestation report with libccgate, using only its public headers:
 *   cc verify_snp.c $(pkg-config --cflags --libs ccgate) -o verify_snp
 *   ./verify_snp report.bin certs.pem [RFC 3339 time]   (certs.pem: the VCEK and the ASK, PEM)
 * Prints "allow", or "deny" and each reason code; exits 0 on allow, 1 on deny, 2 on bad input. */
#include <stdio.h>
#include <ccgate/snp_verify.h>

static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap, f) : 0;
    if (f) fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    static uint8_t report[4096], certs[65536];
    /* No signed TCB baseline here, so this policy opts out of requiring one (docs/snp-policy.md). */
    static const char policy_json[] = "{\"policy_id\":\"example\",\"version\":1,\"tcb\":{\"require_baseline\":false}}";
    ccg_snp_verifier *v = NULL;
    ccg_snp_policy *policy = NULL;
    ccg_snp_collateral col;
    ccg_decision d;
    ccg_time now = ccg_time_now();
    if (argc < 3 || (argc > 3 && ccg_failed(ccg_time_parse_rfc3339(argv[3], &now)))) return 2;
    size_t rlen = slurp(argv[1], report, sizeof report), clen = slurp(argv[2], certs, sizeof certs);
    if (ccg_failed(ccg_snp_collateral_init(&col))) return 2;
    if (ccg_failed(ccg_snp_collateral_add_certs(&col, certs, clen)) || ccg_failed(ccg_snp_verifier_new(&v)) ||
        ccg_failed(ccg_snp_policy_parse(policy_json, sizeof policy_json - 1, &policy))) return 2;
    int bad_input = ccg_failed(ccg_snp_verify(v, report, rlen, &col, policy, now, &d));
    printf("%s\n", d.allow ? "allow" : "deny");
    for (size_t i = 0; i < d.reasons.count; i++) printf("  %s\n", ccg_reason_code(d.reasons.items[i].reason));
    int rc = d.allow ? 0 : bad_input ? 2 : 1;
    ccg_decision_free(&d);
    ccg_snp_policy_free(policy);
    ccg_snp_verifier_free(v);
    ccg_snp_collateral_free(&col);
    return rc;
}
