/* response.c: building responses (JSON documents, the error shape), status mapping, request ids
 * and role names (see http.h). */
#include "http/http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

const char *http_role_name(enum http_role r)
{
    switch (r) {
    case HTTP_ROLE_READER: return "reader";
    case HTTP_ROLE_WRITER: return "writer";
    case HTTP_ROLE_ADMIN: return "admin";
    default: return "public";
    }
}

int http_role_parse(const char *s, enum http_role *out)
{
    *out = HTTP_ROLE_READER;
    if (!s) return SG_EINVAL;
    if (!strcmp(s, "reader")) *out = HTTP_ROLE_READER;
    else if (!strcmp(s, "writer")) *out = HTTP_ROLE_WRITER;
    else if (!strcmp(s, "admin")) *out = HTTP_ROLE_ADMIN;
    else return SG_EINVAL;
    return SG_OK;
}

static void set_body(struct http_response *res, int status, char *body, const char *ctype)
{
    free(res->body);
    res->status = status;
    res->body = body;
    res->body_len = body ? strlen(body) : 0;
    res->content_type = ctype;
}

static const char fallback_500[] =
    "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\",\"request_id\":\"\"}}";

void http_json(struct http_response *res, int status, json_t *doc)
{
    if (!doc) {
        set_body(res, status, NULL, NULL);
        return;
    }
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10) | JSON_ENCODE_ANY);
    json_decref(doc);
    if (!text) {
        set_body(res, 500, strdup(fallback_500), NULL);
        return;
    }
    set_body(res, status, text, NULL);
}

void http_text(struct http_response *res, int status, const char *content_type, char *body)
{
    set_body(res, status, body, content_type);
}

void http_error(const struct http_request *req, struct http_response *res, int status,
                const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_copy(res->error_msg, sizeof res->error_msg, msg);
    json_t *doc = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", msg,
                            "request_id", req ? req->request_id : "");
    if (!doc) {
        set_body(res, 500, strdup(fallback_500), NULL);
        return;
    }
    http_json(res, status, doc);
}

int http_status_for_err(int code)
{
    switch (code) {
    case SG_OK: return 200;
    case SG_EINVAL:
    case SG_ERANGE:
    case SG_EPARSE: return 400;
    case SG_EAUTH: return 401;
    case SG_EFORBIDDEN: return 403;
    case SG_ENOTFOUND: return 404;
    case SG_ECONFLICT: return 409;
    case SG_ETOOBIG: return 413;
    case SG_ETRANSITION: return 422;
    case SG_EUNSUPPORTED: return 501;
    case SG_EBUSY: return 503;
    default: return 500;
    }
}

void http_error_from_err(const struct http_request *req, struct http_response *res, int code,
                         const char *detail)
{
    int status = http_status_for_err(code);
    if (status >= 500) {
        /* detail may name a statement or a database message: log it, never send it */
        LOG_ERROR("request failed request_id=%s route=%s code=%s detail=\"%s\"",
                  req ? req->request_id : "", req && req->route ? req->route->pattern : "",
                  sg_errcode_name(code), detail ? detail : "");
        http_error(req, res, status, sg_errcode_name(code),
                   status == 503 ? "the service is busy; retry shortly" : "internal error");
        return;
    }
    http_error(req, res, status, sg_errcode_name(code), "%s",
               detail && *detail ? detail : sg_strerror(code));
}

int http_request_id_valid(const char *s)
{
    if (!s) return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (n >= HTTP_REQID_MAX) return 0;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.' || ch == ':'))
            return 0;
    }
    return n > 0;
}

void http_request_id_new(char out[HTTP_REQID_MAX + 1])
{
    char uuid[SG_UUID_LEN];
    if (sg_uuid_v4(uuid) != SG_OK) {
        /* the CSPRNG failed: fall back to a process-unique counter so responses stay traceable */
        static _Atomic unsigned long counter;
        snprintf(out, HTTP_REQID_MAX + 1, "req-%lu", ++counter);
        return;
    }
    memcpy(out, uuid, SG_UUID_LEN);
}

void http_copy(char *dst, size_t n, const char *src)
{
    size_t len = strlen(src);
    if (len >= n) len = n - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}
