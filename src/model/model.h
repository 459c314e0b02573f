/* model.h: a trained gap model for one measure: learner selection, calibration, evaluation,
 * explanations, risk tiers, recommendations and a versioned, bit-exact text format.
 *
 * Label convention: y = 1 means the gap stays open at the end of the year (the member is in the
 * denominator, not excluded, and not in the numerator), so every probability here is a
 * gap_probability. Training (model_train) is deterministic for a given seed:
 *   1. rows are shuffled with the seed; test_fraction of them are held out for the final metrics;
 *   2. on at most cv_max_rows of the rest, k-fold cross-validated AUC is computed for both
 *      learners (logistic regression, gradient-boosted trees; the trees early-stop on 10% of each
 *      training fold); the learner with the higher mean AUC is kept (ties: logistic regression);
 *   3. the kept learner is refitted on the non-test rows minus a valid_fraction validation part
 *      (the trees' early stopping uses it);
 *   4. calibration is checked on the validation part: if its expected calibration error exceeds
 *      ece_max, Platt scaling (log-odds' = a * log-odds + b, fitted on the validation part) is
 *      applied when it lowers that error. Platt scaling is linear in the log-odds, so SHAP values
 *      stay exact: they are multiplied by a and the base value becomes a * base + b;
 *   5. AUC, Brier score, log loss and ECE are measured on the held-out test rows.
 * A trained or loaded model is read-only: model_predict*, model_margin and model_explain may be
 * called from many threads at once. */
#ifndef SG_MODEL_MODEL_H
#define SG_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "model/gbdt.h"
#include "model/logreg.h"
#include "model/matrix.h"

#define MODEL_FORMAT_VERSION 1 /* version of the text format written by model_save */
#define MODEL_TOP_K 5          /* features in an explanation's top list */
#define MODEL_ECE_BINS 10      /* bins of the expected calibration error */

enum model_kind { MODEL_LOGREG = 1, MODEL_GBDT = 2 };

struct model_metrics {
    size_t n;         /* rows evaluated */
    double base_rate; /* share of positives (gaps that stayed open) */
    double auc;       /* area under the ROC curve */
    double brier;     /* Brier score */
    double logloss;   /* mean negative log-likelihood */
    double ece;       /* expected calibration error, MODEL_ECE_BINS equal-width bins */
};

struct model_train_params {
    uint64_t seed;         /* shuffling, folds */
    int cv_folds;          /* k of the cross-validation (2..20) */
    size_t cv_max_rows;    /* cross-validation uses at most this many rows (0 = all) */
    double test_fraction;  /* held out for the reported metrics, in (0, 0.5] */
    double valid_fraction; /* of the rest: early stopping and calibration, in (0, 0.5] */
    double ece_max;        /* calibrate when the validation ECE is above this */
    int force_kind;        /* 0: choose by CV; MODEL_LOGREG or MODEL_GBDT: skip the choice */
    struct logreg_params lr;
    struct gbdt_params gb;
};

struct model {
    char measure[16];        /* measure code (BCS, ...) */
    int year;                /* outcome year the model learned from */
    size_t p;                /* features */
    char **feature_names;    /* owned; p names */
    enum model_kind kind;    /* the kept learner */
    struct logreg lr;        /* valid when kind == MODEL_LOGREG */
    struct gbdt gb;          /* valid when kind == MODEL_GBDT */
    int calibrated;          /* Platt scaling applied */
    double platt_a, platt_b; /* log-odds' = a * log-odds + b (1 and 0 when not calibrated) */
    double cv_auc_logreg;    /* mean cross-validated AUC of each learner (NAN if not run) */
    double cv_auc_gbdt;
    double valid_ece_raw;             /* validation ECE before calibration */
    struct model_metrics test;        /* held-out metrics of the final model */
    size_t n_rows;                    /* rows given to model_train */
    size_t n_fit, n_valid;            /* rows used for fitting and validation */
    char fingerprint[65];             /* hex SHA-256 of the training data (model_fingerprint) */
    struct model_train_params params; /* as used */
    double train_seconds;             /* wall time of model_train (informational; not serialized) */
};

/* Defaults: seed 1, 3 folds, cv_max_rows 200000, test 0.2, valid 0.1, ece_max 0.01, choose the
 * learner, logreg_params_default, gbdt_params_default. */
void model_train_params_default(struct model_train_params *prm);

/* Trains a model for `measure` (code copied) and outcome `year` from X (finite values, named
 * columns) and labels y[0..X->n) (1 = gap stayed open). *out is a new model (model_free) or NULL
 * on failure. Returns SG_OK, SG_EINVAL (bad parameters, non-finite value, too few rows or one
 * class only -- named in err), SG_ENOMEM, SG_EINTERNAL. */
int model_train(const struct model_matrix *X, const uint8_t *y, const char *measure, int year,
                const struct model_train_params *prm, struct model **out, char *err,
                size_t errlen) SG_WUR;

/* Frees a model; NULL is fine. */
void model_free(struct model *m);

/* Hex SHA-256 over the training data: the feature names, n, p, the matrix values (IEEE-754
 * little-endian float bytes) and the labels. Returns SG_OK or SG_EINTERNAL. */
int model_fingerprint(const struct model_matrix *X, const uint8_t *y, char out[65]) SG_WUR;

/* Calibrated log-odds of a gap staying open, for one row of m->p features. */
double model_margin(const struct model *m, const float *x);

/* Calibrated gap probability for one row. */
double model_predict(const struct model *m, const float *x);

/* Gap probabilities for n contiguous rows (m->p floats each) into out[n]. */
void model_predict_batch(const struct model *m, const float *x, size_t n, double *out);

struct model_top_feature {
    const char *name; /* borrowed from the model */
    double value;     /* the member's feature value */
    double impact;    /* SHAP value in log-odds (> 0 raises the gap probability) */
};

struct model_explanation {
    double probability; /* calibrated gap probability */
    double margin;      /* its log-odds */
    double base;        /* SHAP base value (expected log-odds); base + sum(phi) == margin */
    size_t n_top;       /* entries in top (<= MODEL_TOP_K; fewer when p is smaller) */
    struct model_top_feature top[MODEL_TOP_K]; /* largest |impact| first */
};

/* Computes exact SHAP values for one row: phi[0..m->p) (caller storage, may be NULL when only
 * the summary is wanted) and the explanation. Returns SG_OK, SG_EINVAL (unprepared tree model)
 * or SG_ENOMEM. */
int model_explain(const struct model *m, const float *x, double *phi,
                  struct model_explanation *ex) SG_WUR;

/* Risk tier of a probability: "high" when p >= high, "medium" when p >= medium, else "low"
 * (static strings). The defaults are high 0.7, medium 0.4. */
const char *model_risk_tier(double p, double high, double medium);

/* Writes a one-paragraph recommendation for closing the gap of `measure`, naming the drivers
 * that raise the gap probability (impact > 0) among ex->top. Returns SG_OK, SG_ETOOBIG or
 * SG_ENOMEM from the buffer. */
int model_recommendation(const char *measure, const struct model_explanation *ex,
                         struct sg_buf *out) SG_WUR;

/* Appends a one-line summary for `stargap train` / `stargap models`: measure, year, learner
 * (trees), rows, CV AUCs, calibration and the held-out metrics. Returns SG_OK or the buffer's
 * error. */
int model_summary(const struct model *m, struct sg_buf *out) SG_WUR;

/* Serializes the model in the versioned text format (floating-point values as C99 hex floats,
 * so model_load gives back bit-identical numbers). Returns SG_OK or the buffer's error. */
int model_save(const struct model *m, struct sg_buf *out) SG_WUR;

/* Parses text[0..len) written by model_save. *out is a new model or NULL; errors are SG_EPARSE
 * (naming the line) or SG_EUNSUPPORTED (other format version), SG_ENOMEM. */
int model_load(const char *text, size_t len, struct model **out, char *err, size_t errlen) SG_WUR;

/* Checks that the model's feature names equal names[0..p) in order. SG_OK or SG_EINVAL naming
 * the first difference. */
int model_check_features(const struct model *m, char *const *names, size_t p, char *err,
                         size_t errlen) SG_WUR;

#endif
