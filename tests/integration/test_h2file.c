/* test_h2file.c - static files over HTTP/2, whose DATA frames are written
 * straight into the connection's output (nghttp2 NO_COPY, the file read
 * into place): sizes around the frame boundaries, ranges, small windows,
 * a file cut while its response waits (RST_STREAM, the connection lives
 * on), over h2c and TLS, compared byte for byte by h2_file.py (python3-h2).
 * Suite h2file_batch: the DATA read in batches (h2conn.c h2_fill: the
 * frames of a run of output read with one preadv per stream, plus a
 * read-ahead into the stream): streams interleaved with each other and with
 * control frames, uneven windows, a file cut under two streams of one run
 * (padding keeps the connection window in step), a stream reset mid-file,
 * by h2_file_batch.py. Suite h2file_records: how the frames of a burst
 * are cut into TLS records (h2_records.py).
 * Skipped without HTTP/2 or python3-h2. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <httpz/backend.h>
#include "h2_support.h"
#include "itest.h"
#include "test_alloc.h"

#ifndef HZ_H2_FILE
#define HZ_H2_FILE "h2_file.py"
#endif
#ifndef HZ_H2_FILE_BATCH
#define HZ_H2_FILE_BATCH "h2_file_batch.py"
#endif
#ifndef HZ_H2_RECORDS
#define HZ_H2_RECORDS "h2_records.py"
#endif

static hz_server *srv;
static hz_static *st;
static hz_count_alloc CA;
static int port;
static char dir[64];

/* A file of n bytes holds (i * 7 + n) % 251 at offset i (h2_file.py). */
static void write_file(const char *name, size_t n)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f, "fopen %s", path);
    for (size_t i = 0; i < n; i++)
        fputc((int)((i * 7 + n) % 251), f);
    cr_assert_eq(fclose(f), 0);
}

static void start(int tls)
{
    static const size_t sizes[] = {0, 1, 16383, 16384, 16385, 65536, 1048576 + 7};
    snprintf(dir, sizeof(dir), "/tmp/hz-h2file-XXXXXX");
    cr_assert(mkdtemp(dir));
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "%zu.bin", sizes[i]);
        write_file(name, sizes[i]);
    }
    write_file("trunc.bin", 1048576 + 7);
    hz_config cfg;
    it_config_counted(&cfg, &CA);
    cr_assert_eq(hz_server_create(&srv, &cfg), 0);
    hz_static_config sc;
    hz_static_config_init(&sc);
    sc.root = dir;
    cr_assert_eq(hz_static_create(&st, &sc, NULL), 0);
    cr_assert_eq(hz_route_static(srv, "/f/", st), 0);
    const hz_tls_config *tp = NULL;
#if HZ_HAVE_TLS
    hz_tls_config t;
    char crt[128], key[128];
    if (tls) {
        snprintf(crt, sizeof(crt), "%s/c.crt", dir);
        snprintf(key, sizeof(key), "%s/c.key", dir);
        cr_assert_eq(it_make_cert(key, crt, "localhost"), 0, "openssl req failed");
        hz_tls_config_init(&t);
        t.certs[0].cert_file = crt;
        t.certs[0].key_file = key;
        t.ncerts = 1;
        tp = &t;
    }
#else
    if (tls)
        cr_skip_test("built without TLS");
#endif
    port = h2s_listen(srv, tp);
    cr_assert_eq(hz_server_start(srv), 0);
}

static void finish(void)
{
    hz_server_stop(srv, 300);
    hz_server_wait(srv);
    hz_server_destroy(srv);
    hz_static_destroy(st);
    it_expect_no_leaks(&CA);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    (void)system(cmd);
}

/* mode of script (h2_file.py, h2_file_batch.py) over h2c, then TLS, each
 * against a fresh server over the same files. */
static void both_with(const char *script, const char *mode, int timeout_s)
{
    h2s_need();
    for (int tls = 0; tls < 2; tls++) {
#if !HZ_HAVE_TLS
        if (tls)
            break;
#endif
        start(tls);
        char arg[160], out[4096];
        snprintf(arg, sizeof(arg), "%s %s%s", mode, dir, tls ? " --tls" : "");
        int rc = h2s_script_run(script, port, arg, timeout_s, out, sizeof(out));
        cr_expect_eq(rc, 0, "%s%s: %s", mode, tls ? " (TLS)" : "", out);
        finish();
    }
}

static void both(const char *mode)
{
    both_with(HZ_H2_FILE, mode, 90);
}

static void batch(const char *mode)
{
    both_with(HZ_H2_FILE_BATCH, mode, 120);
}

TestSuite(h2file, .timeout = 240);

Test(h2file, sizes_around_frame_boundaries_byte_for_byte)
{
    both("sizes");
}

Test(h2file, ranges_byte_for_byte)
{
    both("range");
}

Test(h2file, small_windows_bound_every_data_frame)
{
    both("window");
}

Test(h2file, file_cut_mid_response_resets_the_stream_only)
{
    both("truncate");
}

TestSuite(h2file_batch, .timeout = 300);

Test(h2file_batch, streams_interleaved_with_each_other_and_pings_byte_for_byte)
{
    batch("interleave");
}

Test(h2file_batch, uneven_windows_bound_the_reads)
{
    batch("uneven");
}

Test(h2file_batch, file_cut_under_two_streams_of_a_run_keeps_the_window_in_step)
{
    batch("cut");
}

Test(h2file_batch, stream_reset_mid_file_others_whole)
{
    batch("reset");
}

Test(h2file_batch, full_table_of_unread_frames_mid_run_keeps_order)
{
    batch("full");
}

Test(h2file_batch, priority_fields_order_the_streams)
{
    batch("order");
}

/* TLS records (h2_records.py): frames that follow at once share full
 * records (docs/architecture.md, "TLS records per send"). */
TestSuite(h2file_records, .timeout = 120);

Test(h2file_records, responses_of_a_burst_leave_in_full_records)
{
    both_with(HZ_H2_RECORDS, "packed", 60);
}
