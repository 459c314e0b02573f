/* test_core.c: unit tests for core/: HMAC-SHA-256 against the RFC 4231 test vectors, SHA-256
 * against FIPS 180-2 examples, hex, UUIDs, the bounded buffer and the configuration table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/hash.h"

static void fill(uint8_t *p, uint8_t v, size_t n) { memset(p, v, n); }

/* RFC 4231 section 4: test cases 1-4, 6 and 7 (case 5 is a truncated output). */
static void test_hmac_rfc4231(void **state)
{
    (void)state;
    uint8_t key[131], msg[64], mac[32];
    char hex[65];

    fill(key, 0x0b, 20);
    assert_int_equal(sg_hmac_sha256(key, 20, "Hi There", 8, mac), SG_OK);
    sg_hex_encode(mac, 32, hex);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");

    assert_int_equal(sg_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", hex), SG_OK);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    fill(key, 0xaa, 20);
    fill(msg, 0xdd, 50);
    assert_int_equal(sg_hmac_sha256(key, 20, msg, 50, mac), SG_OK);
    sg_hex_encode(mac, 32, hex);
    assert_string_equal(hex, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");

    for (int i = 0; i < 25; i++) key[i] = (uint8_t)(i + 1);
    fill(msg, 0xcd, 50);
    assert_int_equal(sg_hmac_sha256(key, 25, msg, 50, mac), SG_OK);
    sg_hex_encode(mac, 32, hex);
    assert_string_equal(hex, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");

    fill(key, 0xaa, 131);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    assert_int_equal(sg_hmac_sha256(key, 131, m6, strlen(m6), mac), SG_OK);
    sg_hex_encode(mac, 32, hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");

    const char *m7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the HMAC "
                     "algorithm.";
    assert_int_equal(sg_hmac_sha256(key, 131, m7, strlen(m7), mac), SG_OK);
    sg_hex_encode(mac, 32, hex);
    assert_string_equal(hex, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

static void test_sha256(void **state)
{
    (void)state;
    char hex[65];
    assert_int_equal(sg_sha256_hex("abc", 3, hex), SG_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(sg_sha256_hex("", 0, hex), SG_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_hex_uuid(void **state)
{
    (void)state;
    uint8_t b[2];
    assert_int_equal(sg_hex_decode("aF", b, 1), SG_OK);
    assert_int_equal(b[0], 0xaf);
    assert_int_equal(sg_hex_decode("zz", b, 1), SG_EPARSE);
    char u[SG_UUID_LEN], v[SG_UUID_LEN];
    assert_int_equal(sg_uuid_v4(u), SG_OK);
    assert_int_equal(sg_uuid_v4(v), SG_OK);
    assert_true(sg_is_uuid(u));
    assert_string_not_equal(u, v);
    assert_int_equal(u[14], '4');
    assert_true(strchr("89ab", u[19]) != NULL);
    assert_false(sg_is_uuid("not-a-uuid"));
    assert_false(sg_is_uuid("123e4567-e89b-12d3-a456-42661417400g"));
    assert_true(sg_is_hex64("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
    assert_false(sg_is_hex64("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff"));
    assert_false(sg_is_hex64("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7a"));
}

/* sg_fmt_double: fixed cases written out by hand, and 200,000 doubles over the whole exponent
 * range (random bit patterns, plus values of the size SHAP vectors hold) that must read back
 * exactly, never be longer than %.17g, and agree with %.17g in value. */
static void test_fmt_double(void **state)
{
    (void)state;
    static const struct {
        double x;
        const char *want;
    } fixed[] = {{0.0, "0"},        {-0.0, "-0"},       {1.0, "1"},
                 {-1.5, "-1.5"},    {0.1, "0.1"},       {0.25, "0.25"},
                 {100.0, "100"},    {123456789.0, "123456789"},
                 {1e-7, "1e-07"},   {0.0001, "0.0001"}, {1e21, "1e+21"},
                 {1.0 / 3.0, "0.3333333333333333"},     {2.0 / 3.0, "0.6666666666666666"},
                 {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"}};
    char t[32];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        sg_fmt_double(fixed[i].x, t);
        assert_string_equal(t, fixed[i].want);
    }
    uint64_t z = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 200000; i++) {
        z ^= z << 13;
        z ^= z >> 7;
        z ^= z << 17;
        double x;
        if (i % 2) {
            memcpy(&x, &z, sizeof x);
            if (x != x || x - x != 0) continue; /* NaN, inf */
        } else {
            x = ((double)(z >> 11) / 9007199254740992.0 - 0.5) * 4.0; /* SHAP-sized */
        }
        int n = sg_fmt_double(x, t);
        assert_int_equal(n, (int)strlen(t));
        assert_true(strtod(t, NULL) == x);
        char ref[40];
        snprintf(ref, sizeof ref, "%.17g", x);
        assert_true(strlen(t) <= strlen(ref));
    }
    struct sg_buf b;
    sg_buf_init(&b, 64);
    assert_int_equal(sg_buf_put_double(&b, 0.5), SG_OK);
    assert_string_equal(sg_buf_str(&b), "0.5");
    sg_buf_fini(&b);
}

static void test_buf_cap(void **state)
{
    (void)state;
    struct sg_buf b;
    sg_buf_init(&b, 10);
    assert_string_equal(sg_buf_str(&b), "");
    assert_int_equal(sg_buf_puts(&b, "hello"), SG_OK);
    assert_int_equal(sg_buf_printf(&b, "%d", 1234), SG_OK);
    assert_string_equal(sg_buf_str(&b), "hello1234");
    assert_int_equal(sg_buf_puts(&b, "xy"), SG_ETOOBIG);
    assert_string_equal(sg_buf_str(&b), "hello1234"); /* unchanged on failure */
    assert_int_equal(sg_buf_puts(&b, "x"), SG_OK);
    assert_int_equal(b.len, 10);
    char *s = sg_buf_take(&b);
    assert_string_equal(s, "hello1234x");
    free(s);
    assert_int_equal(b.len, 0);
    sg_buf_fini(&b);
}

static void test_config_layers(void **state)
{
    (void)state;
    struct sg_config c;
    char err[SG_ERRLEN];
    assert_int_equal(sg_config_init(&c), SG_OK);
    assert_string_equal(c.db, "sqlite:stargap.db");
    assert_int_equal(c.pool_min, 5);
    assert_int_equal(c.pool_max, 20);
    assert_int_equal(c.api_log_retention_days, 90);

    char path[] = "/tmp/sg_cfg_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# comment\n pool_max = 7\ndb = \"postgres://u:pw@localhost/x\"\n", f);
    fclose(f);
    assert_int_equal(sg_config_load_file(&c, path, err, sizeof err), SG_OK);
    assert_int_equal(c.pool_max, 7);

    setenv("STARGAP_POOL_MAX", "9", 1);
    assert_int_equal(sg_config_load_env(&c, err, sizeof err), SG_OK);
    assert_int_equal(c.pool_max, 9);
    unsetenv("STARGAP_POOL_MAX");

    assert_int_equal(sg_config_set(&c, "pool_max", "abc", "--pool-max", err, sizeof err), SG_EINVAL);
    assert_non_null(strstr(err, "pool_max"));
    assert_int_equal(sg_config_set(&c, "pool_max", "0", "--pool-max", err, sizeof err), SG_ERANGE);
    assert_int_equal(sg_config_set(&c, "nope", "1", "--nope", err, sizeof err), SG_ENOTFOUND);
    assert_int_equal(sg_config_set(&c, "audit_retention_days", "30", "x", err, sizeof err), SG_ERANGE);

    /* a bad line names file and line */
    f = fopen(path, "w");
    fputs("pool_min = 1\nthis line is bad\n", f);
    fclose(f);
    assert_int_equal(sg_config_load_file(&c, path, err, sizeof err), SG_EPARSE);
    assert_non_null(strstr(err, ":2:"));
    unlink(path);

    /* secrets and URL passwords are masked when printed */
    assert_int_equal(sg_config_set(&c, "hash_key", "topsecret", "t", err, sizeof err), SG_OK);
    char *out = NULL;
    size_t outlen = 0;
    FILE *m = open_memstream(&out, &outlen);
    sg_config_print(&c, m);
    fclose(m);
    assert_null(strstr(out, "topsecret"));
    assert_null(strstr(out, ":pw@"));
    assert_non_null(strstr(out, "postgres://u:****@localhost/x"));
    free(out);
}

static void test_errf(void **state)
{
    (void)state;
    char err[8];
    assert_int_equal(sg_errf(err, sizeof err, SG_EINVAL, "field %s bad", "abcdef"), SG_EINVAL);
    assert_int_equal(strlen(err), 7); /* truncated, terminated */
    assert_int_equal(sg_errf(NULL, 0, SG_EIO, "x"), SG_EIO);
    assert_string_equal(sg_errcode_name(SG_ENOTFOUND), "not_found");
    assert_string_equal(sg_strerror(12345), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_rfc4231), cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_hex_uuid),     cmocka_unit_test(test_buf_cap), cmocka_unit_test(test_fmt_double),
        cmocka_unit_test(test_config_layers), cmocka_unit_test(test_errf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
