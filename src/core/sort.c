/* sort.c: linear-time ordering by a 64-bit key (see sort.h). */
#include "core/sort.h"

#include <stdlib.h>
#include <string.h>

uint64_t sg_hex_prefix64(const char *s)
{
    uint64_t k = 0;
    int end = 0;
    for (int i = 0; i < 16; i++) {
        unsigned c = end ? 0 : (unsigned char)s[i];
        if (!c) end = 1;
        k = (k << 4) | (uint64_t)((c <= '9' ? c - '0' : (c | 32) - 'a' + 10) & 15);
    }
    return k;
}

int sg_order_by_key(uint64_t *keys, size_t n, sg_row_cmp_fn cmp, const void *ctx,
                    uint32_t *order)
{
    /* LSD radix sort of (key, index) pairs, 8 bits a pass: 256 buckets keep the scattered
     * writes in cache (65,536 buckets made each pass a cache miss per row). Passes over a byte
     * that is the same in every key are skipped. */
    uint64_t *ktmp = malloc((n ? n : 1) * sizeof *ktmp);
    uint32_t *otmp = malloc((n ? n : 1) * sizeof *otmp);
    size_t *cnt = malloc(256 * sizeof *cnt);
    if (!ktmp || !otmp || !cnt) {
        free(ktmp);
        free(otmp);
        free(cnt);
        return SG_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) order[i] = (uint32_t)i;
    for (int shift = 0; shift < 64; shift += 8) {
        memset(cnt, 0, 256 * sizeof *cnt);
        for (size_t i = 0; i < n; i++) cnt[(keys[i] >> shift) & 0xff]++;
        if (n && cnt[(keys[0] >> shift) & 0xff] == n) continue; /* one bucket: already in order */
        size_t sum = 0;
        for (size_t d = 0; d < 256; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t at = cnt[(keys[i] >> shift) & 0xff]++;
            ktmp[at] = keys[i];
            otmp[at] = order[i];
        }
        memcpy(keys, ktmp, n * sizeof *keys);
        memcpy(order, otmp, n * sizeof *order);
    }
    free(ktmp);
    free(otmp);
    free(cnt);
    for (size_t i = 0; cmp && i < n;) {
        size_t j = i + 1;
        while (j < n && keys[j] == keys[i]) j++;
        for (size_t a = i + 1; a < j; a++) { /* insertion sort of the run [i, j) */
            uint32_t v = order[a];
            size_t b = a;
            while (b > i && cmp(ctx, order[b - 1], v) > 0) {
                order[b] = order[b - 1];
                b--;
            }
            order[b] = v;
        }
        i = j;
    }
    return SG_OK;
}
