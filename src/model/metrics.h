/* metrics.h: evaluation of probabilistic binary predictions: AUC (with ties), Brier score,
 * log loss and expected calibration error. All functions take predicted probabilities p[i] of
 * the positive class and labels y[i] in {0, 1}. */
#ifndef SG_MODEL_METRICS_H
#define SG_MODEL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Area under the ROC curve = P(score of a random positive > score of a random negative), ties
 * counted one half (the Mann-Whitney U statistic over average ranks). Sorts a copy of the scores.
 * Writes NAN to *auc when one class is absent. Returns SG_OK or SG_ENOMEM. */
int metric_auc(const double *p, const uint8_t *y, size_t n, double *auc) SG_WUR;

/* Mean squared error of the probabilities (Brier score); NAN when n == 0. */
double metric_brier(const double *p, const uint8_t *y, size_t n);

/* Mean negative log-likelihood, probabilities clipped to [1e-15, 1 - 1e-15]; NAN when n == 0. */
double metric_logloss(const double *p, const uint8_t *y, size_t n);

/* Expected calibration error with `bins` equal-width bins on [0, 1] (bin k holds
 * k/bins <= p < (k+1)/bins, p == 1 in the last): sum over bins of (n_k / n) * |mean p - mean y|.
 * NAN when n == 0 or bins == 0. */
double metric_ece(const double *p, const uint8_t *y, size_t n, unsigned bins);

#endif
