/* internal.h: helpers shared by the portfolio sources (not part of the module's contract). */
#ifndef SG_PORTFOLIO_INTERNAL_H
#define SG_PORTFOLIO_INTERNAL_H

#include "portfolio/plan.h"

/* Per-measure single-intervention success rate and cost (0 when the measure has no type). */
void pf_measure_itypes(const struct pf_problem *p, double *success, double *cost);

/* P(star = k) for k = 1..5 (index 0: P(unrated), 1 when the denominator is 0). */
struct pf_stardist {
    double p[6];
};

/* Star distribution of a measure whose closures K have a normal approximation with mean mu and
 * variance var (continuity-corrected; deterministic when var is ~0). need from
 * pf_star_thresholds, c0 the current compliant count. */
void pf_stardist_normal(const struct pf_measure *m, const long need[6], double mu, double var,
                        struct pf_stardist *d);

/* Star distribution from an exact pmf of closures (P(K = lo + j), j < len). */
void pf_stardist_pmf(const struct pf_measure *m, const long need[6], const double *pmf, size_t lo,
                     size_t len, struct pf_stardist *d);

/* Summary of the overall rating over independent measure star distributions. */
struct pf_enum_result {
    double exp_raw;       /* E[raw overall] */
    double exp_overall;   /* E[half-star overall] */
    double p_overall[11]; /* P(overall = i/2) */
    double exp_revenue;   /* E[revenue(half-star overall)] */
    double exp_smooth;    /* E[pf_econ_smooth_revenue(raw)] */
};

/* Enumerates the joint stars (with measure fixed_m forced to star fixed_k when fixed_m >= 0),
 * pruning each measure's unlikely stars (below 1e-9, then the least likely first) so at most
 * max_combos combinations are rated, and calls the rater on each. */
int pf_enumerate(const struct pf_problem *p, const struct pf_stardist *d, int fixed_m, int fixed_k,
                 double max_combos, struct pf_enum_result *out, char *err, size_t errlen);

#define PF_ENUM_MAX 20000.0   /* combinations rated when evaluating an outcome */
#define PF_ENUM_LINEAR 2000.0 /* per conditional expectation in the optimizer's linearization */

/* Fills an outcome from per-measure star distributions and expected closures mu[m]. */
int pf_outcome_fill(const struct pf_problem *p, const struct pf_stardist *d, const double *mu,
                    struct pf_outcome *out, char *err, size_t errlen);

#endif
