/* h_system.c: health, readiness, Prometheus metrics and the OpenAPI document. */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/log.h"
#include "http/server.h"

void api_h_health(struct http_request *req, struct http_response *res)
{
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    http_json(res, 200, json_pack("{s:s,s:s}", "status", "ok", "version", STARGAP_VERSION));
}

void api_h_live(struct http_request *req, struct http_response *res)
{
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    http_json(res, 200, json_pack("{s:s}", "status", "alive"));
}

/* Ready when the database answers and every embedded migration is applied unchanged. */
void api_h_ready(struct http_request *req, struct http_response *res)
{
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    struct store_schema_status ss;
    char err[SG_ERRLEN] = "";
    int rc = store_schema_status(APP(req)->st, &ss, err, sizeof err);
    if (rc != SG_OK) {
        LOG_WARN("readiness check failed request_id=%s detail=\"%s\"", req->request_id, err);
        http_error(req, res, 503, "not_ready", "the database is not reachable");
        return;
    }
    if (ss.pending || ss.changed || ss.current_version != ss.latest_version) {
        http_error(req, res, 503, "not_ready",
                   "database schema at version %d, this binary needs %d (%d pending, %d changed)",
                   ss.current_version, ss.latest_version, ss.pending, ss.changed);
        return;
    }
    http_json(res, 200, json_pack("{s:s,s:i}", "status", "ready", "schema_version", ss.current_version));
}

void api_h_metrics(struct http_request *req, struct http_response *res)
{
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    struct sg_buf b;
    sg_buf_init(&b, 4u << 20);
    if (http_server_render_metrics(req->server, &b) != SG_OK) {
        sg_buf_fini(&b);
        http_error(req, res, 500, "internal_error", "internal error");
        return;
    }
    char *text = sg_buf_take(&b);
    if (!text) {
        http_error(req, res, 500, "internal_error", "internal error");
        return;
    }
    http_text(res, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}

void api_h_openapi(struct http_request *req, struct http_response *res)
{
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    char *copy = strdup(api_openapi_json);
    if (!copy) {
        http_error(req, res, 500, "internal_error", "internal error");
        return;
    }
    http_text(res, 200, "application/json", copy);
}
