/* demo_forms.c - the demo's form routes, decoded as they stream with
 * hz_form_read (no request body is ever held whole):
 *
 *   POST /upload  multipart/form-data, any number of files and fields;
 *                 each file is hashed (SHA-256) as its pieces arrive.
 *                 200 application/json
 *                 {"files":[{"field":"f","name":"a.txt","size":N,"sha256":"<hex>"},...],
 *                  "fields":{"name":"value",...}}
 *   POST /form    application/x-www-form-urlencoded.
 *                 200 application/json {"fields":{"name":"value",...}}
 *
 * Errors: 415 for another media type, 413 past a limit (body 64 MiB for
 * /upload and 1 MiB for /form, 64 KiB per plain field, 128 fields), 400
 * for a malformed body or one whose names and values are not UTF-8; the
 * body of an error is hz_form_error()'s text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "demo_forms.h"
#include "sha256.h"

#define UPLOAD_LIMIT (64ull << 20)
#define FORM_LIMIT (1u << 20)

/* A growing string (the JSON being built). */
typedef struct jbuf {
    char *p; /* owns */
    size_t len, cap;
} jbuf;

static int jput(jbuf *b, const void *s, size_t n)
{
    if (!n)
        return 0;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return HZ_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

/* Appends s as the inside of a JSON string (RFC 8259 §7): '"', '\\' and
 * the control characters escaped. Bytes >= 0x80 go as they are; the whole
 * answer is checked to be UTF-8 before it is sent. */
static int jesc(jbuf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if (jput(b, s + run, i - run) < 0)
            return HZ_ENOMEM;
        char e[8];
        int k;
        if (c == '"' || c == '\\')
            k = snprintf(e, sizeof e, "\\%c", c);
        else if (c == '\n')
            k = snprintf(e, sizeof e, "\\n");
        else if (c == '\r')
            k = snprintf(e, sizeof e, "\\r");
        else if (c == '\t')
            k = snprintf(e, sizeof e, "\\t");
        else
            k = snprintf(e, sizeof e, "\\u%04x", c);
        if (jput(b, e, (size_t)k) < 0)
            return HZ_ENOMEM;
        run = i + 1;
    }
    return jput(b, s + run, n - run);
}

static int jstr(jbuf *b, hz_str s)
{
    if (jput(b, "\"", 1) < 0 || jesc(b, s.ptr, s.len) < 0 || jput(b, "\"", 1) < 0)
        return HZ_ENOMEM;
    return 0;
}

typedef struct form_state {
    hz_form form; /* the decoder (first: it is the largest member) */
    hz_res *res;  /* borrowed: valid until on_done */
    int upload;   /* /upload (files listed) or /form */
    jbuf files;   /* the "files" array's members */
    jbuf fields;  /* the "fields" object's members */
    sha256 sha;   /* the current file's digest */
} form_state;

static int on_field(void *ud, const hz_form_field *f)
{
    form_state *st = ud;
    if (f->filename.ptr) {
        sha256_init(&st->sha);
        jbuf *b = &st->files;
        if ((b->len && jput(b, ",", 1) < 0) || jput(b, "{\"field\":", 9) < 0 ||
            jstr(b, f->name) < 0 || jput(b, ",\"name\":", 8) < 0 || jstr(b, f->filename) < 0)
            return HZ_ENOMEM;
        return 0;
    }
    jbuf *b = &st->fields;
    if ((b->len && jput(b, ",", 1) < 0) || jstr(b, f->name) < 0 || jput(b, ":\"", 2) < 0)
        return HZ_ENOMEM;
    return 0;
}

static int on_data(void *ud, const hz_form_field *f, const void *data, size_t len)
{
    form_state *st = ud;
    if (f->filename.ptr) {
        sha256_update(&st->sha, data, len);
        return 0;
    }
    return jesc(&st->fields, data, len);
}

static int on_field_end(void *ud, const hz_form_field *f)
{
    form_state *st = ud;
    if (!f->filename.ptr)
        return jput(&st->fields, "\"", 1);
    unsigned char d[32];
    char hex[65], tail[128];
    sha256_final(&st->sha, d);
    sha256_hex(d, hex);
    int n = snprintf(tail, sizeof tail, ",\"size\":%llu,\"sha256\":\"%s\"}",
                     (unsigned long long)f->size, hex);
    return jput(&st->files, tail, (size_t)n);
}

static void send_text(hz_res *res, int status, const char *msg)
{
    hz_res_set_header(res, "Content-Type", "text/plain; charset=utf-8");
    hz_res_send(res, status, msg, strlen(msg));
}

static void form_done(hz_req *req, int status, void *ud)
{
    (void)req;
    form_state *st = ud;
    if (status == HZ_ECLOSED || status == HZ_ECANCELED)
        return; /* the exchange is over: nobody to answer */
    if (status < 0) {
        const char *why = hz_form_error(&st->form);
        char msg[160];
        snprintf(msg, sizeof msg, "%s\n", why ? why : hz_strerror(status));
        send_text(st->res, hz_form_status(status), msg);
        return;
    }
    jbuf out = {NULL, 0, 0};
    int rc = 0;
    if (st->upload)
        rc |= jput(&out, "{\"files\":[", 10) | jput(&out, st->files.p, st->files.len) |
              jput(&out, "],\"fields\":{", 12);
    else
        rc |= jput(&out, "{\"fields\":{", 11);
    rc |= jput(&out, st->fields.p, st->fields.len) | jput(&out, "}}\n", 3);
    if (rc < 0)
        send_text(st->res, 500, "out of memory\n");
    else if (!hz_utf8_valid(out.p, out.len))
        send_text(st->res, 400, "names and values must be UTF-8\n");
    else {
        hz_res_set_header(st->res, "Content-Type", "application/json");
        hz_res_send(st->res, 200, out.p, out.len);
    }
    free(out.p);
}

static void form_free(hz_res *res, int status, void *ud)
{
    (void)res;
    (void)status;
    form_state *st = ud;
    free(st->files.p);
    free(st->fields.p);
    free(st);
}

static void form_route(hz_req *req, hz_res *res, void *ud)
{
    static const hz_form_cb cb = {on_field, on_data, on_field_end};
    int upload = ud != NULL;
    form_state *st = calloc(1, sizeof *st);
    if (!st) {
        send_text(res, 503, "out of memory\n");
        return;
    }
    st->res = res;
    st->upload = upload;
    hz_str ct = hz_req_header(req, "Content-Type");
    if (hz_form_init(&st->form, ct.ptr, ct.len, &cb, st) < 0 ||
        (!upload && ct.len >= 10 && !strncmp(ct.ptr, "multipart/", 10))) {
        free(st);
        send_text(res, 415,
                  upload ? "send multipart/form-data\n"
                         : "send application/x-www-form-urlencoded\n");
        return;
    }
    st->form.max_file = UPLOAD_LIMIT;
    hz_res_on_done(res, form_free, st);
    int rc = hz_form_read(req, &st->form, form_done, st);
    if (rc < 0)
        send_text(res, 500, "could not read the body\n");
}

int demo_forms_routes(hz_server *srv)
{
    static int upload_tag;
    hz_route_opts o;
    hz_route_opts_init(&o);
    o.flags = HZ_ROUTE_STREAM_BODY;
    o.body_limit = UPLOAD_LIMIT;
    int rc = hz_route_with(srv, "POST", "/upload", form_route, &upload_tag, &o);
    if (rc < 0)
        return rc;
    o.body_limit = FORM_LIMIT;
    return hz_route_with(srv, "POST", "/form", form_route, NULL, &o);
}
