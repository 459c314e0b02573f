/* gbdt.h: gradient-boosted decision trees for binary outcomes (logistic loss), with exact
 * path-dependent TreeSHAP values.
 *
 * Training: features are bucketed once into at most max_bins quantile bins; each tree is grown
 * leaf-wise (best gain first) from gradient/hessian histograms, the smaller child's histogram
 * built from its rows and the larger one's obtained by subtraction; splits must leave at least
 * min_child_weight hessian on each side; leaf values are -G/(H + lambda) times the learning rate;
 * boosting stops when the validation log loss has not improved for early_stopping rounds, and the
 * model is cut back to the best round. Histogram building is split into a fixed number of row
 * chunks summed in a fixed order, so the model is bit-identical whatever the thread count.
 *
 * Explanations: SHAP values of the log-odds for the "path-dependent" value function of Lundberg,
 * Erion and Lee (2018, "Consistent individualized feature attribution for tree ensembles"):
 * v(S) = E[f(x) | x_S], where a split on a feature outside S averages its two children by their
 * training cover. Each leaf contributes a product game over the distinct features on its path,
 * so its Shapley values depend only on which of those features x satisfies; gbdt_prepare()
 * tabulates them per leaf for every satisfaction pattern (the precomputation of Yang's "Fast
 * TreeSHAP v2", 2021), and gbdt_shap() then costs O(leaves x depth) per tree. */
#ifndef SG_MODEL_GBDT_H
#define SG_MODEL_GBDT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/matrix.h"

#define GBDT_MAX_DEPTH 8 /* deepest tree allowed (bounds the SHAP tables: 2^d x d per leaf) */

struct gbdt_params {
    int max_trees;           /* most boosting rounds */
    double learning_rate;    /* shrinkage, in (0, 1] */
    int max_depth;           /* 1..GBDT_MAX_DEPTH */
    int max_leaves;          /* 2..256 leaves per tree */
    double min_child_weight; /* least hessian sum in a child (>= 0) */
    double lambda;           /* L2 penalty on leaf values (>= 0) */
    int max_bins;            /* 2..256 histogram bins per feature */
    int early_stopping;      /* stop after this many rounds without validation improvement */
    int threads;             /* worker threads for histograms (1..64); does not change results */
};

struct gbdt_node {
    int32_t feature; /* split feature, or -1 for a leaf */
    float threshold; /* x[feature] < threshold goes to `left`, otherwise to left + 1 */
    int32_t left;    /* index of the left child; the right child is left + 1 */
    double value;    /* leaf value (log-odds increment, shrinkage applied); 0 for inner nodes */
    double cover;    /* training rows that reached this node */
};

struct gbdt_tree {
    uint32_t n_nodes;        /* nodes; node 0 is the root */
    struct gbdt_node *nodes; /* owned */
};

struct gbdt_prep; /* scoring and SHAP tables built by gbdt_prepare (private) */

struct gbdt {
    size_t p;                /* features */
    double base;             /* initial log-odds (training prevalence) */
    size_t n_trees;          /* trees */
    struct gbdt_tree *trees; /* owned */
    double valid_logloss;    /* validation log loss at the kept round (NAN if not trained here) */
    struct gbdt_prep *prep;  /* owned; NULL until gbdt_prepare */
};

/* Defaults: 500 trees, learning rate 0.2, depth 6, 31 leaves, min_child_weight 20, lambda 1,
 * 255 bins, early stopping after 20 rounds, 2 threads. */
void gbdt_params_default(struct gbdt_params *prm);

/* Checks parameter ranges. Returns SG_OK or SG_EINVAL naming the parameter. */
int gbdt_params_check(const struct gbdt_params *prm, char *err, size_t errlen) SG_WUR;

/* Fits trees on rows fit[0..nfit) of X, early-stopping on rows valid[0..nvalid) (nvalid may be
 * 0: then all max_trees rounds are kept). Labels y are indexed by row number. out is initialized
 * here and prepared for scoring (call gbdt_free_members on success or failure).
 * Returns SG_OK, SG_EINVAL (bad parameters, no rows, one class only), SG_ENOMEM. */
int gbdt_fit(const struct model_matrix *X, const uint8_t *y, const uint32_t *fit, size_t nfit,
             const uint32_t *valid, size_t nvalid, const struct gbdt_params *prm, struct gbdt *out,
             char *err, size_t errlen) SG_WUR;

/* Frees everything a gbdt owns; safe on a zeroed struct. */
void gbdt_free_members(struct gbdt *m);

/* Checks the tree structure (children in range and after their parent, covers positive and
 * consistent, features < p, finite values) and builds the scoring and SHAP tables. Must be
 * called after filling a gbdt by hand (the model loader does). Returns SG_OK, SG_EPARSE with the
 * tree and node in err, or SG_ENOMEM. */
int gbdt_prepare(struct gbdt *m, char *err, size_t errlen) SG_WUR;

/* Log-odds for one row (by walking the trees; works before gbdt_prepare too). */
double gbdt_margin(const struct gbdt *m, const float *x);

/* Log-odds for n contiguous rows of m->p features into out[n]; uses the branch-free tables of
 * gbdt_prepare (falls back to gbdt_margin when unprepared). Same values as gbdt_margin. */
void gbdt_margin_batch(const struct gbdt *m, const float *x, size_t n, double *out);

/* Exact path-dependent TreeSHAP values of the log-odds: phi[0..p) (caller storage) and *base,
 * the expected log-odds over the training cover, with base + sum(phi) == margin up to rounding.
 * Requires gbdt_prepare; returns SG_OK or SG_EINVAL when unprepared. */
int gbdt_shap(const struct gbdt *m, const float *x, double *phi, double *base) SG_WUR;

/* The expected log-odds (the SHAP base value). */
double gbdt_expected_value(const struct gbdt *m);

#endif
