/* test_http_openapi.c: docs/openapi.json against the route table, both ways: every route is
 * documented under its exact pattern and method with its role (x-role) and its path parameters,
 * and the document has no operation the table lacks. Also checks that the embedded copy served
 * at /api/v1/openapi.json is byte-identical to the file and that the document is ASCII. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "api/api.h"
#include "http/http.h"
#include "core/fileio.h"

static void lower(const char *in, char *out, size_t n)
{
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++) out[i] = (char)tolower((unsigned char)in[i]);
    out[i] = '\0';
}

static void test_routes_documented(void **state)
{
    (void)state;
    json_error_t je;
    json_t *doc = json_load_file(STARGAP_SOURCE_DIR "/docs/openapi.json", JSON_REJECT_DUPLICATES, &je);
    if (!doc) fprintf(stderr, "openapi.json: %s line %d\n", je.text, je.line);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    json_t *paths = json_object_get(doc, "paths");
    assert_true(json_is_object(paths));
    size_t n;
    const struct http_route *routes = api_routes(&n);
    for (size_t i = 0; i < n; i++) {
        char m[16];
        lower(routes[i].method, m, sizeof m);
        json_t *op = json_object_get(json_object_get(paths, routes[i].pattern), m);
        if (!op) fprintf(stderr, "undocumented route: %s %s\n", routes[i].method, routes[i].pattern);
        assert_non_null(op);
        const char *role = json_string_value(json_object_get(op, "x-role"));
        assert_non_null(role);
        assert_string_equal(role, http_role_name(routes[i].role));
        /* public routes declare no security; others inherit the global requirement */
        json_t *sec = json_object_get(op, "security");
        if (routes[i].role == HTTP_ROLE_PUBLIC) assert_true(json_is_array(sec) && json_array_size(sec) == 0);
        else assert_null(sec);
        /* every {param} of the pattern is a required path parameter, and nothing else is */
        size_t want = 0, got = 0;
        for (const char *p = strchr(routes[i].pattern, '{'); p; p = strchr(p + 1, '{')) {
            want++;
            const char *e = strchr(p, '}');
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)(e - p - 1), p + 1);
            json_t *params = json_object_get(op, "parameters");
            int found = 0;
            for (size_t k = 0; k < json_array_size(params); k++) {
                json_t *pp = json_array_get(params, k);
                if (!strcmp(json_string_value(json_object_get(pp, "in")), "path") &&
                    !strcmp(json_string_value(json_object_get(pp, "name")), name) &&
                    json_is_true(json_object_get(pp, "required")))
                    found = 1;
            }
            if (!found) fprintf(stderr, "%s %s: path parameter %s undocumented\n", routes[i].method, routes[i].pattern, name);
            assert_true(found);
        }
        json_t *params = json_object_get(op, "parameters");
        for (size_t k = 0; k < json_array_size(params); k++)
            got += !strcmp(json_string_value(json_object_get(json_array_get(params, k), "in")), "path");
        assert_int_equal(got, want);
    }
    /* nothing extra: count the documented operations */
    size_t ops = 0;
    const char *path;
    json_t *item;
    json_object_foreach(paths, path, item) {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op) {
            int known = 0;
            for (size_t i = 0; i < n && !known; i++) {
                char m[16];
                lower(routes[i].method, m, sizeof m);
                known = !strcmp(routes[i].pattern, path) && !strcmp(m, method);
            }
            if (!known) fprintf(stderr, "documented but not routed: %s %s\n", method, path);
            assert_true(known);
            ops++;
        }
    }
    assert_int_equal(ops, n);
    json_decref(doc);
}

/* The query parameters each handler accepts equal those the document lists for its route. Each
 * handler validates its query first, through api_query, so a request carrying one unknown
 * parameter makes it answer 400 with "(accepted: a, b, ...)" or "(none accepted)" without
 * touching the store. */
static void test_query_params_documented(void **state)
{
    (void)state;
    json_error_t je;
    json_t *doc = json_load_file(STARGAP_SOURCE_DIR "/docs/openapi.json", 0, &je);
    assert_non_null(doc);
    size_t n;
    const struct http_route *routes = api_routes(&n);
    for (size_t i = 0; i < n; i++) {
        struct http_request req;
        struct http_response res;
        memset(&req, 0, sizeof req);
        memset(&res, 0, sizeof res);
        req.method = routes[i].method;
        req.path = routes[i].pattern;
        req.route = &routes[i];
        req.route_index = i;
        strcpy(req.request_id, "probe");
        req.query[0].key = "zz_probe";
        req.query[0].value = "1";
        req.nquery = 1;
        req.body = "";
        routes[i].handler(&req, &res);
        assert_int_equal(res.status, 400);
        json_t *e = json_loads(res.body, 0, &je);
        assert_non_null(e);
        const char *msg = json_string_value(json_object_get(json_object_get(e, "error"), "message"));
        if (!msg) /* the FHIR operations answer with an OperationOutcome */
            msg = json_string_value(
                json_object_get(json_array_get(json_object_get(e, "issue"), 0), "diagnostics"));
        assert_non_null(msg);
        assert_non_null(strstr(msg, "unknown query parameter 'zz_probe'"));
        /* the handler's list */
        char accepted[512] = "";
        const char *a = strstr(msg, "(accepted: ");
        if (a) {
            snprintf(accepted, sizeof accepted, "%s", a + strlen("(accepted: "));
            accepted[strcspn(accepted, ")")] = '\0';
        } else {
            assert_non_null(strstr(msg, "(none accepted)"));
        }
        /* the document's list, in document order, joined the same way */
        char m[16];
        lower(routes[i].method, m, sizeof m);
        json_t *params = json_object_get(json_object_get(json_object_get(json_object_get(doc, "paths"),
                                                                         routes[i].pattern), m), "parameters");
        char documented[512] = "";
        size_t used = 0;
        for (size_t k = 0; k < json_array_size(params); k++) {
            json_t *pp = json_array_get(params, k);
            if (strcmp(json_string_value(json_object_get(pp, "in")), "query")) continue;
            used += (size_t)snprintf(documented + used, sizeof documented - used, "%s%s", used ? ", " : "",
                                     json_string_value(json_object_get(pp, "name")));
        }
        if (strcmp(accepted, documented))
            fprintf(stderr, "%s %s: handler accepts [%s], document lists [%s]\n", routes[i].method,
                    routes[i].pattern, accepted, documented);
        assert_string_equal(accepted, documented);
        json_decref(e);
        free(res.body);
    }
    json_decref(doc);
}

static void test_embedded_copy(void **state)
{
    (void)state;
    char *text;
    size_t len;
    char err[SG_ERRLEN];
    assert_int_equal(sg_read_file(STARGAP_SOURCE_DIR "/docs/openapi.json", 4u << 20, &text, &len, err, sizeof err), SG_OK);
    assert_int_equal(strlen(api_openapi_json), len);
    assert_memory_equal(api_openapi_json, text, len);
    for (size_t i = 0; i < len; i++) assert_true((unsigned char)text[i] < 0x80);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_documented),
        cmocka_unit_test(test_query_params_documented),
        cmocka_unit_test(test_embedded_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
