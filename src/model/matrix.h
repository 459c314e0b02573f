/* matrix.h: the dense feature matrix every learner in src/model reads.
 *
 * Rows are members (one row per member and measure-year), columns are named features. Values are
 * float, row-major, because scoring walks one row at a time and 4-byte values halve the memory of
 * a million-row training set (38 features x 1,000,000 rows = 152 MB). Values must be finite:
 * missing inputs are imputed by the feature builder (features.h) before they get here. */
#ifndef SG_MODEL_MATRIX_H
#define SG_MODEL_MATRIX_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define MODEL_NAME_MAX 64 /* longest feature name, including the NUL */

struct model_matrix {
    size_t n;     /* rows */
    size_t p;     /* columns (features) */
    float *x;     /* owned; n*p values, row i at x + i*p */
    char **names; /* owned; p NUL-terminated feature names */
};

/* Allocates an n x p matrix of zeros with names "f0".."f{p-1}" in caller storage. Returns SG_OK,
 * SG_EINVAL (p == 0 or n*p overflows) or SG_ENOMEM; on failure m is left empty (safe to fini). */
int model_matrix_init(struct model_matrix *m, size_t n, size_t p) SG_WUR;

/* Frees the matrix's memory; m is left empty. Safe on an empty or zeroed matrix. */
void model_matrix_fini(struct model_matrix *m);

/* Renames column j (copied; at most MODEL_NAME_MAX-1 bytes, letters, digits, '_', '-', '.' only).
 * Returns SG_OK, SG_EINVAL (bad name or j) or SG_ENOMEM. */
int model_matrix_set_name(struct model_matrix *m, size_t j, const char *name, char *err,
                          size_t errlen) SG_WUR;

/* Returns row i (borrowed). */
static inline float *model_matrix_row(const struct model_matrix *m, size_t i)
{
    return m->x + i * m->p;
}

/* Checks that every value is finite. Returns SG_OK or SG_EINVAL naming the first bad cell. */
int model_matrix_check(const struct model_matrix *m, char *err, size_t errlen) SG_WUR;

/* True when name is a valid feature name (see model_matrix_set_name). */
int model_feature_name_ok(const char *name);

#endif
