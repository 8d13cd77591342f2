/* ccg-sev-guest-fuse: a stand-in for /dev/sev-guest, backed by ccgate's SNP emulator. TESTS ONLY.
 *
 *   ccg-sev-guest-fuse --state EMULATOR_DIR [--fault MODE] MOUNTPOINT    -> MOUNTPOINT/sev-guest
 *
 * CUSE (a real character device) needs /dev/cuse, which containers rarely have, so this is a FUSE
 * file that answers the real ioctl(2) calls. FUSE passes a regular file's ioctl in "restricted"
 * mode: only the 32-byte struct snp_guest_request_ioctl named by the command's _IOC size travels; the
 * request, response and certificate buffers it points to are read from and written to the caller's
 * memory with process_vm_readv/writev (the caller's pid comes with the request; needs
 * CAP_SYS_PTRACE or the caller's uid, and a dumpable caller).
 *
 * Behaviour follows the kernel driver (drivers/virt/coco/sev-guest) and the firmware ABI:
 *   SNP_GET_REPORT      snp_report_req -> snp_report_resp (MSG_REPORT_RSP: status, report_size, report)
 *   SNP_GET_EXT_REPORT  also the certificate table into certs_address; certs_len must be a page
 *                       multiple of at most 16 KiB (-EINVAL); too small -> -EIO, vmm_error
 *                       SNP_GUEST_VMM_ERR_INVALID_LEN and the needed size written back to certs_len.
 * Faults: "big-certs" (a 6000-byte extra entry: the table needs 12 KiB, more than ccgate's first 8 KiB),
 * "huge-certs" (needs 128 KiB), "busy" (-EIO with SNP_GUEST_VMM_ERR_BUSY), "bad-status" (MSG_REPORT_RSP
 * status 0x16), "short-size" (report_size 1000). */
#define FUSE_USE_VERSION 35

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <linux/sev-guest.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include "ccgate/attester.h"
#include "ccgate/error.h"
#include "ccgate/snp_emulator.h"

#define PAGE 4096u
#define DEV_NAME "sev-guest"

static struct {
    ccg_snp_emulator *emu;
    ccg_snp_emulator_launch launch;
    uint8_t *table;
    size_t table_len;   /* page-rounded: what a caller must offer */
    const char *fault;
} g;

static int fault_is(const char *m) { return g.fault != NULL && strcmp(g.fault, m) == 0; }

static int peer_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
    struct iovec local = {buf, len}, remote = {(void *)(uintptr_t)addr, len};
    return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

static int peer_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
    struct iovec local = {(void *)buf, len}, remote = {(void *)(uintptr_t)addr, len};
    return process_vm_writev(pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -EFAULT;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    memset(st, 0, sizeof(*st));
    if (strcmp(path, "/") == 0) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
        return 0;
    }
    if (strcmp(path, "/" DEV_NAME) == 0) {
        st->st_mode = S_IFREG | 0600;
        st->st_nlink = 1;
        return 0;
    }
    return -ENOENT;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags)
{
    if (strcmp(path, "/") != 0) {
        return -ENOTDIR;
    }
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    fill(buf, DEV_NAME, NULL, 0, 0);
    return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
    if (strcmp(path, "/" DEV_NAME) != 0) {
        return -ENOENT;
    }
    fi->direct_io = 1;
    fi->nonseekable = 1;
    return 0;
}

/* The MSG_REPORT_RSP for user_data at vmpl, in the kernel's 4000-byte snp_report_resp. */
static int make_resp(const struct snp_report_req *req, struct snp_report_resp *resp)
{
    uint8_t report[CCG_SNP_REPORT_SIZE];
    uint32_t status = 0, size = CCG_SNP_REPORT_SIZE;
    memset(resp, 0, sizeof(*resp));
    if (req->vmpl > 3 || fault_is("bad-status")) {
        status = 0x16; /* INVALID_PARAM */
    } else if (ccg_failed(ccg_snp_emulator_attest(g.emu, &g.launch, req->vmpl, req->user_data, report))) {
        fprintf(stderr, "ccg-sev-guest-fuse: signing failed: %s\n", ccg_error_last()->message);
        return -EIO;
    }
    if (fault_is("short-size")) {
        size = 1000;
    }
    memcpy(resp->data, &status, 4);
    memcpy(resp->data + 4, &size, 4);
    if (status == 0) {
        memcpy(resp->data + 0x20, report, sizeof(report));
    }
    return 0;
}

/* Writes the table and zeroes the rest of the caller's buffer, or asks for a bigger one. */
static int serve_certs(pid_t pid, void *arg, struct snp_guest_request_ioctl *io, struct snp_ext_report_req *ext)
{
    int rc;
    if (ext->certs_len % PAGE != 0 || ext->certs_len > CCG_SEV_GUEST_CERTS_MAX) {
        return -EINVAL;
    }
    if (ext->certs_len < g.table_len) {
        ext->certs_len = (uint32_t)g.table_len;
        io->exitinfo2 = (uint64_t)SNP_GUEST_VMM_ERR_INVALID_LEN << SNP_GUEST_VMM_ERR_SHIFT;
        if ((rc = peer_write(pid, io->req_data, ext, sizeof(*ext))) != 0 || (rc = peer_write(pid, (uint64_t)(uintptr_t)arg, io, sizeof(*io))) != 0) {
            return rc;
        }
        return -EIO;
    }
    uint8_t *buf = calloc(1, ext->certs_len);
    if (buf == NULL) {
        return -ENOMEM;
    }
    memcpy(buf, g.table, g.table_len);
    rc = peer_write(pid, ext->certs_address, buf, ext->certs_len);
    free(buf);
    return rc;
}

static int fs_ioctl(const char *path, unsigned int cmd, void *arg, struct fuse_file_info *fi, unsigned int flags,
                    void *data)
{
    pid_t pid = fuse_get_context()->pid;
    struct snp_guest_request_ioctl io;
    struct snp_ext_report_req ext;
    struct snp_report_resp resp;
    int rc;
    if (cmd != SNP_GET_REPORT && cmd != SNP_GET_EXT_REPORT) {
        return -ENOTTY;
    }
    memcpy(&io, data, sizeof(io));
    if (io.msg_version == 0 || io.req_data == 0 || io.resp_data == 0) {
        return -EINVAL;
    }
    io.exitinfo2 = 0;
    memset(&ext, 0, sizeof(ext));
    if ((rc = peer_read(pid, io.req_data, &ext, cmd == SNP_GET_EXT_REPORT ? sizeof(ext) : sizeof(ext.data))) != 0) {
        return rc;
    }
    if (fault_is("busy")) {
        io.exitinfo2 = (uint64_t)SNP_GUEST_VMM_ERR_BUSY << SNP_GUEST_VMM_ERR_SHIFT;
        return peer_write(pid, (uint64_t)(uintptr_t)arg, &io, sizeof(io)) != 0 ? -EFAULT : -EIO;
    }
    if (cmd == SNP_GET_EXT_REPORT && ext.certs_address != 0 && ext.certs_len != 0 &&
        (rc = serve_certs(pid, arg, &io, &ext)) != 0) {
        return rc;
    }
    if ((rc = make_resp(&ext.data, &resp)) != 0 || (rc = peer_write(pid, io.resp_data, &resp, sizeof(resp))) != 0) {
        return rc;
    }
    memcpy(data, &io, sizeof(io)); /* copied back to the caller's struct */
    return 0;
}

static const struct fuse_operations ops = {
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .open = fs_open,
    .ioctl = fs_ioctl,
};

static int build_table(void)
{
    X509 *certs[3] = {ccg_snp_emulator_vcek(g.emu), ccg_snp_emulator_ask(g.emu), ccg_snp_emulator_ark(g.emu)};
    unsigned char *der[3] = {NULL, NULL, NULL};
    ccg_snp_cert_entry entries[4];
    uint8_t *table = NULL, *filler = NULL;
    size_t len = 0, n = 3;
    int rc = -1;
    memset(entries, 0, sizeof(entries));
    entries[0].kind = CCG_SNP_CERT_VCEK;
    entries[1].kind = CCG_SNP_CERT_ASK;
    entries[2].kind = CCG_SNP_CERT_ARK;
    for (int i = 0; i < 3; i++) {
        int dlen = i2d_X509(certs[i], &der[i]);
        if (dlen <= 0) {
            goto out;
        }
        entries[i].der = der[i];
        entries[i].der_len = (size_t)dlen;
    }
    if (fault_is("big-certs") || fault_is("huge-certs")) {
        /* An extra entry with a GUID of no known kind, large enough to need a bigger buffer. */
        size_t flen = fault_is("big-certs") ? 6000 : 60000;
        filler = malloc(flen);
        if (filler == NULL) {
            goto out;
        }
        memset(filler, 0xA5, flen);
        entries[3].kind = CCG_SNP_CERT_OTHER;
        memset(entries[3].guid, 0x42, sizeof(entries[3].guid));
        entries[3].der = filler;
        entries[3].der_len = flen;
        n = 4;
    }
    if (ccg_failed(ccg_snp_cert_table_build(entries, n, &table, &len))) {
        goto out;
    }
    g.table_len = (len + PAGE - 1) / PAGE * PAGE;
    if (fault_is("huge-certs")) {
        g.table_len = 128u * 1024u; /* what the host claims to need */
    }
    g.table = calloc(1, g.table_len);
    if (g.table == NULL) {
        goto out;
    }
    memcpy(g.table, table, len < g.table_len ? len : g.table_len);
    rc = 0;
out:
    for (int i = 0; i < 3; i++) {
        OPENSSL_free(der[i]);
    }
    free(filler);
    free(table);
    return rc;
}

int main(int argc, char **argv)
{
    const char *state = NULL, *mountpoint = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
            state = argv[++i];
        } else if (strcmp(argv[i], "--fault") == 0 && i + 1 < argc) {
            g.fault = argv[++i];
        } else if (argv[i][0] != '-' && mountpoint == NULL) {
            mountpoint = argv[i];
        } else {
            mountpoint = NULL;
            state = NULL;
            break;
        }
    }
    if (state == NULL || mountpoint == NULL) {
        fprintf(stderr, "usage: ccg-sev-guest-fuse --state EMULATOR_DIR [--fault big-certs|huge-certs|busy|bad-status|"
                        "short-size] MOUNTPOINT\n");
        return 2;
    }
    if (ccg_failed(ccg_snp_emulator_load(state, &g.emu, &g.launch))) {
        fprintf(stderr, "ccg-sev-guest-fuse: %s\n", ccg_error_last()->message);
        return 1;
    }
    if (build_table() != 0) {
        fprintf(stderr, "ccg-sev-guest-fuse: cannot build the certificate table\n");
        ccg_snp_emulator_free(g.emu);
        return 1;
    }
    char *fargv[] = {argv[0], "-f", "-s", "-o", "fsname=ccg-sev-guest,auto_unmount", (char *)mountpoint, NULL};
    int rc = fuse_main(6, fargv, &ops, NULL);
    free(g.table);
    ccg_snp_emulator_free(g.emu);
    return rc;
}
