/* ccgate: the command-line tool for every persona. Subcommands live in their own files. */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "ccgate/version.h"
#include "cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ccgate <command> [options]\n"
            "\n"
            "commands:\n"
            "  verify snp   verify an AMD SEV-SNP attestation report against collateral and a policy\n"
            "  verify gpu   verify NVIDIA GPU evidence (SPDM report, device chain) at a given time\n"
            "  verify tdx   verify an Intel TDX quote against Intel's collateral and a TDX policy\n"
            "  kds          fetch SEV-SNP collateral from AMD KDS into a local cache\n"
            "  emulate snp  write a report from the software SNP firmware (test root; demos and tests only)\n"
            "  emulate gpu  write evidence and RIMs from the software GPU (test roots; demos and tests only)\n"
            "  emulate tdx  write a quote and collateral from the software TD (test root; demos and tests only)\n"
            "  measure snp  compute an SEV-SNP launch measurement from OVMF, kernel and vCPU inputs\n"
            "  refval       create, sign, bundle and verify signed reference values\n"
            "  tcb-baseline create, sign and verify the authority's signed SEV-SNP TCB baselines\n"
            "  audit        verify, list or anchor the key broker's hash-chained audit log\n"
            "  kbs          the key broker's admin API per persona (keys, policies, refvals, audit, tokens)\n"
            "  reasons      list the reason-code registry (--json, --markdown)\n"
            "  channel      the attested secure channel: serve (emulated evidence) and send\n"
            "  client       ask an attested inference endpoint, or proxy OpenAI-compatible requests to it\n"
            "  seal         seal a model into a signed, chunked AES-256-GCM artifact (providers)\n"
            "  unseal       check and decrypt a sealed artifact to a file (providers checking their own)\n"
            "  artifact     inspect a sealed artifact's header (JSON) or compute a model's digest\n"
            "  model        generate, run (greedy, the endpoint's reference) or inspect the runner's model\n"
            "\n"
            "Run 'ccgate <command> --help' for a command's options.\n"
            "Exit status: 0 allow or success, 1 deny, 2 bad usage or bad input.\n");
}

/* ccgate never needs a core dump, and one could hold evidence or keys. */
static void harden_process(void)
{
    struct rlimit no_core = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &no_core);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int main(int argc, char **argv)
{
    harden_process();
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        ccg_version_print(stdout, "ccgate");
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "reasons") == 0) {
        return cmd_reasons(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "verify") == 0) {
        return cmd_verify(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "kds") == 0) {
        return cmd_kds(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "emulate") == 0) {
        return cmd_emulate(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "measure") == 0) {
        return cmd_measure(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "refval") == 0) {
        return cmd_refval(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "tcb-baseline") == 0) {
        return cmd_tcb_baseline(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "audit") == 0) {
        return cmd_audit(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "kbs") == 0) {
        return cmd_kbs(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "channel") == 0) {
        return cmd_channel(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "seal") == 0) {
        return cmd_seal(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "unseal") == 0) {
        return cmd_unseal(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "client") == 0) {
        return cmd_client(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "artifact") == 0) {
        return cmd_artifact(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "model") == 0) {
        return cmd_model(argc - 1, argv + 1);
    }
    fprintf(stderr, "ccgate: unknown command '%s'\n", cmd);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
