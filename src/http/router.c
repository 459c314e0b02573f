/* router.c: route pattern compilation and matching (see router.h). Linear scan: the table has
 * about fifty routes and a scan with early rejection on segment count costs well under a
 * microsecond, less than any hashing scheme would save. */
#include "http/router.h"

#include <stdlib.h>
#include <string.h>

static void entry_free(struct http_router_entry *e)
{
    for (size_t i = 0; i < e->nseg; i++) free(e->seg[i]);
    for (size_t i = 0; i < e->nparams; i++) free(e->param_name[i]);
    memset(e, 0, sizeof *e);
}

static int compile(struct http_router_entry *e, const struct http_route *rt, char *err, size_t errlen)
{
    const char *p = rt->pattern;
    memset(e, 0, sizeof *e);
    e->route = rt;
    if (!p || p[0] != '/')
        return sg_errf(err, errlen, SG_EINVAL, "route pattern '%s' must start with '/'", p ? p : "");
    p++;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0) goto bad;
        if (e->nseg >= HTTP_MAX_SEGMENTS) goto bad;
        if (p[0] == '{') {
            if (len < 3 || p[len - 1] != '}' || e->nparams >= HTTP_MAX_PARAMS) goto bad;
            char *name = strndup(p + 1, len - 2);
            if (!name) goto nomem;
            e->param_name[e->nparams++] = name;
            e->seg[e->nseg++] = NULL;
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len)) goto bad;
            char *lit = strndup(p, len);
            if (!lit) goto nomem;
            e->seg[e->nseg++] = lit;
            e->nliteral++;
        }
        p += len;
        if (*p == '/') {
            p++;
            if (*p == '\0') goto bad; /* trailing slash */
        }
    }
    return SG_OK;
bad:
    entry_free(e);
    return sg_errf(err, errlen, SG_EINVAL, "route pattern '%s' is malformed", rt->pattern);
nomem:
    entry_free(e);
    return sg_errf(err, errlen, SG_ENOMEM, "out of memory compiling routes");
}

int http_router_init(struct http_router *r, const struct http_route *routes, size_t n, char *err,
                     size_t errlen)
{
    r->n = 0;
    r->entries = calloc(n ? n : 1, sizeof *r->entries);
    if (!r->entries) return sg_errf(err, errlen, SG_ENOMEM, "out of memory compiling routes");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(routes[i].method, routes[j].method) &&
                !strcmp(routes[i].pattern, routes[j].pattern)) {
                http_router_fini(r);
                return sg_errf(err, errlen, SG_EINVAL, "route %s %s is defined twice",
                               routes[i].method, routes[i].pattern);
            }
        }
        int rc = compile(&r->entries[i], &routes[i], err, errlen);
        if (rc) {
            http_router_fini(r);
            return rc;
        }
        r->n = i + 1;
    }
    return SG_OK;
}

void http_router_fini(struct http_router *r)
{
    if (!r->entries) return;
    for (size_t i = 0; i < r->n; i++) entry_free(&r->entries[i]);
    free(r->entries);
    r->entries = NULL;
    r->n = 0;
}

const char *http_router_param_name(const struct http_router *r, size_t route, size_t i)
{
    if (route >= r->n || i >= r->entries[route].nparams) return NULL;
    return r->entries[route].param_name[i];
}

/* Splits the path in m->scratch into segments; returns the count or -1 when malformed. */
static int split_path(const char *path, struct http_match *m, char *segs[HTTP_MAX_SEGMENTS])
{
    size_t len = strlen(path);
    if (path[0] != '/' || len > HTTP_PATH_MAX) return -1;
    memcpy(m->scratch, path + 1, len); /* includes the NUL */
    int n = 0;
    char *p = m->scratch;
    if (*p == '\0') return 0;
    for (;;) {
        if (n >= HTTP_MAX_SEGMENTS) return -1;
        char *slash = strchr(p, '/');
        if (slash) *slash = '\0';
        if (*p == '\0') return -1; /* empty segment or trailing slash */
        segs[n++] = p;
        if (!slash) break;
        p = slash + 1;
    }
    return n;
}

static void allow_add(char *allow, size_t cap, const char *method)
{
    size_t used = strlen(allow);
    /* skip duplicates (two patterns of one method may both match) */
    const char *q = allow;
    size_t ml = strlen(method);
    while ((q = strstr(q, method)) != NULL) {
        if ((q == allow || q[-1] == ' ') && (q[ml] == ',' || q[ml] == '\0')) return;
        q += ml;
    }
    if (used + ml + 3 > cap) return;
    if (used) {
        memcpy(allow + used, ", ", 2);
        used += 2;
    }
    memcpy(allow + used, method, ml + 1);
}

enum http_match_kind http_router_match(const struct http_router *r, const char *method,
                                       const char *path, struct http_match *m)
{
    char *segs[HTTP_MAX_SEGMENTS];
    m->nparams = 0;
    m->allow[0] = '\0';
    m->index = 0;
    int nseg = split_path(path, m, segs);
    if (nseg < 0) return HTTP_MATCH_NOT_FOUND;
    long best = -1, best_other = -1;
    for (size_t i = 0; i < r->n; i++) {
        const struct http_router_entry *e = &r->entries[i];
        if (e->nseg != (size_t)nseg) continue;
        size_t k = 0;
        for (; k < e->nseg; k++)
            if (e->seg[k] && strcmp(e->seg[k], segs[k]) != 0) break;
        if (k != e->nseg) continue;
        if (strcmp(e->route->method, method) == 0) {
            if (best < 0 || e->nliteral > r->entries[best].nliteral) best = (long)i;
        } else if (best_other < 0 || e->nliteral > r->entries[best_other].nliteral) {
            best_other = (long)i;
        }
    }
    /* A more specific pattern of another method shadows a generic one of this method:
     * POST /gaps/high-priority is 405, not POST /gaps/{id}. */
    if (best >= 0 && (best_other < 0 || r->entries[best].nliteral >= r->entries[best_other].nliteral)) {
        const struct http_router_entry *e = &r->entries[best];
        m->index = (size_t)best;
        for (size_t k = 0; k < e->nseg; k++)
            if (!e->seg[k]) m->params[m->nparams++] = segs[k];
        return HTTP_MATCH_OK;
    }
    if (best_other < 0) return HTTP_MATCH_NOT_FOUND;
    size_t lit = r->entries[best_other].nliteral;
    for (size_t i = 0; i < r->n; i++) {
        const struct http_router_entry *e = &r->entries[i];
        if (e->nseg != (size_t)nseg || e->nliteral != lit) continue;
        size_t k = 0;
        for (; k < e->nseg; k++)
            if (e->seg[k] && strcmp(e->seg[k], segs[k]) != 0) break;
        if (k == e->nseg) allow_add(m->allow, sizeof m->allow, e->route->method);
    }
    return HTTP_MATCH_BAD_METHOD;
}
