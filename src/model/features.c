/* features.c: feature names and row building for the gap models (features.h). */
#include "model/features.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const features_measures[FEATURES_N_MEASURES] = {
    "BCS", "COL", "CBP", "GSD", "EED", "KED", "BPD", "SUPD", "PDC-DR", "PDC-RASA", "PDC-STA"};

int features_measure_index(const char *code)
{
    for (int i = 0; i < FEATURES_N_MEASURES; i++)
        if (!strcmp(features_measures[i], code)) return i;
    return -1;
}

static const char *const BASE_NAMES[] = {"age", "female",     "dual",
                                         "lis", "disability", "enrolled_prior_year"};

int features_set_names(struct model_matrix *m, const char *const *extra_names, size_t n_extra,
                       char *err, size_t errlen)
{
    if (m->p != FEATURES_N_BASE + n_extra)
        return sg_errf(err, errlen, SG_EINVAL, "feature matrix has %zu columns, expected %zu", m->p,
                       (size_t)FEATURES_N_BASE + n_extra);
    size_t j = 0;
    int rc;
    char name[MODEL_NAME_MAX];
    for (size_t k = 0; k < 6; k++)
        if ((rc = model_matrix_set_name(m, j++, BASE_NAMES[k], err, errlen))) return rc;
    for (int k = 0; k < FEATURES_N_MEASURES; k++) {
        snprintf(name, sizeof name, "prior_%s_elig", features_measures[k]);
        if ((rc = model_matrix_set_name(m, j++, name, err, errlen))) return rc;
        snprintf(name, sizeof name, "prior_%s_met", features_measures[k]);
        if ((rc = model_matrix_set_name(m, j++, name, err, errlen))) return rc;
    }
    if ((rc = model_matrix_set_name(m, j++, "prior_measures_met", err, errlen)) ||
        (rc = model_matrix_set_name(m, j++, "prior_gaps_open", err, errlen)) ||
        (rc = model_matrix_set_name(m, j++, "contract_prior_rate", err, errlen)))
        return rc;
    for (size_t k = 0; k < n_extra; k++) {
        for (size_t q = 0; q < j; q++)
            if (!strcmp(m->names[q], extra_names[k]))
                return sg_errf(err, errlen, SG_EINVAL, "imported feature '%s' repeats a name",
                               extra_names[k]);
        if ((rc = model_matrix_set_name(m, j++, extra_names[k], err, errlen))) return rc;
    }
    return SG_OK;
}

void features_build_row(const struct features_member *mem, int year, double contract_prior_rate,
                        const double *extra, size_t n_extra, float *out)
{
    size_t j = 0;
    out[j++] = (float)(year - mem->birth_year);
    out[j++] = mem->female ? 1.0f : 0.0f;
    out[j++] = mem->dual ? 1.0f : 0.0f;
    out[j++] = mem->lis ? 1.0f : 0.0f;
    out[j++] = mem->disability ? 1.0f : 0.0f;
    out[j++] = mem->enrolled_prior_year ? 1.0f : 0.0f;
    int met = 0, open = 0;
    for (int k = 0; k < FEATURES_N_MEASURES; k++) {
        uint8_t s = mem->prior[k];
        out[j++] = s == FEATURES_OPEN || s == FEATURES_MET ? 1.0f : 0.0f;
        out[j++] = s == FEATURES_MET ? 1.0f : 0.0f;
        met += s == FEATURES_MET;
        open += s == FEATURES_OPEN;
    }
    out[j++] = (float)met;
    out[j++] = (float)open;
    /* unknown contract rate: 0.5, an uninformative midpoint, keeps the value finite */
    out[j++] = isfinite(contract_prior_rate) ? (float)contract_prior_rate : 0.5f;
    for (size_t k = 0; k < n_extra; k++)
        out[j++] = isfinite(extra[k]) ? (float)extra[k] : 0.0f;
}

int features_contract_rates(const uint32_t *contract, const uint8_t *status, size_t n,
                            size_t n_contracts, double *rate)
{
    size_t *el = calloc(n_contracts ? n_contracts : 1, sizeof *el);
    size_t *mt = calloc(n_contracts ? n_contracts : 1, sizeof *mt);
    if (!el || !mt) {
        free(el);
        free(mt);
        return SG_ENOMEM;
    }
    size_t te = 0, tm = 0;
    for (size_t i = 0; i < n; i++) {
        if (contract[i] >= n_contracts) continue;
        if (status[i] == FEATURES_OPEN || status[i] == FEATURES_MET) {
            el[contract[i]]++;
            te++;
            if (status[i] == FEATURES_MET) {
                mt[contract[i]]++;
                tm++;
            }
        }
    }
    double all = te ? (double)tm / (double)te : NAN;
    for (size_t c = 0; c < n_contracts; c++)
        rate[c] = el[c] >= 30 ? (double)mt[c] / (double)el[c] : all;
    free(el);
    free(mt);
    return SG_OK;
}

enum features_status features_prior_status(int denominator, int exclusion, int numerator)
{
    if (!denominator || exclusion) return FEATURES_NOT_ELIGIBLE;
    return numerator ? FEATURES_MET : FEATURES_OPEN;
}

int features_label(int denominator, int exclusion, int numerator)
{
    if (!denominator || exclusion) return -1;
    return numerator ? 0 : 1;
}

int features_build_matrix(const struct features_member *mem, const uint32_t *contract,
                          size_t n_members, size_t n_contracts, const double *extra,
                          const char *const *extra_names, size_t n_extra, int measure, int year,
                          const uint32_t *rows, size_t n_rows, struct model_matrix *X, char *err,
                          size_t errlen)
{
    uint8_t *st = NULL;
    double *rate = NULL;
    int rc = model_matrix_init(X, n_rows, FEATURES_N_BASE + n_extra);
    if (rc) return sg_errf(err, errlen, rc, "cannot allocate a %zu-row feature matrix", n_rows);
    if (measure < 0 || measure >= FEATURES_N_MEASURES) {
        rc = sg_errf(err, errlen, SG_EINVAL, "measure index %d out of range", measure);
        goto fail;
    }
    if (n_extra && !extra) {
        rc = sg_errf(err, errlen, SG_EINVAL, "imported feature values missing");
        goto fail;
    }
    rc = features_set_names(X, extra_names, n_extra, err, errlen);
    if (rc) goto fail;
    st = malloc(n_members ? n_members : 1);
    rate = malloc((n_contracts ? n_contracts : 1) * sizeof *rate);
    if (!st || !rate) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n_members; i++) {
        if (contract[i] >= n_contracts) {
            rc = sg_errf(err, errlen, SG_EINVAL, "member %zu: contract index %u out of range", i,
                         contract[i]);
            goto fail;
        }
        st[i] = mem[i].prior[measure];
    }
    rc = features_contract_rates(contract, st, n_members, n_contracts, rate);
    if (rc) {
        sg_errf(err, errlen, rc, "out of memory");
        goto fail;
    }
    for (size_t r = 0; r < n_rows; r++) {
        uint32_t i = rows[r];
        if (i >= n_members) {
            rc = sg_errf(err, errlen, SG_EINVAL, "row %zu: member index %u out of range", r, i);
            goto fail;
        }
        features_build_row(&mem[i], year, rate[contract[i]],
                           n_extra ? extra + (size_t)i * n_extra : NULL, n_extra,
                           model_matrix_row(X, r));
    }
    free(st);
    free(rate);
    return SG_OK;
fail:
    free(st);
    free(rate);
    model_matrix_fini(X);
    return rc;
}
