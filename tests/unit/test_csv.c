/* test_csv.c: unit tests for core/csv.h: RFC 4180 quoting (embedded delimiters, doubled
 * quotes, line breaks), CRLF and lone CR, BOM skipping, Windows-1252 transcoding and detection,
 * line numbers, the record and field caps, and the error messages. Inputs are written out in
 * the test; expected fields are worked out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/csv.h"

struct rd {
    FILE *f;
    struct sg_csv *c;
    char err[SG_ERRLEN];
};

static void rd_open(struct rd *r, const char *data, size_t len, const struct sg_csv_opts *o)
{
    r->f = fmemopen((void *)data, len, "rb");
    assert_non_null(r->f);
    assert_int_equal(sg_csv_open(&r->c, r->f, "t.csv", o, r->err, sizeof r->err), SG_OK);
}

static void rd_close(struct rd *r)
{
    sg_csv_free(r->c);
    fclose(r->f);
}

static void test_basic_quoting(void **state)
{
    (void)state;
    static const char in[] = "a,b,c\n\"x,y\",\"he said \"\"hi\"\"\",\n\"multi\nline\",2,3\nlast";
    struct rd r;
    rd_open(&r, in, sizeof in - 1, NULL);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_int_equal(sg_csv_nfields(r.c), 3);
    assert_string_equal(sg_csv_field(r.c, 2), "c");
    assert_int_equal(sg_csv_line(r.c), 1);

    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_int_equal(sg_csv_nfields(r.c), 3);
    assert_string_equal(sg_csv_field(r.c, 0), "x,y");
    assert_string_equal(sg_csv_field(r.c, 1), "he said \"hi\"");
    assert_string_equal(sg_csv_field(r.c, 2), "");
    assert_int_equal(sg_csv_field_len(r.c, 1), 12);
    assert_string_equal(sg_csv_field(r.c, 7), ""); /* out of range */
    assert_int_equal(sg_csv_line(r.c), 2);

    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_string_equal(sg_csv_field(r.c, 0), "multi\nline");
    assert_int_equal(sg_csv_line(r.c), 3);

    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1); /* no final newline */
    assert_int_equal(sg_csv_nfields(r.c), 1);
    assert_string_equal(sg_csv_field(r.c, 0), "last");
    assert_int_equal(sg_csv_line(r.c), 5);
    assert_int_equal(sg_csv_record(r.c), 4);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 0);
    rd_close(&r);
}

static void test_crlf_bom_cr(void **state)
{
    (void)state;
    static const char in[] = "\xEF\xBB\xBFid,name\r\n1,\"caf\xC3\xA9\"\r\n2,x\r3,y\r\n";
    struct rd r;
    rd_open(&r, in, sizeof in - 1, NULL);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_string_equal(sg_csv_field(r.c, 0), "id"); /* BOM gone */
    assert_string_equal(sg_csv_field(r.c, 1), "name");
    assert_int_equal(sg_csv_encoding_used(r.c), SG_CSV_UTF8);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_string_equal(sg_csv_field(r.c, 1), "caf\xC3\xA9");
    assert_int_equal(sg_csv_line(r.c), 2);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_string_equal(sg_csv_field(r.c, 1), "x"); /* lone CR ends the record */
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_string_equal(sg_csv_field(r.c, 0), "3");
    assert_int_equal(sg_csv_line(r.c), 4);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 0);
    rd_close(&r);
}

static void test_cp1252(void **state)
{
    (void)state;
    /* 0x96 en dash, 0x92 right single quote, 0xE9 e-acute, 0x80 euro sign */
    static const char in[] = "plain\nC06: Care \x96 Review,Plan\x92s,caf\xE9,\x80" "5\n";
    struct rd r;
    rd_open(&r, in, sizeof in - 1, NULL);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_int_equal(sg_csv_encoding_used(r.c), SG_CSV_AUTO); /* only ASCII so far */
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_int_equal(sg_csv_encoding_used(r.c), SG_CSV_CP1252);
    assert_string_equal(sg_csv_field(r.c, 0), "C06: Care \xE2\x80\x93 Review");
    assert_string_equal(sg_csv_field(r.c, 1), "Plan\xE2\x80\x99s");
    assert_string_equal(sg_csv_field(r.c, 2), "caf\xC3\xA9");
    assert_string_equal(sg_csv_field(r.c, 3), "\xE2\x82\xAC" "5");
    rd_close(&r);

    /* declared UTF-8 rejects the same bytes, naming file, line and field */
    struct sg_csv_opts o = {.encoding = SG_CSV_UTF8};
    rd_open(&r, in, sizeof in - 1, &o);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), SG_EPARSE);
    assert_string_equal(r.err, "t.csv:2: field 1: invalid UTF-8");
    rd_close(&r);
}

static void test_errors(void **state)
{
    (void)state;
    struct rd r;
    static const char unterminated[] = "a,b\n1,\"open\nstill open";
    rd_open(&r, unterminated, sizeof unterminated - 1, NULL);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), SG_EPARSE);
    assert_non_null(strstr(r.err, "t.csv:2: field 2: quoted field never closed (opened on line 2)"));
    rd_close(&r);

    static const char junk[] = "\"a\"b,c\n";
    rd_open(&r, junk, sizeof junk - 1, NULL);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), SG_EPARSE);
    assert_non_null(strstr(r.err, "unexpected character 'b' after closing quote"));
    rd_close(&r);

    struct sg_csv_opts small = {.max_record = 8};
    static const char big[] = "0123456789abcdef\n";
    rd_open(&r, big, sizeof big - 1, &small);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), SG_ETOOBIG);
    assert_non_null(strstr(r.err, "t.csv:1: record longer than 8 bytes"));
    rd_close(&r);

    struct sg_csv_opts few = {.max_fields = 3};
    static const char wide[] = "1,2,3,4\n";
    rd_open(&r, wide, sizeof wide - 1, &few);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), SG_ETOOBIG);
    assert_non_null(strstr(r.err, "more than 3 fields"));
    rd_close(&r);

    struct sg_csv_opts bad = {.delim = '"'};
    struct sg_csv *c;
    FILE *f = fmemopen((void *)big, sizeof big - 1, "rb");
    assert_int_equal(sg_csv_open(&c, f, "x", &bad, r.err, sizeof r.err), SG_EINVAL);
    assert_null(c);
    fclose(f);
}

static void test_semicolon_and_empty(void **state)
{
    (void)state;
    static const char in[] = "a;\"b;c\"\n\n;\n";
    struct sg_csv_opts o = {.delim = ';'};
    struct rd r;
    rd_open(&r, in, sizeof in - 1, &o);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_string_equal(sg_csv_field(r.c, 1), "b;c");
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1); /* blank line: one empty field */
    assert_int_equal(sg_csv_nfields(r.c), 1);
    assert_string_equal(sg_csv_field(r.c, 0), "");
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 1);
    assert_int_equal(sg_csv_nfields(r.c), 2);
    assert_int_equal(sg_csv_next(r.c, r.err, sizeof r.err), 0);
    rd_close(&r);
}

static void test_large_stream(void **state)
{
    (void)state;
    /* more than one 64 KiB read chunk, with a quoted field straddling a chunk boundary */
    size_t n = 20000;
    struct sg_buf b;
    sg_buf_init(&b, 1u << 22);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sg_buf_printf(&b, "%zu,\"q,%zu\"\r\n", i, i * 7), SG_OK);
    struct rd r;
    rd_open(&r, b.data, b.len, NULL);
    size_t k = 0;
    int rc;
    while ((rc = sg_csv_next(r.c, r.err, sizeof r.err)) == 1) {
        char want[32];
        snprintf(want, sizeof want, "q,%zu", k * 7);
        assert_string_equal(sg_csv_field(r.c, 1), want);
        assert_int_equal(sg_csv_line(r.c), (long)k + 1);
        k++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(k, n);
    rd_close(&r);
    sg_buf_fini(&b);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(sg_utf8_valid("abc", 3));
    assert_true(sg_utf8_valid("\xE2\x80\x93", 3));
    assert_false(sg_utf8_valid("\xE2\x80", 2));         /* truncated */
    assert_false(sg_utf8_valid("\xC0\xAF", 2));         /* overlong '/' */
    assert_false(sg_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    assert_false(sg_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_quoting), cmocka_unit_test(test_crlf_bom_cr),
        cmocka_unit_test(test_cp1252),        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_semicolon_and_empty), cmocka_unit_test(test_large_stream),
        cmocka_unit_test(test_utf8_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
