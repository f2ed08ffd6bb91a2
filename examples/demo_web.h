/* demo_web.h - the demo's web app (examples/www/): the status page and its
 * Server-Sent Events feed, the streamed download. See demo_web.c. */
#ifndef DEMO_WEB_H
#define DEMO_WEB_H

#include <httpz/httpz.h>

/** Routes the web app on srv: GET / (www/index.html), GET /app/... (the
 *  files of www), GET /status/events (SSE, one JSON event per second) and
 *  GET /stream (a body in pieces with pauses). www is the directory served.
 *  0, or a negative HZ_E* error. thread: the caller of hz_server_create,
 *  before hz_server_start. */
int demo_web_routes(hz_server *srv, const char *www);

/** Ends the open event streams at their next tick (async-signal-safe: call
 *  it from the signal handler that stops the server). */
void demo_web_stop(void);

/** The value of key in req's query string as a decimal number in [0, max]
 *  (a larger one gives max, digits stop at the first other byte), or def
 *  when key is not there. Shared by the demo's routes (demo.c). thread: the
 *  handler's. */
long demo_query_num(const hz_req *req, const char *key, long def, long max);

/** Frees what demo_web_routes made; after hz_server_destroy. NULL-safe. */
void demo_web_free(void);

#endif
