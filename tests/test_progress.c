/* Progress lines (include/ccgate/progress.h): the exact text, the throttling under an injected clock,
 * nothing on a stream that is not a terminal, a line on a pseudo-terminal, concurrent updates. No
 * real time is asserted anywhere. */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "ccgate/progress.h"

#define GIB (UINT64_C(1) << 30)
#define MIB (UINT64_C(1) << 20)

typedef struct {
    int64_t now;
} fake_clock;

static int64_t fake_now(void *clock)
{
    return ((fake_clock *)clock)->now;
}

typedef struct {
    FILE *f;
    char *text;
    size_t len;
} capture;

static void capture_open(capture *c)
{
    memset(c, 0, sizeof(*c));
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
}

static void capture_close(capture *c)
{
    fclose(c->f);
    free(c->text);
}

static void bytes_are_binary_units(void **state)
{
    char b[24];
    (void)state;
    ccg_progress_bytes(b, sizeof(b), 0);
    assert_string_equal(b, "0 B");
    ccg_progress_bytes(b, sizeof(b), 1023);
    assert_string_equal(b, "1023 B");
    ccg_progress_bytes(b, sizeof(b), 1024);
    assert_string_equal(b, "1.0 KiB");
    ccg_progress_bytes(b, sizeof(b), 1.5 * (double)GIB);
    assert_string_equal(b, "1.5 GiB");
}

static void a_line_has_bytes_rate_and_time_left(void **state)
{
    char line[CCG_PROGRESS_LINE_MAX];
    (void)state;
    /* 1.5 GiB in 2 s: 768 MiB/s; 2.5 GiB left at that rate is 3.3 s. */
    ccg_progress_format(line, sizeof(line), "unseal", 3 * GIB / 2, 4 * GIB, 2000, 0);
    assert_string_equal(line, "unseal  1.5 GiB / 4.0 GiB   37%  768.0 MiB/s  0:03 left");
    ccg_progress_format(line, sizeof(line), "seal", 4 * GIB, 4 * GIB, 65000, 1);
    assert_string_equal(line, "seal  4.0 GiB / 4.0 GiB  100%  63.0 MiB/s  1:05 total");
    /* Nothing done yet: no rate, no estimate. */
    ccg_progress_format(line, sizeof(line), "unseal", 0, 4 * GIB, 0, 0);
    assert_string_equal(line, "unseal  0 B / 4.0 GiB    0%  -/s  -:-- left");
    /* Hours. */
    ccg_progress_format(line, sizeof(line), "seal", MIB, 4000 * MIB, 1000, 0);
    assert_string_equal(line, "seal  1.0 MiB / 3.9 GiB    0%  1.0 MiB/s  1:06:39 left");
    /* Unknown total: bytes and rate only. */
    ccg_progress_format(line, sizeof(line), "fetch", 2 * MIB, 0, 1000, 0);
    assert_string_equal(line, "fetch  2.0 MiB  2.0 MiB/s");
}

static void lines_are_throttled_and_finished(void **state)
{
    fake_clock clk = {.now = 1000};
    capture c;
    ccg_progress *p = NULL;
    (void)state;
    capture_open(&c);
    ccg_progress_opts o = {.label = "unseal", .out = c.f, .mode = CCG_PROGRESS_ON, .now_ms = fake_now, .clock = &clk};
    assert_true(ccg_ok(ccg_progress_new(&o, 4 * MIB, &p)));
    assert_true(ccg_progress_active(p));
    ccg_progress_update(p, MIB); /* at the start: drawn at once */
    clk.now = 1100;
    ccg_progress_update(p, 2 * MIB); /* within 250 ms: not drawn */
    clk.now = 1250;
    ccg_progress_callback(p, 3 * MIB, 4 * MIB); /* 250 ms: drawn */
    clk.now = 1300;
    ccg_progress_update(p, MIB); /* a late, smaller snapshot from another thread: ignored */
    clk.now = 2000;
    ccg_progress_finish(p, 1);
    fflush(c.f);
    assert_string_equal(c.text, "\runseal  1.0 MiB / 4.0 MiB   25%  -/s  -:-- left\033[K"
                                "\runseal  3.0 MiB / 4.0 MiB   75%  12.0 MiB/s  0:00 left\033[K"
                                "\runseal  3.0 MiB / 4.0 MiB   75%  3.0 MiB/s  0:01 total\033[K\n");
    ccg_progress_free(p);
    capture_close(&c);
}

static void a_failure_only_ends_the_line(void **state)
{
    fake_clock clk = {.now = 0};
    capture c;
    ccg_progress *p = NULL;
    (void)state;
    capture_open(&c);
    ccg_progress_opts o = {.label = "seal", .out = c.f, .mode = CCG_PROGRESS_ON, .now_ms = fake_now, .clock = &clk};
    assert_true(ccg_ok(ccg_progress_new(&o, 2 * MIB, &p)));
    clk.now = 500;
    ccg_progress_update(p, MIB);
    ccg_progress_finish(p, 0);
    fflush(c.f);
    assert_string_equal(c.text, "\rseal  1.0 MiB / 2.0 MiB   50%  2.0 MiB/s  0:01 left\033[K\n");
    ccg_progress_free(p);
    capture_close(&c);
}

/* AUTO on a memory stream and on a regular file (no terminal) draws nothing; OFF never draws. */
static void nothing_without_a_terminal(void **state)
{
    fake_clock clk = {.now = 0};
    capture c;
    FILE *file = tmpfile();
    ccg_progress *p = NULL;
    (void)state;
    assert_non_null(file);
    capture_open(&c);
    FILE *streams[] = {c.f, file, c.f};
    int modes[] = {CCG_PROGRESS_AUTO, CCG_PROGRESS_AUTO, CCG_PROGRESS_OFF};
    for (size_t i = 0; i < 3; i++) {
        ccg_progress_opts o = {.label = "x", .out = streams[i], .mode = modes[i], .now_ms = fake_now, .clock = &clk};
        assert_true(ccg_ok(ccg_progress_new(&o, 10, &p)));
        assert_false(ccg_progress_active(p));
        ccg_progress_update(p, 5);
        clk.now += 1000;
        ccg_progress_update(p, 10);
        ccg_progress_finish(p, 1);
        ccg_progress_free(p);
    }
    fflush(c.f);
    assert_int_equal(c.len, 0);
    assert_int_equal(ftell(file), 0);
    fclose(file);
    capture_close(&c);
}

/* AUTO on a pseudo-terminal draws. */
static void a_line_on_a_terminal(void **state)
{
    fake_clock clk = {.now = 0};
    ccg_progress *p = NULL;
    char buf[256];
    ssize_t n;
    int master = posix_openpt(O_RDWR | O_NOCTTY), slave;
    FILE *tty;
    (void)state;
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        skip(); /* no /dev/ptmx here */
    }
    slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    tty = fdopen(slave, "w");
    assert_non_null(tty);
    ccg_progress_opts o = {.label = "unseal", .out = tty, .mode = CCG_PROGRESS_AUTO, .now_ms = fake_now, .clock = &clk};
    assert_true(ccg_ok(ccg_progress_new(&o, 100, &p)));
    assert_true(ccg_progress_active(p));
    clk.now = 1000;
    ccg_progress_update(p, 100);
    ccg_progress_free(p);
    fclose(tty);
    n = read(master, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "unseal  100 B / 100 B  100%  100 B/s  0:00 left"));
    close(master);
}

typedef struct {
    ccg_progress *p;
    uint64_t base;
} updater;

static void *update_many(void *arg)
{
    updater *u = arg;
    for (uint64_t i = 1; i <= 10000; i++) {
        ccg_progress_update(u->p, u->base + i);
    }
    return NULL;
}

/* Four threads at once (what the unsealer does): the largest value wins, and nothing is torn. */
static void concurrent_updates_keep_the_largest(void **state)
{
    fake_clock clk = {.now = 0};
    capture c;
    ccg_progress *p = NULL;
    pthread_t t[4];
    updater u[4];
    (void)state;
    capture_open(&c);
    ccg_progress_opts o = {.label = "u", .out = c.f, .mode = CCG_PROGRESS_ON, .now_ms = fake_now, .clock = &clk,
                           .interval_ms = 1000};
    assert_true(ccg_ok(ccg_progress_new(&o, 0, &p)));
    for (int i = 0; i < 4; i++) {
        u[i] = (updater){p, (uint64_t)i * 100000};
        assert_int_equal(pthread_create(&t[i], NULL, update_many, &u[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
    }
    clk.now = 1000;
    ccg_progress_finish(p, 1);
    fflush(c.f);
    /* One line drawn at the start (the clock does not move), then the final one. */
    assert_non_null(strstr(c.text, "\ru  302.7 KiB  302.7 KiB/s  0:01 total\033[K\n"));
    ccg_progress_free(p);
    capture_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bytes_are_binary_units),
        cmocka_unit_test(a_line_has_bytes_rate_and_time_left),
        cmocka_unit_test(lines_are_throttled_and_finished),
        cmocka_unit_test(a_failure_only_ends_the_line),
        cmocka_unit_test(nothing_without_a_terminal),
        cmocka_unit_test(a_line_on_a_terminal),
        cmocka_unit_test(concurrent_updates_keep_the_largest),
    };
    return cmocka_run_group_tests_name("progress", tests, NULL, NULL);
}
