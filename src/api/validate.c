/* validate.c: strict input handling for the handlers: query parameters checked against a
 * per-handler spec (unknown ones rejected), path parameters, and JSON bodies decoded with
 * jansson in its strict mode (duplicate keys rejected; invalid UTF-8 and NUL characters are
 * rejected by jansson's decoder by default) with unknown fields rejected and wrong types named. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/hash.h"

int api_is_date(const char *s)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int max = mdays[m - 1] + (m == 2 && leap);
    return d <= max;
}

static int chars_ok(const char *s, size_t maxlen, const char *extra, int lower_ok)
{
    size_t n = strlen(s);
    if (n == 0 || n > maxlen) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isdigit(c) || isupper(c) || (lower_ok && islower(c)) || (extra && c && strchr(extra, c)))
            continue;
        return 0;
    }
    return 1;
}

static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    if (!*s || isspace((unsigned char)*s)) return -1;
    long v = strtol(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    if (!*s || isspace((unsigned char)*s)) return -1;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static void bad_param(const struct http_request *req, struct http_response *res, const char *name,
                      const char *what)
{
    http_error(req, res, 400, "invalid_input", "query parameter '%s': %s", name, what);
}

int api_query(const struct http_request *req, struct http_response *res,
              const struct api_param *specs, size_t n, struct api_qv *out)
{
    memset(out, 0, n * sizeof *out);
    for (size_t q = 0; q < req->nquery; q++) {
        const char *name = req->query[q].key, *v = req->query[q].value;
        size_t i = 0;
        while (i < n && strcmp(specs[i].name, name) != 0) i++;
        if (i == n) {
            char known[256] = "";
            size_t used = 0;
            for (size_t k = 0; k < n && used + 40 < sizeof known; k++)
                used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", k ? ", " : "", specs[k].name);
            if (n)
                http_error(req, res, 400, "invalid_input", "unknown query parameter '%.64s' (accepted: %s)", name, known);
            else
                http_error(req, res, 400, "invalid_input", "unknown query parameter '%.64s' (none accepted)", name);
            return -1;
        }
        const struct api_param *p = &specs[i];
        struct api_qv *o = &out[i];
        if (!*v) {
            bad_param(req, res, name, "must not be empty");
            return -1;
        }
        o->s = v;
        switch (p->type) {
        case AP_INT:
            if (parse_long(v, &o->i)) return bad_param(req, res, name, "expected an integer"), -1;
            if ((double)o->i < p->min || (double)o->i > p->max) {
                http_error(req, res, 400, "invalid_input", "query parameter '%s': must be between %.0f and %.0f",
                           name, p->min, p->max);
                return -1;
            }
            o->d = (double)o->i;
            break;
        case AP_REAL:
            if (parse_double(v, &o->d)) return bad_param(req, res, name, "expected a number"), -1;
            if (o->d < p->min || o->d > p->max) {
                http_error(req, res, 400, "invalid_input", "query parameter '%s': must be between %g and %g",
                           name, p->min, p->max);
                return -1;
            }
            break;
        case AP_UUID:
            if (!sg_is_uuid(v)) return bad_param(req, res, name, "expected a UUID"), -1;
            break;
        case AP_HEX64:
            if (!sg_is_hex64(v)) return bad_param(req, res, name, "expected 64 hexadecimal characters"), -1;
            break;
        case AP_DATE:
            if (!api_is_date(v)) return bad_param(req, res, name, "expected a date YYYY-MM-DD"), -1;
            break;
        case AP_ENUM: {
            size_t k = 0;
            for (; p->choices[k]; k++)
                if (!strcmp(p->choices[k], v)) break;
            if (!p->choices[k]) {
                char list[200] = "";
                size_t used = 0;
                for (size_t j = 0; p->choices[j] && used + 30 < sizeof list; j++)
                    used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", j ? ", " : "", p->choices[j]);
                http_error(req, res, 400, "invalid_input", "query parameter '%s': must be one of %s", name, list);
                return -1;
            }
            o->i = (long)k;
            break;
        }
        case AP_CODE:
            if (!chars_ok(v, 15, "-", 0)) return bad_param(req, res, name, "expected a measure code such as BCS"), -1;
            break;
        case AP_CONTRACT:
            if (!chars_ok(v, 15, NULL, 0)) return bad_param(req, res, name, "expected a contract id such as H1234"), -1;
            break;
        case AP_NAME:
            if (!chars_ok(v, 127, "_.:/{}-", 1)) return bad_param(req, res, name, "contains characters that are not allowed"), -1;
            break;
        }
        o->set = 1;
    }
    return 0;
}

int api_path_uuid(const struct http_request *req, struct http_response *res, size_t i)
{
    if (i < req->nparams && sg_is_uuid(req->params[i])) return 0;
    http_error(req, res, 400, "invalid_input", "path parameter 'id' must be a UUID");
    return -1;
}

int api_path_hex64(const struct http_request *req, struct http_response *res, size_t i)
{
    if (i < req->nparams && sg_is_hex64(req->params[i])) return 0;
    http_error(req, res, 400, "invalid_input", "path parameter 'member_hash' must be 64 hexadecimal characters");
    return -1;
}

json_t *api_body(const struct http_request *req, struct http_response *res,
                 const char *const *allowed)
{
    if (req->body_len == 0) {
        http_error(req, res, 400, "invalid_input", "a JSON object body is required");
        return NULL;
    }
    json_error_t je;
    json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!doc) {
        /* jansson's text may quote the input near the error ("near '...'"); the body can hold a
         * raw member ID, so only the reason before the quote is reported. */
        char reason[160];
        http_copy(reason, sizeof reason, je.text);
        char *near = strstr(reason, " near ");
        if (near) *near = '\0';
        http_error(req, res, 400, "malformed_json", "malformed JSON at line %d column %d: %s", je.line,
                   je.column, reason);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        http_error(req, res, 400, "invalid_input", "the body must be a JSON object");
        return NULL;
    }
    const char *key;
    json_t *val;
    json_object_foreach(doc, key, val) {
        size_t k = 0;
        for (; allowed[k]; k++)
            if (!strcmp(allowed[k], key)) break;
        if (!allowed[k]) {
            char shown[68];
            http_copy(shown, sizeof shown, key);
            http_error(req, res, 400, "invalid_input", "unknown field '%s'", shown);
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static json_t *field(const struct http_request *req, struct http_response *res, json_t *obj,
                     const char *name, int required, int *rc)
{
    json_t *v = json_object_get(obj, name);
    *rc = 0;
    if (!v || (json_is_null(v) && !required)) {
        if (required) {
            http_error(req, res, 400, "invalid_input", "%s: is required", name);
            *rc = -1;
        }
        return NULL;
    }
    return v;
}

int api_get_str(const struct http_request *req, struct http_response *res, json_t *obj,
                const char *name, int required, size_t maxlen, const char **out)
{
    int rc;
    *out = NULL;
    json_t *v = field(req, res, obj, name, required, &rc);
    if (!v) return rc;
    if (!json_is_string(v)) {
        http_error(req, res, 400, "invalid_input", "%s: expected a string, got %s", name, json_type_name(v));
        return -1;
    }
    size_t n = json_string_length(v);
    if (n == 0 || n > maxlen) {
        http_error(req, res, 400, "invalid_input", "%s: must be 1 to %zu characters", name, maxlen);
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

int api_get_real(const struct http_request *req, struct http_response *res, json_t *obj,
                 const char *name, int required, double min, double max, double *out)
{
    int rc;
    *out = NAN;
    json_t *v = field(req, res, obj, name, required, &rc);
    if (!v) return rc;
    if (!json_is_number(v)) {
        http_error(req, res, 400, "invalid_input", "%s: expected a number, got %s", name, json_type_name(v));
        return -1;
    }
    double d = json_number_value(v);
    if (!(d >= min && d <= max)) {
        http_error(req, res, 400, "invalid_input", "%s: must be between %g and %g", name, min, max);
        return -1;
    }
    *out = d;
    return 1;
}

int api_get_int(const struct http_request *req, struct http_response *res, json_t *obj,
                const char *name, int required, long min, long max, long *out)
{
    int rc;
    *out = 0;
    json_t *v = field(req, res, obj, name, required, &rc);
    if (!v) return rc;
    if (!json_is_integer(v)) {
        http_error(req, res, 400, "invalid_input", "%s: expected an integer, got %s", name, json_type_name(v));
        return -1;
    }
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        http_error(req, res, 400, "invalid_input", "%s: must be between %ld and %ld", name, min, max);
        return -1;
    }
    *out = (long)i;
    return 1;
}

void api_store_error(const struct http_request *req, struct http_response *res, int rc, const char *err)
{
    http_error_from_err(req, res, rc, err);
}

void api_deferred_done(void *arg, int rc, const char *err)
{
    struct api_deferred *c = arg;
    c->rc = rc;
    snprintf(c->err, sizeof c->err, "%s", err ? err : "");
    http_deferral_done(c->d);
}
