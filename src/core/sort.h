/* sort.h: ordering many rows by a 64-bit key in linear time.
 *
 * Batches of a million predictions and imports of ten million measure results are sorted by
 * member hash before they are written (so the member-leading b-trees are walked in order). A
 * comparison sort of rows that large costs seconds: glibc's qsort sorts big elements through
 * pointers, and every comparison then misses the cache. Hashes are uniformly distributed hex
 * strings, so the first 16 hex digits as a number (sg_hex_prefix64) order them almost
 * completely; a radix sort of those keys plus a short insertion sort of the rare runs of equal
 * keys (one member's rows, in practice) gives the full order. Written here because neither libc
 * nor the Debian libraries the project uses offer a radix sort with a payload. */
#ifndef SG_CORE_SORT_H
#define SG_CORE_SORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Compares rows a and b (indices into the caller's rows, which ctx describes): < 0, 0, > 0. */
typedef int (*sg_row_cmp_fn)(const void *ctx, uint32_t a, uint32_t b);

/* The first 16 hex digits of s as a number, digits past a NUL counting as 0 (any bytes are
 * accepted; for lowercase hex the numbers order as strcmp orders the strings). */
uint64_t sg_hex_prefix64(const char *s);

/* Fills order[0..n) (n < 2^32) with the row indices sorted by keys[i], ties in index order
 * (stable), then sorts each run of equal keys with cmp (stable insertion sort: runs are meant to
 * be short; cmp NULL keeps index order). keys[0..n) is overwritten (it ends sorted). Returns
 * SG_OK, or SG_ENOMEM (order then undefined). */
int sg_order_by_key(uint64_t *keys, size_t n, sg_row_cmp_fn cmp, const void *ctx,
                    uint32_t *order) SG_WUR;

#endif
