/* plan.h: what the portfolio module computes from a contract's measures and open gaps:
 * candidate interventions (single gaps or bundles), the marginal value of a closure and each
 * gap's estimated value and priority, the expected outcome of a plan (measure rates and stars,
 * the distribution of the overall rating, revenue), the budget optimizer, scenario simulations
 * and portfolio snapshots. Methods and a worked example: docs/PORTFOLIO.md.
 *
 * A closure probability is always per open gap: without intervention the gap closes with
 * 1 - gap_probability; worked by an intervention of success rate s it closes with
 * 1 - gap_probability * (1 - s). Closures of different members are independent. */
#ifndef SG_PORTFOLIO_PLAN_H
#define SG_PORTFOLIO_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "portfolio/portfolio.h"

/* Everything the computations read; all borrowed from the caller and left unchanged. */
struct pf_problem {
    const struct pf_measure *measures; /* n_measures entries (<= PF_MAX_MEASURES) */
    size_t n_measures;
    const struct pf_gap *gaps; /* open gaps, any order */
    size_t n_gaps;
    const struct pf_config *cfg; /* intervention types, bundle rules, economics */
    struct pf_rater rater;       /* Star Ratings engine (or pf_testrater) */
    long members;                /* enrolled members of the contract (revenue, snapshot) */
};

/* Validates the problem: every measure (pf_measure_check), gap measure indices, gap
 * probabilities in [0,1], no more open gaps on a measure than non-compliant members, an
 * intervention type for every measure with open gaps, members > 0, a rater. The message names
 * the field ("gaps[12].gap_probability", "measure GSD: ..."). */
int pf_problem_check(const struct pf_problem *p, char *err, size_t errlen) SG_WUR;

/* ---- candidate interventions and bundling (bundle.c) ---- */

struct pf_intervention {
    uint32_t member; /* the member it is for */
    uint32_t first;  /* its gaps are gap_index[first .. first+n_gaps-1] */
    uint32_t n_gaps; /* 1 for a single, >= 2 for a bundle */
    int32_t rule;    /* index into cfg->rules for a bundle, -1 for a single */
    double cost;     /* dollars */
    double value;    /* estimated value in dollars (pf_candidates_value) */
    double priority; /* 0-100 (pf_candidates_value) */
};

struct pf_candidates {
    struct pf_intervention *items; /* owned */
    size_t n;
    uint32_t *gap_index; /* owned; indices into problem->gaps, grouped by intervention */
};

/* Builds one intervention per open gap, or with use_bundles groups each member's gaps by the
 * bundle rules (in file order; a rule applies when the member has open gaps on >= 2 of its
 * measures; leftovers are singles). Bundle cost = sum of single costs - (k-1)*shared_cost.
 * Items are ordered by member, then rule order. Free with pf_candidates_free. Fails with
 * SG_EINVAL (invalid problem, message names the field) or SG_ENOMEM; *out is empty then. */
int pf_candidates_build(const struct pf_problem *p, int use_bundles, struct pf_candidates *out,
                        char *err, size_t errlen) SG_WUR;

/* Frees the arrays of a candidate list (safe on a zeroed or already freed list). */
void pf_candidates_free(struct pf_candidates *c);

/* The intervention type name of an item (the bundle rule's type, or the measure's single
 * type). Borrowed from the configuration. */
const char *pf_intervention_type(const struct pf_problem *p, const struct pf_candidates *c,
                                 size_t i);

/* Writes the measure codes an item covers (borrowed from the problem's measures, in the item's
 * gap order, each once) into codes[0..cap) and returns how many there are (may exceed cap). */
size_t pf_intervention_measures(const struct pf_problem *p, const struct pf_candidates *c, size_t i,
                                const char **codes, size_t cap);

/* ---- valuation (value.c) ---- */

/* The marginal value of one closure on a measure, amortized toward the best reachable star. */
struct pf_marginal {
    int star_now;         /* measure star at the reference count */
    int star_target;      /* star level the value is amortized toward (0 = none reachable) */
    long closures_needed; /* closures from the reference count to star_target */
    double star_gain;     /* measure stars per closure */
    double part_c_gain;   /* Part C summary (raw weighted value) per closure */
    double part_d_gain;   /* Part D summary per closure */
    double overall_gain;  /* raw overall rating per closure */
    double value;         /* dollars per closure (smoothed revenue, pf_econ_smooth_revenue) */
};

/* Computes pf_marginal for every measure at the expected year-end count without intervention
 * (compliant + sum of 1 - gap_probability, rounded), holding the other measures at their stars
 * there. Among the star levels above the current one that the measure's open gaps can reach,
 * the one with the largest dollar value per closure is chosen. out has n_measures entries. */
int pf_marginal_values(const struct pf_problem *p, struct pf_marginal *out, char *err,
                       size_t errlen) SG_WUR;

/* Same for one measure at an explicit reference: compliant count `count` and the stars of all
 * measures in `stars` (stars[mi] is replaced by the star of `count`). max_closures bounds the
 * closures considered (the measure's open gaps). */
int pf_marginal_value_at(const struct pf_problem *p, size_t mi, long count, const int *stars,
                         long max_closures, struct pf_marginal *out, char *err,
                         size_t errlen) SG_WUR;

/* Per gap: value[i] = success x gap_probability x marginal value of its measure, and
 * priority[i] = value per dollar of its single intervention scaled so the best gap is 100.
 * Either output may be NULL. */
int pf_gap_values(const struct pf_problem *p, const struct pf_marginal *mv, double *value,
                  double *priority, char *err, size_t errlen) SG_WUR;

/* Fills items[].value (sum over the item's gaps) and items[].priority (value per dollar scaled
 * 0-100 over the list). */
void pf_candidates_value(const struct pf_problem *p, const struct pf_marginal *mv,
                         struct pf_candidates *c);

/* ---- outcomes (outcome.c) ---- */

struct pf_measure_outcome {
    double exp_closures; /* expected closures among the open gaps */
    double exp_rate;     /* expected year-end rate, percent */
    int star_at_exp;     /* star of the expected rate (rounded count) */
    double exp_star;     /* expectation of the star */
    double p_star[6];    /* P(star = k), k = 1..5 (index 0 unused) */
};

struct pf_outcome {
    struct pf_measure_outcome m[PF_MAX_MEASURES];
    struct pf_ratings at_exp; /* ratings of the stars at the expected rates */
    double exp_overall_raw;   /* E[raw overall] over the star distributions */
    double exp_overall;       /* E[published (half-star) overall] */
    double p_overall[11];     /* P(overall = i/2), i = 0..10 (0 = not rated) */
    double p_overall_ge4;     /* P(overall >= 4) */
    double exp_revenue;       /* E[annual revenue at the published overall] */
    double revenue_at_exp;    /* revenue at at_exp.overall */
};

/* Per-gap closure probabilities of a plan: 1 - gp, or 1 - gp*(1 - s) for gaps covered by a
 * chosen item (chosen[i] != 0; chosen may be NULL for none). pclose has n_gaps entries. */
void pf_closure_probs(const struct pf_problem *p, const struct pf_candidates *c,
                      const uint8_t *chosen, double *pclose);

/* Expected outcome for per-gap closure probabilities. exact != 0 uses the exact Poisson-binomial
 * distribution of each measure's closures; otherwise measures with more than 2,000 open gaps
 * use a normal approximation (continuity-corrected). The overall distribution enumerates the
 * joint measure stars (pruned to 20,000 combinations, renormalized). */
int pf_evaluate(const struct pf_problem *p, const double *pclose, int exact, struct pf_outcome *out,
                char *err, size_t errlen) SG_WUR;

/* Exact Poisson-binomial pmf of the number of successes of n independent Bernoulli(p[i]):
 * *pmf (caller frees) holds P(K = lo + j) for j < *len. Computed by the O(n^2) DP on blocks of
 * 512 and pairwise convolution of the blocks' pmfs; entries below 1e-17 of the peak are dropped
 * from the edges (the pmf of m probabilities stays ~18 standard deviations wide), which makes
 * the cost ~O(n log n) for realistic p; the dropped mass is below n*1e-17. Fails with SG_EINVAL
 * (p outside [0,1]) or SG_ENOMEM. */
int pf_poisson_binomial(const double *p, size_t n, double **pmf, size_t *lo, size_t *len) SG_WUR;

/* ---- optimizer (optimize.c) ---- */

enum pf_objective { PF_OBJECTIVE_STARS = 0, PF_OBJECTIVE_REVENUE = 1 };

/* Parses "stars" or "revenue"; the message names the parameter "objective". */
int pf_objective_parse(const char *s, enum pf_objective *out, char *err, size_t errlen) SG_WUR;

struct pf_opt_params {
    double budget;               /* dollars, > 0 */
    long max_count;              /* most interventions; 0 = no limit */
    enum pf_objective objective; /* E[raw overall] or E[revenue] */
    int no_polish;               /* testing: skip the exact local search on small lists */
    int no_exchange;             /* testing: skip the exchange moves after each greedy pass */
};

struct pf_plan_summary {
    size_t *chosen; /* owned: indices into the candidate list, ascending */
    size_t n_chosen;
    double spend;          /* dollars */
    struct pf_outcome out; /* expected outcome with the plan */
    double objective;      /* objective value with the plan */
    double gain;           /* objective - objective without intervention */
    double revenue_gain;   /* E[revenue] - E[revenue without intervention] */
    double roi;            /* revenue_gain / spend (0 when nothing is spent) */
};

struct pf_opt_result {
    struct pf_outcome baseline; /* no intervention */
    double objective_baseline;
    struct pf_plan_summary plan;           /* the optimizer's choice */
    struct pf_plan_summary by_probability; /* naive: highest gap probability first */
    struct pf_plan_summary by_weight;      /* naive: highest measure weight first */
    int rounds;                            /* linearization rounds run */
};

/* Chooses candidates under the budget (and max_count) to maximize the objective: greedy with
 * per-measure lookahead runs over a conditionally linearized objective (three variants), exchange
 * moves between measures, re-linearized and re-run (up to 3 rounds), and with <= 64 candidates an
 * exact local search (docs/PORTFOLIO.md). Evaluates the plan and the two naive orders. Fails with
 * SG_EINVAL naming "budget" (<= 0 or not finite), "max_count" (< 0) or "objective", the problem's
 * validation errors, or SG_ENOMEM. Free with pf_opt_result_free (also after a failure). Candidate
 * values (items[].value) are not required. */
int pf_optimize(const struct pf_problem *p, const struct pf_candidates *c,
                const struct pf_opt_params *prm, struct pf_opt_result *out, char *err,
                size_t errlen) SG_WUR;

/* The objective value of an outcome. */
double pf_objective_value(enum pf_objective obj, const struct pf_outcome *o);

void pf_opt_result_free(struct pf_opt_result *r);

/* ---- simulation (simulate.c) ---- */

enum pf_strategy {
    PF_STRATEGY_CLOSURE = 0,     /* closure rates per measure */
    PF_STRATEGY_TRIPLE_WEIGHTED, /* work the gaps of the weight >= 3 measures, best value first */
    PF_STRATEGY_BALANCED,        /* equal share of the budget per measure, best value first */
    PF_STRATEGY_OPTIMIZER,       /* the optimizer's plan for the budget */
    PF_STRATEGY_INTERVENTIONS,   /* an explicit list of candidates */
};

/* Parses a strategy name (triple_weighted, balanced, optimizer; "closure" and "interventions"
 * too). The message names the parameter "strategy" and lists the valid names. */
int pf_strategy_parse(const char *name, enum pf_strategy *out, char *err, size_t errlen) SG_WUR;

/* Returns the name of a strategy (static). */
const char *pf_strategy_name(enum pf_strategy s);

struct pf_scenario {
    enum pf_strategy strategy;
    const double *closure_rate;  /* CLOSURE: per measure, in [0,1]; a NaN entry = not set */
    double budget;               /* BALANCED, OPTIMIZER: > 0; TRIPLE_WEIGHTED: <= 0 = no limit */
    enum pf_objective objective; /* OPTIMIZER */
    const size_t *interventions; /* INTERVENTIONS: candidate indices */
    size_t n_interventions;
    long runs;     /* Monte Carlo runs (0 = none; at most 1,000,000) */
    uint64_t seed; /* Monte Carlo seed */
};

struct pf_sim_measure {
    double rate_now;                    /* current rate (percent) */
    double rate_base;                   /* expected year-end rate without intervention */
    double rate_proj;                   /* expected year-end rate under the scenario */
    int star_now, star_base, star_proj; /* stars of those rates */
    int star_easy, star_hard; /* star of rate_proj with cut points moved by -/+ guardrail */
    double exp_star_proj;     /* E[star] under the scenario (exact distribution) */
    double exact_p_star[6];   /* P(star = k) from the exact Poisson-binomial distribution */
    double mc_p_star[6];      /* the Monte Carlo frequencies of the same */
    double mc_mean_closures;  /* Monte Carlo mean of the closures */
    long open_gaps, gaps_worked;
    double exp_closed_base, exp_closed_proj; /* expected closures among the open gaps */
    double *pmf; /* owned: exact P(closures = pmf_lo + j) under the scenario */
    size_t pmf_lo, pmf_len;
};

struct pf_sim_result {
    enum pf_strategy strategy;
    size_t n_measures;
    struct pf_sim_measure m[PF_MAX_MEASURES];
    struct pf_ratings now, base, proj;        /* at current / baseline / projected expected rates */
    struct pf_ratings proj_easy, proj_hard;   /* projected, cut points -/+ guardrail */
    struct pf_outcome exact_base, exact_proj; /* exact distributions without / with the scenario */
    double mc_overall[11];                    /* Monte Carlo P(overall = i/2) */
    double mc_exp_overall;                    /* Monte Carlo E[overall] */
    double mc_p_ge4;                          /* Monte Carlo P(overall >= 4) */
    long runs;
    double revenue_base, revenue_proj, revenue_impact; /* expected annual revenue */
    double investment;                                 /* dollars */
    double roi;            /* revenue_impact / investment (0 when nothing is invested) */
    double gaps_closed;    /* expected closures added by the scenario */
    long members_impacted; /* members with at least one worked gap */
    size_t n_worked;       /* interventions worked (0 for closure-rate scenarios) */
};

/* Runs a scenario: baseline and projected rates and stars per measure, Part C, Part D and
 * overall through the rater, the exact per-measure closure distributions, a seeded Monte Carlo
 * over member-level probabilities, cut-point uncertainty, revenue, investment and ROI.
 * c may be NULL only for CLOSURE scenarios. Errors name the field: "closure_rate[GSD]",
 * "budget", "strategy", "interventions[3]", "runs". Free with pf_sim_result_free. */
int pf_simulate(const struct pf_problem *p, const struct pf_candidates *c,
                const struct pf_scenario *s, struct pf_sim_result *out, char *err,
                size_t errlen) SG_WUR;

void pf_sim_result_free(struct pf_sim_result *r);

/* ---- snapshot (snapshot.c) ---- */

struct pf_snapshot {
    long members;           /* enrolled members (problem->members) */
    long members_with_gaps; /* distinct members with an open gap */
    long total_gaps;
    long gaps_by_measure[PF_MAX_MEASURES]; /* per problem measure */
    long gaps_by_tier[PF_NTIERS];          /* enum pf_tier */
    double star_current;                   /* overall at the current rates */
    double star_projected;                 /* overall at the expected year-end rates */
    struct pf_ratings current, projected;
    double estimated_value; /* sum of the gaps' estimated values */
};

/* Aggregates the open gaps. gap_value (n_gaps, may be NULL) are the values from pf_gap_values;
 * with NULL they are computed here. */
int pf_snapshot_compute(const struct pf_problem *p, const double *gap_value,
                        struct pf_snapshot *out, char *err, size_t errlen) SG_WUR;

/* Ranks members by the total value of their open gaps (members with >= min_gaps gaps), best
 * first, ties by member index; writes up to `limit` members and totals. Returns the count
 * written (>= 0) or a negative sg_err. */
long pf_rank_members(const struct pf_problem *p, const double *gap_value, long min_gaps,
                     size_t limit, uint32_t *member, double *total, long *n_gaps, char *err,
                     size_t errlen) SG_WUR;

#endif
