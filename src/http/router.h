/* router.h: matching a method and path against the one route table.
 *
 * Patterns are split into segments once (http_router_init). A path matches a pattern when it has
 * the same number of segments and every literal segment is equal; {name} segments match any
 * non-empty segment. When several patterns match, the one with the most literal segments wins,
 * so /gaps/high-priority beats /gaps/{id}. A path that matches patterns of other methods only
 * gives HTTP_MATCH_BAD_METHOD with the Allow list. */
#ifndef SG_HTTP_ROUTER_H
#define SG_HTTP_ROUTER_H

#include "http/http.h"

#define HTTP_MAX_SEGMENTS 12 /* most segments in a pattern or accepted path */

struct http_router_entry {
    const struct http_route *route;
    size_t nseg;
    char *seg[HTTP_MAX_SEGMENTS]; /* owned copies; a {param} segment is stored as NULL */
    char *param_name[HTTP_MAX_PARAMS];
    size_t nparams;
    size_t nliteral;
};

struct http_router {
    struct http_router_entry *entries; /* owned */
    size_t n;
};

enum http_match_kind { HTTP_MATCH_OK = 0, HTTP_MATCH_NOT_FOUND, HTTP_MATCH_BAD_METHOD };

struct http_match {
    size_t index;                        /* matched route index (HTTP_MATCH_OK) */
    const char *params[HTTP_MAX_PARAMS]; /* point into scratch */
    size_t nparams;
    char allow[64];                      /* methods allowed on the path (HTTP_MATCH_BAD_METHOD) */
    char scratch[HTTP_PATH_MAX + 1];
};

/* Compiles the route table (borrowed; must outlive the router). Fails with SG_EINVAL naming the
 * pattern when one is malformed (not starting with '/', empty segment, too many segments or
 * params, unclosed brace) or when two routes have the same method and pattern. */
int http_router_init(struct http_router *r, const struct http_route *routes, size_t n, char *err,
                     size_t errlen) SG_WUR;

/* Frees the router's compiled patterns. */
void http_router_fini(struct http_router *r);

/* Matches method and path (no query string). Fills m and returns the kind of match. */
enum http_match_kind http_router_match(const struct http_router *r, const char *method,
                                       const char *path, struct http_match *m);

/* Returns the name of the i-th {param} of route index i (borrowed), or NULL. */
const char *http_router_param_name(const struct http_router *r, size_t route, size_t i);

#endif
