/* ccg-tsm-fuse: a FUSE filesystem that behaves like Linux configfs-tsm's report directory
 * (Documentation/ABI/testing/configfs-tsm), backed by ccgate's SNP emulator. TESTS ONLY.
 *
 *   ccg-tsm-fuse --state EMULATOR_DIR [--provider NAME] [--fault MODE] MOUNTPOINT
 *   ccg-tsm-fuse --tdx-state TD_DIR [--fault MODE] MOUNTPOINT
 *
 * mkdir MOUNTPOINT/x creates a report entry with the attributes inblob (write-only, up to 64 bytes),
 * privlevel (write-only, 0..3), privlevel_floor, provider, generation, outblob and auxblob. Every write
 * bumps generation. Reading outblob (or auxblob) computes the report for the current generation once:
 * an emulator-signed SNP report with REPORT_DATA = inblob (zero-padded) and VMPL = privlevel, and the
 * certificate table (VCEK, ASK, ARK) padded to whole pages like the kernel's buffer. With provider
 * "tdx_guest" outblob is a synthetic v4 quote carrying inblob as REPORTDATA (no auxblob). With --tdx-state
 * (a software TD saved by `ccgate emulate tdx --save-state`) the provider is "tdx_guest" and outblob is
 * that TD's signed quote over inblob, as a TD's kernel hands it out (no auxblob).
 *
 * Faults for tests: "truncate" (outblob cut to 1000 bytes), "race" (every outblob read is followed by
 * a concurrent write: generation moves), "race-once" (only the first), "bad-aux" (a certificate
 * entry pointing past the blob). It exits when unmounted (fusermount3 -u). */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ccgate/attester.h"
#include "ccgate/error.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/tdx_emulator.h"

#define MAX_ENTRIES 64
#define NAME_MAX_LEN 64
#define PAGE 4096u
#define TDX_QUOTE_LEN 1024u
#define TDX_REPORTDATA_OFF 568u

typedef struct {
    int used;
    char name[NAME_MAX_LEN];
    uint8_t inblob[64];
    size_t inblob_len;
    int inblob_set;
    unsigned privlevel;
    unsigned long generation;
    unsigned long made_for; /* the generation outblob/auxblob were computed for */
    int made;
    uint8_t *out;
    size_t out_len;
    uint8_t *aux;
    size_t aux_len;
} report_entry;

static struct {
    ccg_snp_emulator *emu;
    ccg_snp_emulator_launch launch;
    ccg_tdx_emu *tdx; /* --tdx-state: the software TD that signs outblob */
    ccg_tdx_emu_td td;
    uint8_t *table; /* the certificate table, page-padded */
    size_t table_len;
    const char *provider;
    const char *fault;
    int races;
    report_entry entries[MAX_ENTRIES];
} g;

typedef enum { A_NONE, A_INBLOB, A_OUTBLOB, A_AUXBLOB, A_PROVIDER, A_GENERATION, A_PRIVLEVEL, A_FLOOR } attr_id;

static const struct {
    const char *name;
    attr_id id;
    mode_t mode;
} attrs[] = {
    {"inblob", A_INBLOB, 0200},         {"outblob", A_OUTBLOB, 0444},   {"auxblob", A_AUXBLOB, 0444},
    {"provider", A_PROVIDER, 0444},     {"generation", A_GENERATION, 0444}, {"privlevel", A_PRIVLEVEL, 0200},
    {"privlevel_floor", A_FLOOR, 0444},
};

static int is_tdx(void) { return strcmp(g.provider, "tdx_guest") == 0; }
static int fault_is(const char *m) { return g.fault != NULL && strcmp(g.fault, m) == 0; }

static int attr_visible(attr_id id) { return !(is_tdx() && (id == A_AUXBLOB || id == A_PRIVLEVEL || id == A_FLOOR)); }

static report_entry *find_entry(const char *name, size_t len)
{
    for (int i = 0; i < MAX_ENTRIES; i++) {
        if (g.entries[i].used && strlen(g.entries[i].name) == len && memcmp(g.entries[i].name, name, len) == 0) {
            return &g.entries[i];
        }
    }
    return NULL;
}

/* Splits "/entry/attr"; returns 0 for the root, 1 for an entry, 2 for an attribute, -errno otherwise. */
static int resolve(const char *path, report_entry **e, attr_id *id)
{
    *e = NULL;
    *id = A_NONE;
    if (strcmp(path, "/") == 0) {
        return 0;
    }
    const char *name = path + 1;
    const char *slash = strchr(name, '/');
    size_t nlen = slash ? (size_t)(slash - name) : strlen(name);
    *e = find_entry(name, nlen);
    if (*e == NULL) {
        return -ENOENT;
    }
    if (slash == NULL) {
        return 1;
    }
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
        if (strcmp(slash + 1, attrs[i].name) == 0 && attr_visible(attrs[i].id)) {
            *id = attrs[i].id;
            return 2;
        }
    }
    return -ENOENT;
}

static mode_t attr_mode(attr_id id)
{
    for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
        if (attrs[i].id == id) {
            return attrs[i].mode;
        }
    }
    return 0;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    report_entry *e;
    attr_id id;
    int kind = resolve(path, &e, &id);
    memset(st, 0, sizeof(*st));
    if (kind < 0) {
        return kind;
    }
    if (kind < 2) {
        st->st_mode = S_IFDIR | 0755;
        st->st_nlink = 2;
    } else {
        st->st_mode = S_IFREG | attr_mode(id);
        st->st_nlink = 1;
        st->st_size = 4096; /* configfs reports a page for every attribute */
    }
    return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags)
{
    report_entry *e;
    attr_id id;
    int kind = resolve(path, &e, &id);
    if (kind < 0 || kind == 2) {
        return kind < 0 ? kind : -ENOTDIR;
    }
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    for (int i = 0; kind == 0 && i < MAX_ENTRIES; i++) {
        if (g.entries[i].used) {
            fill(buf, g.entries[i].name, NULL, 0, 0);
        }
    }
    for (size_t i = 0; kind == 1 && i < sizeof(attrs) / sizeof(attrs[0]); i++) {
        if (attr_visible(attrs[i].id)) {
            fill(buf, attrs[i].name, NULL, 0, 0);
        }
    }
    return 0;
}

static int fs_mkdir(const char *path, mode_t mode)
{
    const char *name = path + 1;
    size_t len = strlen(name);
    if (strchr(name, '/') != NULL) {
        return -EPERM; /* attributes are not directories */
    }
    if (len == 0 || len >= NAME_MAX_LEN) {
        return -EINVAL;
    }
    if (find_entry(name, len) != NULL) {
        return -EEXIST;
    }
    for (int i = 0; i < MAX_ENTRIES; i++) {
        if (!g.entries[i].used) {
            memset(&g.entries[i], 0, sizeof(g.entries[i]));
            g.entries[i].used = 1;
            memcpy(g.entries[i].name, name, len + 1);
            return 0;
        }
    }
    return -ENOSPC;
}

static void entry_drop_blobs(report_entry *e)
{
    free(e->out);
    free(e->aux);
    e->out = e->aux = NULL;
    e->out_len = e->aux_len = 0;
    e->made = 0;
}

static int fs_rmdir(const char *path)
{
    report_entry *e;
    attr_id id;
    int kind = resolve(path, &e, &id);
    if (kind != 1) {
        return kind < 0 ? kind : -EPERM;
    }
    entry_drop_blobs(e);
    memset(e, 0, sizeof(*e));
    return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
    report_entry *e;
    attr_id id;
    int kind = resolve(path, &e, &id);
    if (kind != 2) {
        return kind < 0 ? kind : -EISDIR;
    }
    int writing = (fi->flags & O_ACCMODE) != O_RDONLY;
    int writable = (attr_mode(id) & 0200) != 0;
    if (writing != writable) {
        return -EACCES;
    }
    fi->direct_io = 1; /* sizes are not what getattr says, as in configfs */
    return 0;
}

/* Computes outblob and auxblob for the entry's current generation. */
static int make_blobs(report_entry *e)
{
    uint8_t data[64] = {0};
    if (e->made && e->made_for == e->generation) {
        return 0;
    }
    if (!e->inblob_set) {
        return -EINVAL; /* the kernel refuses a report without inblob */
    }
    entry_drop_blobs(e);
    memcpy(data, e->inblob, e->inblob_len);
    if (g.tdx != NULL) {
        memcpy(g.td.report_data, data, sizeof(data));
        if (ccg_failed(ccg_tdx_emu_quote(g.tdx, &g.td, &e->out, &e->out_len))) {
            fprintf(stderr, "ccg-tsm-fuse: quoting failed: %s\n", ccg_error_last()->message);
            return -EIO;
        }
        if (fault_is("truncate")) {
            e->out_len = 1000;
        }
    } else if (is_tdx()) {
        e->out = calloc(1, TDX_QUOTE_LEN);
        if (e->out == NULL) {
            return -ENOMEM;
        }
        e->out[0] = 4; /* quote version 4 */
        memcpy(e->out + TDX_REPORTDATA_OFF, data, sizeof(data));
        e->out_len = TDX_QUOTE_LEN;
    } else {
        e->out = malloc(CCG_SNP_REPORT_SIZE);
        e->aux = malloc(g.table_len);
        if (e->out == NULL || e->aux == NULL) {
            return -ENOMEM;
        }
        if (ccg_failed(ccg_snp_emulator_attest(g.emu, &g.launch, e->privlevel, data, e->out))) {
            fprintf(stderr, "ccg-tsm-fuse: signing failed: %s\n", ccg_error_last()->message);
            return -EIO;
        }
        e->out_len = fault_is("truncate") ? 1000 : CCG_SNP_REPORT_SIZE;
        memcpy(e->aux, g.table, g.table_len);
        e->aux_len = g.table_len;
        if (fault_is("bad-aux")) {
            e->aux[16] = 0xFF; /* the first entry's offset, now far past the blob */
            e->aux[17] = 0xFF;
        }
    }
    e->made = 1;
    e->made_for = e->generation;
    return 0;
}

static int slice(const uint8_t *src, size_t len, char *buf, size_t size, off_t off)
{
    if (off < 0 || (size_t)off >= len) {
        return 0;
    }
    size_t n = len - (size_t)off < size ? len - (size_t)off : size;
    memcpy(buf, src + off, n);
    return (int)n;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    report_entry *e;
    attr_id id;
    char text[64];
    int kind = resolve(path, &e, &id), rc;
    if (kind != 2) {
        return kind < 0 ? kind : -EISDIR;
    }
    switch (id) {
    case A_PROVIDER: snprintf(text, sizeof(text), "%s\n", g.provider); break;
    case A_GENERATION: snprintf(text, sizeof(text), "%lu\n", e->generation); break;
    case A_FLOOR: snprintf(text, sizeof(text), "0\n"); break;
    case A_OUTBLOB:
    case A_AUXBLOB:
        if ((rc = make_blobs(e)) != 0) {
            return rc;
        }
        if (id == A_AUXBLOB) {
            return slice(e->aux, e->aux_len, buf, size, off);
        }
        rc = slice(e->out, e->out_len, buf, size, off);
        /* A concurrent writer: the generation moves right after the outblob is handed out. */
        if (off == 0 && (fault_is("race") || (fault_is("race-once") && g.races++ == 0))) {
            e->generation++;
        }
        return rc;
    default: return -EACCES;
    }
    return slice((const uint8_t *)text, strlen(text), buf, size, off);
}

static int fs_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    report_entry *e;
    attr_id id;
    int kind = resolve(path, &e, &id);
    if (kind != 2) {
        return kind < 0 ? kind : -EISDIR;
    }
    if (id == A_INBLOB) {
        if (off != 0 || size > sizeof(e->inblob)) {
            return -EINVAL;
        }
        memset(e->inblob, 0, sizeof(e->inblob));
        memcpy(e->inblob, buf, size);
        e->inblob_len = size;
        e->inblob_set = 1;
    } else if (id == A_PRIVLEVEL) {
        char text[8] = {0};
        if (off != 0 || size == 0 || size >= sizeof(text)) {
            return -EINVAL;
        }
        memcpy(text, buf, size);
        char *end = NULL;
        unsigned long v = strtoul(text, &end, 10);
        if (end == text || (*end != '\0' && strcmp(end, "\n") != 0) || v > 3) {
            return -EINVAL;
        }
        e->privlevel = (unsigned)v;
    } else {
        return -EACCES;
    }
    e->generation++;
    return (int)size;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    report_entry *e;
    attr_id id;
    int kind = resolve(path, &e, &id);
    if (kind != 2) {
        return kind < 0 ? kind : -EISDIR;
    }
    return (attr_mode(id) & 0200) ? 0 : -EACCES;
}

static const struct fuse_operations ops = {
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .mkdir = fs_mkdir,
    .rmdir = fs_rmdir,
    .open = fs_open,
    .read = fs_read,
    .write = fs_write,
    .truncate = fs_truncate,
};

/* The certificate table the emulated host serves, padded to whole pages as the kernel hands it out. */
static int build_table(void)
{
    X509 *certs[3] = {ccg_snp_emulator_vcek(g.emu), ccg_snp_emulator_ask(g.emu), ccg_snp_emulator_ark(g.emu)};
    unsigned char *der[3] = {NULL, NULL, NULL};
    ccg_snp_cert_entry entries[3];
    uint8_t *table = NULL;
    size_t len = 0;
    int rc = -1;
    memset(entries, 0, sizeof(entries));
    entries[0].kind = ccg_snp_emulator_config_of(g.emu)->signer == CCG_SNP_SIGNER_VLEK ? CCG_SNP_CERT_VLEK
                                                                                         : CCG_SNP_CERT_VCEK;
    entries[1].kind = CCG_SNP_CERT_ASK;
    entries[2].kind = CCG_SNP_CERT_ARK;
    for (int i = 0; i < 3; i++) {
        int n = i2d_X509(certs[i], &der[i]);
        if (n <= 0) {
            goto out;
        }
        entries[i].der = der[i];
        entries[i].der_len = (size_t)n;
    }
    if (ccg_failed(ccg_snp_cert_table_build(entries, 3, &table, &len))) {
        goto out;
    }
    g.table_len = (len + PAGE - 1) / PAGE * PAGE;
    g.table = calloc(1, g.table_len);
    if (g.table == NULL) {
        goto out;
    }
    memcpy(g.table, table, len);
    rc = 0;
out:
    for (int i = 0; i < 3; i++) {
        OPENSSL_free(der[i]);
    }
    free(table);
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: ccg-tsm-fuse --state EMULATOR_DIR [--provider NAME] [--fault truncate|race|race-once|bad-aux] "
                    "MOUNTPOINT\n       ccg-tsm-fuse --tdx-state TD_DIR [--fault MODE] MOUNTPOINT\n");
}

int main(int argc, char **argv)
{
    const char *state = NULL, *tdx_state = NULL, *mountpoint = NULL;
    g.provider = "sev_guest";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
            state = argv[++i];
        } else if (strcmp(argv[i], "--tdx-state") == 0 && i + 1 < argc) {
            tdx_state = argv[++i];
        } else if (strcmp(argv[i], "--provider") == 0 && i + 1 < argc) {
            g.provider = argv[++i];
        } else if (strcmp(argv[i], "--fault") == 0 && i + 1 < argc) {
            g.fault = argv[++i];
        } else if (argv[i][0] != '-' && mountpoint == NULL) {
            mountpoint = argv[i];
        } else {
            usage();
            return 2;
        }
    }
    if ((state == NULL) == (tdx_state == NULL) || mountpoint == NULL) {
        usage();
        return 2;
    }
    if (tdx_state != NULL) {
        if (ccg_failed(ccg_tdx_emu_load(tdx_state, &g.tdx, &g.td))) {
            fprintf(stderr, "ccg-tsm-fuse: %s\n", ccg_error_last()->message);
            return 1;
        }
        g.provider = "tdx_guest";
    } else if (ccg_failed(ccg_snp_emulator_load(state, &g.emu, &g.launch))) {
        fprintf(stderr, "ccg-tsm-fuse: %s\n", ccg_error_last()->message);
        return 1;
    }
    if (g.tdx == NULL && build_table() != 0) {
        fprintf(stderr, "ccg-tsm-fuse: cannot build the certificate table\n");
        ccg_snp_emulator_free(g.emu);
        return 1;
    }
    /* Foreground, single-threaded: the state above needs no locks. */
    char *fargv[] = {argv[0], "-f", "-s", "-o", "fsname=ccg-tsm,auto_unmount", (char *)mountpoint, NULL};
    int rc = fuse_main(6, fargv, &ops, NULL);
    for (int i = 0; i < MAX_ENTRIES; i++) {
        entry_drop_blobs(&g.entries[i]);
    }
    free(g.table);
    ccg_snp_emulator_free(g.emu);
    ccg_tdx_emu_free(g.tdx);
    return rc;
}
