/* test_memberid.c: member identity (core/memberid.h): the keyed hash against RFC 4231 test
 * case 1, key-file creation (mode 0600, 64 hex characters, reused on the next run), and bad
 * keys and IDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/config.h"
#include "core/memberid.h"

static void test_hash_rfc4231(void **state)
{
    (void)state;
    struct sg_config cfg;
    struct sg_memberid m;
    char out[SG_HEX64_LEN], err[SG_ERRLEN];
    assert_int_equal(sg_config_init(&cfg), SG_OK);
    memset(cfg.hash_key, 0x0b, 20); /* RFC 4231 test case 1: key = 20 x 0x0b, data "Hi There" */
    cfg.hash_key[20] = '\0';
    assert_int_equal(sg_memberid_init(&m, &cfg, NULL, err, sizeof err), SG_OK);
    assert_int_equal(sg_memberid_hash(&m, "Hi There", out, err, sizeof err), SG_OK);
    assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* A different key gives a different hash of the same ID. */
    struct sg_memberid m2;
    char out2[SG_HEX64_LEN];
    snprintf(cfg.hash_key, sizeof cfg.hash_key, "another-key-of-enough-length");
    assert_int_equal(sg_memberid_init(&m2, &cfg, NULL, err, sizeof err), SG_OK);
    assert_int_equal(sg_memberid_hash(&m2, "Hi There", out2, err, sizeof err), SG_OK);
    assert_string_not_equal(out, out2);
    sg_memberid_fini(&m);
    sg_memberid_fini(&m2);
    assert_int_equal(m.keylen, 0);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct sg_config cfg;
    struct sg_memberid m;
    char out[SG_HEX64_LEN], err[SG_ERRLEN], id[400];
    assert_int_equal(sg_config_init(&cfg), SG_OK);
    snprintf(cfg.hash_key, sizeof cfg.hash_key, "short");
    assert_int_equal(sg_memberid_init(&m, &cfg, NULL, err, sizeof err), SG_EINVAL);
    assert_non_null(strstr(err, "hash_key"));
    snprintf(cfg.hash_key, sizeof cfg.hash_key, "0123456789abcdef0123");
    assert_int_equal(sg_memberid_init(&m, &cfg, NULL, err, sizeof err), SG_OK);
    assert_int_equal(sg_memberid_hash(&m, "", out, err, sizeof err), SG_EINVAL);
    assert_int_equal(sg_memberid_hash(&m, "1EG4\tTE5MK72", out, err, sizeof err), SG_EINVAL);
    assert_null(strstr(err, "1EG4")); /* the ID never appears in a message */
    memset(id, 'A', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    assert_int_equal(sg_memberid_hash(&m, id, out, err, sizeof err), SG_EINVAL);
    id[256] = '\0';
    assert_int_equal(sg_memberid_hash(&m, id, out, err, sizeof err), SG_OK);
    sg_memberid_fini(&m);
}

static void test_key_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/sg_memberid_XXXXXX", path[256], err[SG_ERRLEN];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/member.key", dir);
    struct sg_config cfg;
    struct sg_memberid m;
    int created = -1;
    assert_int_equal(sg_config_init(&cfg), SG_OK);
    cfg.hash_key[0] = '\0';
    snprintf(cfg.hash_key_file, sizeof cfg.hash_key_file, "%s", path);

    assert_int_equal(sg_memberid_init(&m, &cfg, &created, err, sizeof err), SG_OK);
    assert_int_equal(created, 1);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    FILE *f = fopen(path, "r");
    char text[128] = "";
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof text, f));
    fclose(f);
    assert_int_equal(strlen(text), 65); /* 64 hex characters and a newline */
    text[64] = '\0';
    for (int i = 0; i < 64; i++) assert_non_null(strchr("0123456789abcdef", text[i]));
    /* The key is the file's text: the hash equals HMAC(text, id). */
    char want[SG_HEX64_LEN], got[SG_HEX64_LEN];
    assert_int_equal(sg_hmac_sha256_hex(text, 64, "1EG4-TE5-MK72", want), SG_OK);
    assert_int_equal(sg_memberid_hash(&m, "1EG4-TE5-MK72", got, err, sizeof err), SG_OK);
    assert_string_equal(got, want);
    sg_memberid_fini(&m);

    /* Second run: the file is reused, not regenerated. */
    assert_int_equal(sg_memberid_init(&m, &cfg, &created, err, sizeof err), SG_OK);
    assert_int_equal(created, 0);
    assert_int_equal(sg_memberid_hash(&m, "1EG4-TE5-MK72", got, err, sizeof err), SG_OK);
    assert_string_equal(got, want);
    sg_memberid_fini(&m);

    /* A directory that does not exist: SG_EIO naming the path. */
    snprintf(cfg.hash_key_file, sizeof cfg.hash_key_file, "%s/missing/member.key", dir);
    assert_int_equal(sg_memberid_init(&m, &cfg, &created, err, sizeof err), SG_EIO);
    assert_non_null(strstr(err, "missing/member.key"));

    /* A key file that is too short is rejected. */
    char shortp[256];
    snprintf(shortp, sizeof shortp, "%s/short.key", dir);
    f = fopen(shortp, "w");
    assert_non_null(f);
    fputs("tiny\n", f);
    fclose(f);
    snprintf(cfg.hash_key_file, sizeof cfg.hash_key_file, "%s", shortp);
    assert_int_equal(sg_memberid_init(&m, &cfg, &created, err, sizeof err), SG_EINVAL);

    unlink(shortp);
    unlink(path);
    rmdir(dir);
}

/* The pre-keyed hasher gives sg_memberid_hash's results (RFC 4231 case 1 and other IDs, each
 * hashed twice to check the key state is restored between messages) and its errors. */
static void test_hasher(void **state)
{
    (void)state;
    struct sg_config cfg;
    struct sg_memberid m;
    struct sg_memberid_hasher *h = NULL;
    char out[SG_HEX64_LEN], want[SG_HEX64_LEN], err[SG_ERRLEN], id[300];
    assert_int_equal(sg_config_init(&cfg), SG_OK);
    memset(cfg.hash_key, 0x0b, 20);
    cfg.hash_key[20] = '\0';
    assert_int_equal(sg_memberid_init(&m, &cfg, NULL, err, sizeof err), SG_OK);
    assert_int_equal(sg_memberid_hasher_new(&m, &h, err, sizeof err), SG_OK);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(sg_memberid_hasher_hash(h, "Hi There", out, err, sizeof err), SG_OK);
        assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        static const char *const ids[] = {"M00000001", "1EG4-TE5-MK72", "x"};
        for (size_t i = 0; i < 3; i++) {
            assert_int_equal(sg_memberid_hasher_hash(h, ids[i], out, err, sizeof err), SG_OK);
            assert_int_equal(sg_hmac_sha256_hex(m.key, m.keylen, ids[i], want), SG_OK);
            assert_string_equal(out, want);
        }
    }
    memset(id, 'A', 256);
    id[256] = '\0';
    assert_int_equal(sg_memberid_hasher_hash(h, id, out, err, sizeof err), SG_OK);
    assert_int_equal(sg_memberid_hash(&m, id, want, err, sizeof err), SG_OK);
    assert_string_equal(out, want);
    id[256] = 'A';
    id[257] = '\0';
    assert_int_equal(sg_memberid_hasher_hash(h, id, out, err, sizeof err), SG_EINVAL);
    assert_int_equal(sg_memberid_hasher_hash(h, "", out, err, sizeof err), SG_EINVAL);
    assert_int_equal(sg_memberid_hasher_hash(h, "1EG4\tTE5MK72", out, err, sizeof err), SG_EINVAL);
    assert_null(strstr(err, "1EG4"));
    sg_memberid_hasher_free(h);
    sg_memberid_fini(&m);
    /* no key loaded */
    assert_int_equal(sg_memberid_hasher_new(&m, &h, err, sizeof err), SG_EINVAL);
    assert_null(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_rfc4231),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_hasher),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
