/* items_json.c - a small JSON service on httpz, with cJSON for the JSON
 * (httpz itself parses no JSON): an in-memory list of items.
 *
 *   GET    /items        200 {"items":[{"id":1,"name":"apple","qty":3},...]}
 *   GET    /items/:id    200 {"id":1,"name":"apple","qty":3}, or 404
 *   POST   /items        body {"name":"apple","qty":3} (qty optional, default 1)
 *                        201 + Location: /items/<id> + the item; 400 for a
 *                        body that is not such an object; 415 unless
 *                        Content-Type is application/json; 413 over 16 KiB
 *   DELETE /items/:id    204, or 404
 * Errors are JSON too: {"error":"..."}.
 *
 *   items_json [--port N]    (8081; 0 = any free port, printed on stdout)
 *
 * One loop thread, so the list needs no lock. Build: CMake builds it when
 * it finds cJSON (Debian: libcjson-dev); by hand:
 *   cc -std=c11 items_json.c $(pkg-config --cflags --libs httpz libcjson)
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>
#include <httpz/httpz.h>

#define NAME_MAX_LEN 200
#define BODY_LIMIT (16 * 1024)

typedef struct item {
    long id;
    char *name; /* owns */
    long qty;
} item;

static struct {
    item *v; /* owns */
    size_t n, cap;
    long next_id;
} g_items = {NULL, 0, 0, 1};

static hz_server *g_srv;

static void on_signal(int sig)
{
    (void)sig;
    hz_server_stop(g_srv, 2000); /* async-signal-safe */
}

/* Sends json (a cJSON tree, freed here) with status. */
static void send_json(hz_res *res, int status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) {
        hz_res_send(res, 500, NULL, 0);
        return;
    }
    hz_res_set_header(res, "Content-Type", "application/json");
    hz_res_send(res, status, text, strlen(text));
    cJSON_free(text);
}

static void send_error(hz_res *res, int status, const char *msg)
{
    cJSON *e = cJSON_CreateObject();
    if (e)
        cJSON_AddStringToObject(e, "error", msg);
    send_json(res, status, e);
}

static cJSON *item_json(const item *it)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddNumberToObject(o, "id", (double)it->id) ||
        !cJSON_AddStringToObject(o, "name", it->name) ||
        !cJSON_AddNumberToObject(o, "qty", (double)it->qty)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* The item named by the :id parameter (digits only), or NULL. */
static item *find(const hz_req *req, size_t *at)
{
    hz_str p = hz_req_param(req, "id");
    long id = 0;
    if (!p.ptr || p.len == 0 || p.len > 9)
        return NULL;
    for (size_t i = 0; i < p.len; i++) {
        if (p.ptr[i] < '0' || p.ptr[i] > '9')
            return NULL;
        id = id * 10 + (p.ptr[i] - '0');
    }
    for (size_t i = 0; i < g_items.n; i++)
        if (g_items.v[i].id == id) {
            if (at)
                *at = i;
            return &g_items.v[i];
        }
    return NULL;
}

static void list_items(hz_req *req, hz_res *res, void *ud)
{
    (void)req;
    (void)ud;
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = o ? cJSON_AddArrayToObject(o, "items") : NULL;
    for (size_t i = 0; arr && i < g_items.n; i++) {
        cJSON *it = item_json(&g_items.v[i]);
        if (!it) {
            arr = NULL;
            break;
        }
        cJSON_AddItemToArray(arr, it);
    }
    if (!arr) {
        cJSON_Delete(o);
        o = NULL;
    }
    send_json(res, 200, o);
}

static void get_item(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    item *it = find(req, NULL);
    if (!it) {
        send_error(res, 404, "no such item");
        return;
    }
    send_json(res, 200, item_json(it));
}

static int is_json(hz_str ct)
{
    static const char t[] = "application/json";
    size_t n = sizeof t - 1;
    return ct.ptr && ct.len >= n && !strncasecmp(ct.ptr, t, n) &&
           (ct.len == n || ct.ptr[n] == ';' || ct.ptr[n] == ' ');
}

static void create_item(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    if (!is_json(hz_req_header(req, "Content-Type"))) {
        send_error(res, 415, "send application/json");
        return;
    }
    hz_str body = hz_req_body(req);
    cJSON *in = cJSON_ParseWithLength(body.ptr, body.len);
    if (!in) {
        send_error(res, 400, "the body is not JSON");
        return;
    }
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(in, "name");
    const cJSON *qty = cJSON_GetObjectItemCaseSensitive(in, "qty");
    const char *why = NULL;
    if (!cJSON_IsObject(in))
        why = "the body must be a JSON object";
    else if (!cJSON_IsString(name) || !name->valuestring[0] ||
             strlen(name->valuestring) > NAME_MAX_LEN)
        why = "name must be a string of 1 to 200 bytes";
    else if (qty && (!cJSON_IsNumber(qty) || qty->valuedouble < 0 || qty->valuedouble > 1e9 ||
                     qty->valuedouble != (double)(long)qty->valuedouble))
        why = "qty must be a whole number from 0 to 1000000000";
    if (why) {
        cJSON_Delete(in);
        send_error(res, 400, why);
        return;
    }
    if (g_items.n == g_items.cap) {
        size_t cap = g_items.cap ? 2 * g_items.cap : 16;
        item *v = realloc(g_items.v, cap * sizeof *v);
        if (!v) {
            cJSON_Delete(in);
            send_error(res, 503, "out of memory");
            return;
        }
        g_items.v = v;
        g_items.cap = cap;
    }
    item it = {g_items.next_id, strdup(name->valuestring), qty ? (long)qty->valuedouble : 1};
    cJSON_Delete(in);
    if (!it.name) {
        send_error(res, 503, "out of memory");
        return;
    }
    g_items.next_id++;
    g_items.v[g_items.n++] = it;
    char loc[32];
    snprintf(loc, sizeof loc, "/items/%ld", it.id);
    hz_res_set_header(res, "Location", loc);
    send_json(res, 201, item_json(&it));
}

static void delete_item(hz_req *req, hz_res *res, void *ud)
{
    (void)ud;
    size_t at;
    item *it = find(req, &at);
    if (!it) {
        send_error(res, 404, "no such item");
        return;
    }
    free(it->name);
    memmove(&g_items.v[at], &g_items.v[at + 1], (g_items.n - at - 1) * sizeof *it);
    g_items.n--;
    hz_res_send(res, 204, NULL, 0);
}

int main(int argc, char **argv)
{
    long port = 8081;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            port = strtol(argv[++i], &end, 10);
            if (*end || port < 0 || port > 65535) {
                fprintf(stderr, "items_json: bad --port\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: items_json [--port N]\n");
            return 2;
        }
    }
    hz_config cfg;
    hz_config_init(&cfg);
    cfg.loops = 1;
    int rc = hz_server_create(&g_srv, &cfg);
    if (rc < 0) {
        fprintf(stderr, "items_json: %s\n", hz_strerror(rc));
        return 1;
    }
    hz_route_opts post;
    hz_route_opts_init(&post);
    post.body_limit = BODY_LIMIT;
    if ((rc = hz_route(g_srv, "GET", "/items", list_items, NULL)) < 0 ||
        (rc = hz_route_with(g_srv, "POST", "/items", create_item, NULL, &post)) < 0 ||
        (rc = hz_route(g_srv, "GET", "/items/:id", get_item, NULL)) < 0 ||
        (rc = hz_route(g_srv, "DELETE", "/items/:id", delete_item, NULL)) < 0 ||
        (rc = hz_server_listen(g_srv, "127.0.0.1", (int)port, NULL)) < 0) {
        fprintf(stderr, "items_json: %s\n", hz_strerror(rc));
        hz_server_destroy(g_srv);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("items_json listening on 127.0.0.1:%d\n", hz_server_port(g_srv, rc));
    fflush(stdout);
    rc = hz_server_run(g_srv);
    /* A second signal (timeout(1), a supervisor) must not reach the
     * server once destroyed. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    hz_server_destroy(g_srv);
    for (size_t i = 0; i < g_items.n; i++)
        free(g_items.v[i].name);
    free(g_items.v);
    return rc < 0 ? 1 : 0;
}
