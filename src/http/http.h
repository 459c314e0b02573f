/* http.h: the HTTP layer's contract with the handlers (src/api/) and the CLI.
 *
 * The server (server.c, the only file that includes microhttpd.h) reads a request, matches it
 * against one route table, authenticates the API key, applies the per-key rate limit, calls the
 * route's handler and sends its JSON response with X-Request-ID and X-Process-Time-Ms. Handlers
 * see a struct http_request (borrowed for the duration of the call) and fill a struct
 * http_response through http_json() or http_error(). The layer knows nothing about the store:
 * key lookup, the api_logs sink and extra metrics come in through struct http_hooks. */
#ifndef SG_HTTP_H
#define SG_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "core/hash.h"

#define HTTP_MAX_PARAMS 4     /* most {params} in one route pattern */
#define HTTP_PATH_MAX 1024    /* longest request path accepted (longer: 404) */
#define HTTP_REQID_MAX 64     /* longest X-Request-ID taken from a client */
#define HTTP_KEY_NAME_MAX 128 /* longest API key name */
#define HTTP_MAX_QUERY 32     /* most query parameters in one request (more: 400) */

/* Roles are ordered: a key may call every route whose role is at most its own. */
enum http_role { HTTP_ROLE_PUBLIC = 0, HTTP_ROLE_READER = 1, HTTP_ROLE_WRITER = 2, HTTP_ROLE_ADMIN = 3 };

/* Returns "public", "reader", "writer" or "admin" (static). */
const char *http_role_name(enum http_role r);

/* Parses "reader", "writer" or "admin" into *out. Returns SG_OK or SG_EINVAL. */
int http_role_parse(const char *s, enum http_role *out) SG_WUR;

struct http_kv {
    const char *key;   /* borrowed from the connection for the request's lifetime */
    const char *value; /* "" for a parameter given without '=' */
};

struct http_route;
struct http_server;

/* One request as a handler sees it. Every pointer is borrowed and valid during the handler call. */
struct http_request {
    const char *method;                      /* "GET", "POST", ... */
    const char *path;                        /* decoded path without the query string */
    const struct http_route *route;          /* the matched route */
    size_t route_index;                      /* its index in the route table */
    const char *params[HTTP_MAX_PARAMS];     /* values of the pattern's {params}, in order */
    size_t nparams;
    struct http_kv query[HTTP_MAX_QUERY];    /* query parameters in arrival order */
    size_t nquery;
    const char *body;                        /* request body, NUL-terminated ("" when none) */
    size_t body_len;
    char request_id[HTTP_REQID_MAX + 1];     /* taken from X-Request-ID or generated */
    char key_name[HTTP_KEY_NAME_MAX + 1];    /* authenticated key name ("" on public routes) */
    char key_hash[SG_HEX64_LEN];             /* SHA-256 hex of the presented key ("" if none) */
    enum http_role role;                     /* role of the authenticated key */
    char client_ip[64];                      /* peer address as text */
    void *app;                               /* http_server_options.app, for the handler */
    struct http_server *server;              /* the serving server (for /metrics) */
    void *conn;                              /* server-private connection handle */
    int can_defer;                           /* the handler may call http_defer / http_requeue */
};

/* A response being built: status and an owned JSON text. */
struct http_response {
    int status;           /* HTTP status; 0 until set */
    char *body;           /* owned, malloc'd text (NULL: empty body) */
    const char *content_type; /* static string; NULL means application/json */
    size_t body_len;
    long retry_after_s;   /* > 0: send Retry-After */
    char allow[64];       /* non-empty: send Allow (405) */
    char error_msg[160];  /* short error text kept for api_logs (never member data) */
};

/* A handler fills res (through http_json/http_error) and returns nothing; it must not keep
 * pointers into req after returning. */
typedef void (*http_handler)(struct http_request *req, struct http_response *res);

struct http_route {
    const char *method;   /* "GET", "POST", "PATCH", "DELETE" */
    const char *pattern;  /* "/api/v1/gaps/{id}": literal segments and {name} segments */
    http_handler handler;
    enum http_role role;  /* least role allowed; HTTP_ROLE_PUBLIC needs no key */
    /* Nonzero: the handler waits long (an audited write or member-level read waiting for its
     * group commit, or a computation of seconds). The server runs it on one of its queue
     * workers with the connection suspended, so the connection threads keep serving others
     * and every such request can join the same group (server.h). */
    int queued;
};

/* `queued` values: 0 runs the handler on the connection thread; HTTP_QUEUED on a queue worker;
 * HTTP_DEFERRABLE first on the connection thread with req->can_defer set, where the handler
 * either answers at once, or starts work that completes later and calls http_defer(), or calls
 * http_requeue() to be run again the HTTP_QUEUED way (req->can_defer then 0). */
#define HTTP_QUEUED 1
#define HTTP_DEFERRABLE 2

/* The response of a deferred request, finished later (http_defer). */
struct http_deferral;

/* Called exactly once for a deferred request: with res, on a connection thread after
 * http_deferral_done, to fill the response from ctx (http_json / http_error) and free ctx; with
 * res NULL when the connection went away first, to free ctx only. */
typedef void (*http_finish)(struct http_request *req, struct http_response *res, void *ctx);

/* Only when req->can_defer: the response will be finished later by finish(req, res, ctx),
 * after the work the handler starts next calls http_deferral_done() on the returned handle.
 * The handler then returns without filling res; req stays valid until finish. If starting the
 * work fails, the handler calls http_defer_cancel() and answers (or requeues) as usual. */
struct http_deferral *http_defer(struct http_request *req, http_finish finish, void *ctx);
/* Withdraws an http_defer of the handler still running (its work was not started). */
void http_defer_cancel(struct http_deferral *d);
/* The deferred work is done (from any thread, once): the connection is resumed and finish runs
 * on a connection thread. */
void http_deferral_done(struct http_deferral *d);
/* Only when req->can_defer: run this handler again on a queue worker (req->can_defer 0), e.g.
 * when the store has no asynchronous form of the operation. The handler returns at once,
 * without filling res. */
void http_requeue(struct http_request *req);

/* Returns the value of request header `name` (case-insensitive), borrowed, or NULL. */
const char *http_req_header(const struct http_request *req, const char *name);

/* Returns the value of query parameter `name`, borrowed, or NULL when absent. */
const char *http_req_query(const struct http_request *req, const char *name);

/* Sets res to `status` with the JSON document `doc` (reference stolen, may be NULL for an empty
 * body). Reals are printed with 10 significant digits. On allocation failure res becomes a 500. */
void http_json(struct http_response *res, int status, json_t *doc);

/* Sets res to `status` with an owned text body (stolen; must be malloc'd) of the given static
 * content type. */
void http_text(struct http_response *res, int status, const char *content_type, char *body);

/* Sets res to an error response {"error":{"code","message","request_id"}}. `code` is the stable
 * machine token ("invalid_input", "not_found", ...). The message must not contain member data. */
void http_error(const struct http_request *req, struct http_response *res, int status,
                const char *code, const char *fmt, ...) SG_PRINTF(5, 6);

/* Maps an sg_err code to its HTTP status (SG_EINVAL->400, SG_ENOTFOUND->404, SG_ECONFLICT->409,
 * SG_ETRANSITION->422, SG_EBUSY->503, SG_EDB/SG_EINTERNAL/...->500). */
int http_status_for_err(int code);

/* Sets res from an sg_err code and its detail message. For 5xx statuses the detail is logged
 * with the request id and the client receives a generic message. */
void http_error_from_err(const struct http_request *req, struct http_response *res, int code,
                         const char *detail);

/* Copies src into dst of size n (n > 0), truncating and always NUL-terminating. */
void http_copy(char *dst, size_t n, const char *src);

/* True when s may be used as a request id: 1..64 characters of [A-Za-z0-9._:-]. */
int http_request_id_valid(const char *s);

/* Writes a new request id (a random UUID) into out. */
void http_request_id_new(char out[HTTP_REQID_MAX + 1]);

#endif
