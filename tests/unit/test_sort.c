/* test_sort.c: core/sort.h against qsort on the same rows (random hex hashes, shared prefixes,
 * repeated hashes, rows of one key in reverse order, the empty and one-row cases). The expected
 * order comes from qsort with a full comparator; the radix order must equal it exactly,
 * including the index order of equal rows (stability). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sort.h"

struct row {
    char hash[65];
    int tag;     /* the secondary key */
    uint32_t at; /* the row's index, for stability */
};

static int cmp_full(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    int c = strcmp(x->hash, y->hash);
    if (!c) c = (x->tag > y->tag) - (x->tag < y->tag);
    if (!c) c = (x->at > y->at) - (x->at < y->at);
    return c;
}

static int cmp_at(const void *ctx, uint32_t a, uint32_t b)
{
    const struct row *r = ctx;
    int c = strcmp(r[a].hash, r[b].hash);
    return c ? c : (r[a].tag > r[b].tag) - (r[a].tag < r[b].tag);
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return *s >> 17;
}

/* n rows: hashes from a pool of `distinct` values, `shared` of which share their first 16 hex
 * digits with another pool hash; tags random in 0..9. */
static void check(size_t n, size_t distinct, size_t shared, uint64_t seed)
{
    static const char hex[] = "0123456789abcdef";
    char (*pool)[65] = calloc(distinct ? distinct : 1, sizeof *pool);
    struct row *r = calloc(n ? n : 1, sizeof *r), *want = calloc(n ? n : 1, sizeof *r);
    uint32_t *order = calloc(n ? n : 1, sizeof *order);
    uint64_t *key = calloc(n ? n : 1, sizeof *key);
    assert_true(pool && r && want && order && key);
    for (size_t d = 0; d < distinct; d++) {
        for (int i = 0; i < 64; i++) pool[d][i] = hex[lcg(&seed) & 15];
        if (d > 0 && d <= shared) memcpy(pool[d], pool[d - 1], 16 + (lcg(&seed) % 40));
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(r[i].hash, pool[lcg(&seed) % distinct], 65);
        r[i].tag = (int)(lcg(&seed) % 10);
        r[i].at = (uint32_t)i;
        key[i] = sg_hex_prefix64(r[i].hash);
    }
    memcpy(want, r, n * sizeof *r);
    qsort(want, n, sizeof *want, cmp_full);
    assert_int_equal(sg_order_by_key(key, n, cmp_at, r, order), SG_OK);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(order[i], want[i].at);
        if (i) assert_true(key[i - 1] <= key[i]);
    }
    free(pool);
    free(r);
    free(want);
    free(order);
    free(key);
}

static void test_hex_prefix(void **state)
{
    (void)state;
    assert_true(sg_hex_prefix64("0000000000000000ff") == 0);
    assert_true(sg_hex_prefix64("00000000000000ff") == 0xff);
    assert_true(sg_hex_prefix64("ffffffffffffffff00") == UINT64_MAX);
    assert_true(sg_hex_prefix64("a1") == 0xa100000000000000ULL); /* past the NUL: zeros */
    assert_true(sg_hex_prefix64("") == 0);
    assert_true(sg_hex_prefix64("123456789abcdef0") == 0x123456789abcdef0ULL);
}

static void test_against_qsort(void **state)
{
    (void)state;
    check(0, 1, 0, 1);
    check(1, 1, 0, 2);
    check(2, 1, 0, 3);          /* one hash: tags, then index */
    check(1000, 1000, 0, 4);    /* mostly distinct */
    check(5000, 400, 0, 5);     /* members with ~12 rows each */
    check(5000, 400, 200, 6);   /* half the hashes share a 16-digit prefix with another */
    check(200000, 20000, 50, 7);
}

/* Without a tie-break the rows of equal keys keep their index order. */
static void test_stable_without_cmp(void **state)
{
    (void)state;
    uint64_t key[6] = {5, 1, 5, 0, 1, 5};
    uint32_t order[6];
    assert_int_equal(sg_order_by_key(key, 6, NULL, NULL, order), SG_OK);
    const uint32_t want[6] = {3, 1, 4, 0, 2, 5};
    for (int i = 0; i < 6; i++) assert_int_equal(order[i], want[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_prefix),
        cmocka_unit_test(test_against_qsort),
        cmocka_unit_test(test_stable_without_cmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
