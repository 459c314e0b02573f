/* api.h: the service's route table and the hooks that connect the HTTP layer to the store.
 *
 * api_init() prepares the application state handed to every handler (the store, the member-ID
 * HMAC key, the configuration); api_routes() is the one route table of the service; the hook
 * functions are given to http_server_start (key lookup, api_logs sink, extra metrics). */
#ifndef SG_API_H
#define SG_API_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/memberid.h"
#include "db/store.h"
#include "http/http.h"
#include "http/logq.h"

struct meas_engine;

struct api_app {
    struct store *st;                 /* borrowed; outlives the server */
    const struct sg_config *cfg;      /* borrowed */
    const struct sg_memberid *member; /* member-ID HMAC key (borrowed) */
    const struct meas_engine *meas;   /* measure engine for the FHIR operations (borrowed; set
                                         after api_init when valuesets_dir is configured; NULL:
                                         those routes answer 503) */
};

/* Fills app with borrowed pointers to the store, the configuration and the member-ID key; all
 * three must outlive the server. */
void api_init(struct api_app *app, struct store *st, const struct sg_config *cfg,
              const struct sg_memberid *member);

/* Returns the route table (static; *n entries). Patterns are full paths ("/api/v1/gaps/{id}"). */
const struct http_route *api_routes(size_t *n);

/* http_key_lookup hook: ctx is the struct api_app. Revoked and unknown keys give SG_ENOTFOUND. */
int api_key_lookup(void *ctx, const char *key_hash, char *name, enum http_role *role);

/* http_log_sink hook: writes rows to api_logs in one batch. ctx is the struct api_app. */
int api_log_sink(void *ctx, const struct http_log_row *rows, size_t n);

/* Metrics hook: appends the store's lines (stargap_store_info{backend=...}) to out. The
 * PostgreSQL pool's counters are not reachable through store.h yet. Returns sg_buf errors. */
int api_metrics_extra(void *ctx, struct sg_buf *out);

/* The embedded OpenAPI 3 document (docs/openapi.json), NUL-terminated, static. */
extern const char api_openapi_json[];

#endif
