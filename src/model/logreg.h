/* logreg.h: L2-regularized logistic regression on standardized features, fitted by Newton's
 * method, with exact linear SHAP values.
 *
 * Model: log-odds(x) = b + sum_j w_j * z_j with z_j = (x_j - mean_j) / sd_j, mean and sd taken
 * over the training rows (sd = 1 for a constant column). The fit minimizes
 *   sum_i logloss_i + (l2 / 2) * sum_j w_j^2     (the intercept is not penalized)
 * with Newton steps (Cholesky solve of the (p+1)x(p+1) Hessian) and step halving, which converges
 * in a handful of iterations for the few dozen features used here. Deterministic: all sums run
 * in row order. */
#ifndef SG_MODEL_LOGREG_H
#define SG_MODEL_LOGREG_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/matrix.h"

struct logreg_params {
    double l2;    /* L2 penalty on the standardized weights (>= 0) */
    int max_iter; /* most Newton iterations */
    double tol;   /* stop when the largest |step| is below this */
};

struct logreg {
    size_t p;     /* features */
    double *mean; /* owned; p training means */
    double *sd;   /* owned; p training standard deviations (1 for constant columns) */
    double *w;    /* owned; p weights on the standardized features */
    double b;     /* intercept */
    int iters;    /* Newton iterations used */
};

/* Default parameters: l2 = 1, max_iter = 50, tol = 1e-8. */
void logreg_params_default(struct logreg_params *prm);

/* Fits a model on rows[0..nrows) of X with labels y (indexed by row number). out is initialized
 * here (call logreg_fini on success or failure). Returns SG_OK, SG_EINVAL (no rows, bad params,
 * one class only), SG_ENOMEM, or SG_EINTERNAL when the Hessian is not positive definite. */
int logreg_fit(const struct model_matrix *X, const uint8_t *y, const uint32_t *rows, size_t nrows,
               const struct logreg_params *prm, struct logreg *out, char *err,
               size_t errlen) SG_WUR;

/* Allocates an all-zero model for p features (used by the model loader). SG_OK or SG_ENOMEM. */
int logreg_init(struct logreg *m, size_t p) SG_WUR;

/* Frees the model's arrays; safe on a zeroed struct. */
void logreg_fini(struct logreg *m);

/* Returns the log-odds for one row of p features. */
double logreg_margin(const struct logreg *m, const float *x);

/* Exact SHAP values of the log-odds with the training mean as the baseline:
 * phi[j] = w_j * (x_j - mean_j) / sd_j and *base = b (the log-odds at the mean), so that
 * base + sum phi = logreg_margin(x). phi has p entries (caller storage). */
void logreg_shap(const struct logreg *m, const float *x, double *phi, double *base);

#endif
