/* itest_ws.h - what the WebSocket integration tests share (test_websocket
 * over HTTP/1.1, test_ws_h2 over HTTP/2): callbacks that count opens and
 * closes and echo, a sender that goes on until the output budget refuses,
 * the flood route, and a raw HTTP/1.1 client that upgrades and speaks
 * frames. */
#ifndef HZ_ITEST_WS_H
#define HZ_ITEST_WS_H

#include <stdatomic.h>
#include <stdint.h>
#include <httpz/httpz.h>
#include "itest.h"
#include "test_alloc.h"

/* ---- the server side ---------------------------------------------------------- */

/* Raised by the callbacks below; zeroed by itws_reset. */
extern atomic_int itws_closes;    /* on_close calls */
extern atomic_int itws_last_code; /* the code of the last one */
extern atomic_int itws_opens;     /* on_open calls */

void itws_reset(void);
/** on_close: counts, and records the code. */
void itws_on_close(hz_ws *ws, unsigned code, const char *r, size_t len, void *ud);
/** on_open: counts. */
void itws_on_open(hz_ws *ws, void *ud);
/** on_message: sends the message back (asserts that the send took it). */
void itws_echo(hz_ws *ws, int op, const void *d, size_t len, int fin, void *ud);
/** Waits (5 s at most) until itws_closes reaches n; asserts it did. */
void itws_wait_closes(int n);
/** For on_open and on_drain: sends msg (a shared message), or with msg NULL
 *  a binary message of len bytes of data, until *sent reaches n or the
 *  output budget refuses (HZ_EAGAIN: the next on_drain goes on). */
void itws_pump(hz_ws *ws, atomic_int *sent, int n, hz_ws_msg *msg, const void *data, size_t len);

/* The flood route (itws_h_flood, ud: a const int *, how many messages):
 * binary messages of ITWS_FLOOD_MSG bytes sent as fast as an output budget
 * of ITWS_FLOOD_BUDGET allows, resumed by each on_drain. */
#define ITWS_FLOOD_MSG 16384
#define ITWS_FLOOD_BUDGET 32768
/* What a completion poller may hold for a socket beyond what the core
 * counts in its budget: the core counts at most half the budget of the
 * poller's queue (hz__sock_held_in), and io_uring's queue takes up to
 * 64 KiB per socket. A readiness poller's bytes wait in the kernel. */
#define ITWS_POLLER_UNCOUNTED (65536 - ITWS_FLOOD_BUDGET / 2)
extern atomic_int itws_flood_sent;  /* messages sent; zeroed by itws_reset */
extern atomic_int itws_flood_calls; /* on_open + on_drain calls; likewise */
void itws_h_flood(hz_req *req, hz_res *res, void *ud);

/** Accepts req as a producer: refill runs at on_open and at every
 *  on_drain (it sends until the budget refuses), a text message "stop"
 *  starts the closing handshake (1000), on_close is itws_on_close. */
void itws_accept_producer(hz_req *req, hz_res *res, void (*refill)(hz_ws *ws, void *ud),
                          size_t budget);

/* ---- a raw client (HTTP/1.1 upgrade) ------------------------------------------ */

/* The RFC 6455 sample key; its accept value is checked by it_ws_open. */
extern const char IT_WS_KEY[];

typedef struct it_ws_frame {
    unsigned b0;
    uint8_t *data; /* malloc'd, NUL-terminated */
    size_t len;
} it_ws_frame;

/** An upgrade request for path with extra header lines (each ending in CRLF). */
void it_ws_upgrade_req(char *buf, size_t cap, const char *path, const char *extra);
/** Reads a response head (it_read_response takes 1xx for interim). 0 or -1. */
int it_ws_read_head(it_conn *c, it_resp *r, int timeout_ms);
/** Connects and upgrades; the 101 is consumed (and kept in out unless NULL). */
void it_ws_open(it_conn *c, int port, const char *path, const char *extra, it_resp *out);
/** Sends one masked (or, with mask 0, unmasked) frame. */
void it_ws_send(it_conn *c, unsigned b0, const void *p, size_t len, int mask);
/** Reads one server frame (unmasked); -1 on timeout or EOF. */
int it_ws_read(it_conn *c, it_ws_frame *f, int timeout_ms);
/** The close code of a close frame, 0 if it has none. */
unsigned it_ws_close_code(const it_ws_frame *f);
/** Expects a close frame with code (pings and pongs skipped), then the TCP
 *  connection closed. */
void it_ws_expect_close(it_conn *c, unsigned code);

#endif
