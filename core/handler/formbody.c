/* formbody.c - hz_form_read: a form decoder (core/proto/formstream.c)
 * driven by a streamed request body. Written against the public API only,
 * like any handler a user could write: hz_req_on_body's chunks go to
 * hz_form_feed, its end to hz_form_finish, and the caller hears the
 * outcome once. */
#include <httpz/httpz.h>

/* Runs the caller's done callback at most once: the body's end can still
 * be reported (HZ_ECLOSED) after a decoding error was. */
static void report(hz_form *f, int status)
{
    hz_form_done_fn done = f->done;
    if (!done)
        return;
    f->done = NULL;
    done(f->req, status, f->done_ud);
}

static int form_chunk(hz_req *req, const void *data, size_t len, void *ud)
{
    (void)req;
    hz_form *f = ud;
    if (!f->done)
        return HZ_ECANCELED; /* already reported: stop reading */
    int rc = hz_form_feed(f, data, len);
    if (rc == 0)
        return 0;
    /* The handler answers from done (413, 400, ...). A negative return
     * then stops reading and closes after that answer: the rest of a body
     * that broke a limit is not worth reading. HZ_EAGAIN would mean
     * "pause" to the connection, so it is not passed on as such. */
    report(f, rc);
    return rc == HZ_EAGAIN ? HZ_ECANCELED : rc;
}

static void form_end(hz_req *req, int status, void *ud)
{
    (void)req;
    hz_form *f = ud;
    if (!f->done)
        return;
    report(f, status < 0 ? status : hz_form_finish(f));
}

int hz_form_read(hz_req *req, hz_form *f, hz_form_done_fn done, void *ud)
{
    if (!req || !f || !done)
        return HZ_EINVAL;
    f->req = req;
    f->done = done;
    f->done_ud = ud;
    int rc = hz_req_on_body(req, form_chunk, form_end, f);
    if (rc < 0)
        f->done = NULL;
    return rc;
}
