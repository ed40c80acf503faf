/* static.c — serving the embedded web app (static.h). The files are kept
 * only gzip-compressed, so a client must accept gzip: every browser does;
 * a request without Accept-Encoding may get any coding (RFC 9110, 12.5.3),
 * so it gets gzip too; one whose Accept-Encoding excludes gzip gets 406 with
 * a message instead of bytes it cannot read. */
#include "serve/static.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const wf_static_file *wf_static_find(const char *url) {
    if (!url) return NULL;
    if (!strcmp(url, "/")) url = "/index.html";
    for (size_t i = 0; i < wf_static_n_files; i++)
        if (!strcmp(url, wf_static_files[i].path)) return &wf_static_files[i];
    return NULL;
}

/* Does an Accept-Encoding value allow gzip? A list of codings with
 * optional ;q=; gzip (or x-gzip, or *) with q > 0 allows it. */
static bool gzip_ok(const char *ae) {
    if (!ae) return true;
    const char *p = ae;
    bool star = false, gzip = false, gzip_zero = false;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *name = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t') p++;
        size_t n = (size_t)(p - name);
        double q = 1.0;
        while (*p && *p != ',') {
            if (*p == ';') {
                p++;
                while (*p == ' ') p++;
                if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=') q = strtod(p + 2, NULL);
            } else {
                p++;
            }
        }
        bool is_gzip = (n == 4 && !strncasecmp(name, "gzip", 4)) || (n == 6 && !strncasecmp(name, "x-gzip", 6));
        if (is_gzip) { gzip = q > 0; gzip_zero = q <= 0; }
        if (n == 1 && name[0] == '*') star = q > 0;
    }
    return gzip || (star && !gzip_zero);
}

/* Does If-None-Match list etag (or "*")? */
static bool etag_matches(const char *inm, const char *etag) {
    if (!inm) return false;
    size_t el = strlen(etag);
    for (const char *p = inm; *p;) {
        while (*p == ' ' || *p == ',') p++;
        if (p[0] == '*') return true;
        if (p[0] == 'W' && p[1] == '/') p += 2; /* weak comparison (RFC 9110, 13.1.2) */
        if (!strncmp(p, etag, el) && (p[el] == 0 || p[el] == ',' || p[el] == ' ')) return true;
        while (*p && *p != ',') p++;
    }
    return false;
}

static bool add(struct MHD_Response *r, const char *k, const char *v) {
    return MHD_add_response_header(r, k, v) == MHD_YES;
}

static int finish(struct MHD_Connection *c, struct MHD_Response *r, unsigned code, int *status) {
    if (!r) return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    *status = (int)code;
    return ret;
}

int wf_static_send(struct MHD_Connection *c, const wf_static_file *f, int *status) {
    const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING);
    if (!gzip_ok(ae)) {
        static const char msg[] = "The wafer app is stored gzip-compressed only; send Accept-Encoding: gzip (every browser does).\n";
        struct MHD_Response *r = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        if (r && !(add(r, "Content-Type", "text/plain; charset=utf-8") && add(r, "Vary", "Accept-Encoding"))) {
            MHD_destroy_response(r);
            r = NULL;
        }
        return finish(c, r, 406, status);
    }
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool fresh = etag_matches(inm, f->etag);
    struct MHD_Response *r = fresh ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
                                   : MHD_create_response_from_buffer(f->gz_len, (void *)f->gz, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    /* index.html is revalidated every time (it names the hashed assets);
     * the hashed assets never change under their name */
    bool ok = add(r, "ETag", f->etag) &&
              add(r, "Cache-Control", f->immutable ? "public, max-age=31536000, immutable" : "no-cache") &&
              add(r, "Vary", "Accept-Encoding") && add(r, "X-Content-Type-Options", "nosniff") &&
              add(r, "Referrer-Policy", "no-referrer") && add(r, "Cross-Origin-Opener-Policy", "same-origin") &&
              add(r, "Content-Security-Policy", WF_STATIC_CSP);
    if (ok && !fresh) ok = add(r, "Content-Type", f->type) && add(r, "Content-Encoding", "gzip");
    if (!ok) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    return finish(c, r, fresh ? 304 : 200, status);
}
