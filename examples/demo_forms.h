/* demo_forms.h - the demo's form routes (demo_forms.c). */
#ifndef DEMO_FORMS_H
#define DEMO_FORMS_H

#include <httpz/httpz.h>

/* Adds POST /upload (multipart/form-data, files streamed and hashed, body
 * limit 64 MiB) and POST /form (application/x-www-form-urlencoded, 1 MiB).
 * Returns 0 or the hz_route_with error. */
int demo_forms_routes(hz_server *srv);

#endif
