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
        cmocka_unit_test(test_embedded_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
