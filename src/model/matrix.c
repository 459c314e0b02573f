/* matrix.c: allocation, naming and validation of the dense feature matrix (matrix.h). */
#include "model/matrix.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int model_feature_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= MODEL_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

int model_matrix_init(struct model_matrix *m, size_t n, size_t p)
{
    memset(m, 0, sizeof *m);
    if (p == 0 || (n && p > SIZE_MAX / sizeof(float) / n)) return SG_EINVAL;
    m->x = calloc(n ? n * p : 1, sizeof(float));
    m->names = calloc(p, sizeof(char *));
    if (!m->x || !m->names) goto fail;
    m->n = n;
    m->p = p;
    for (size_t j = 0; j < p; j++) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "f%zu", j);
        m->names[j] = strdup(tmp);
        if (!m->names[j]) goto fail;
    }
    return SG_OK;
fail:
    m->p = p;
    model_matrix_fini(m);
    return SG_ENOMEM;
}

void model_matrix_fini(struct model_matrix *m)
{
    if (m->names)
        for (size_t j = 0; j < m->p; j++)
            free(m->names[j]);
    free(m->names);
    free(m->x);
    memset(m, 0, sizeof *m);
}

int model_matrix_set_name(struct model_matrix *m, size_t j, const char *name, char *err,
                          size_t errlen)
{
    if (j >= m->p) return sg_errf(err, errlen, SG_EINVAL, "feature index %zu out of range", j);
    if (!model_feature_name_ok(name))
        return sg_errf(err, errlen, SG_EINVAL, "feature %zu: invalid name '%.80s'", j, name);
    char *c = strdup(name);
    if (!c) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    free(m->names[j]);
    m->names[j] = c;
    return SG_OK;
}

int model_matrix_check(const struct model_matrix *m, char *err, size_t errlen)
{
    for (size_t i = 0; i < m->n; i++) {
        const float *r = model_matrix_row(m, i);
        for (size_t j = 0; j < m->p; j++)
            if (!isfinite(r[j]))
                return sg_errf(err, errlen, SG_EINVAL, "row %zu, feature '%s': value is not finite",
                               i, m->names[j]);
    }
    return SG_OK;
}
