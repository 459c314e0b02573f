/* portfolio.h: the shared types of the portfolio module (sg_portfolio): measures of one contract
 * with their cut points, open gaps, the configuration (intervention types, bundle rules, the
 * economics model), the rating callback through which the Star Ratings engine is plugged in, and
 * the measure-star arithmetic everything else builds on.
 *
 * The module is pure computation (libc + core only): the caller (CLI, API) reads rows from the
 * store, fills these structs, and persists what comes back. See docs/PORTFOLIO.md. */
#ifndef SG_PORTFOLIO_PORTFOLIO_H
#define SG_PORTFOLIO_PORTFOLIO_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define PF_CODE_LEN 40     /* measure code (BCS, PDC-DR, ...) incl. NUL; as long as the catalog's */
#define PF_NAME_LEN 32     /* intervention type / rule name incl. NUL */
#define PF_DESC_LEN 128    /* description incl. NUL */
#define PF_MAX_MEASURES 64 /* measures per problem */
#define PF_MAX_ITYPES 64   /* rows of interventions.csv */
#define PF_MAX_RULES 32    /* rows of bundles.csv */
#define PF_BUNDLE_MAX 6    /* measures per bundle rule */
#define PF_MAX_LEVELS 12   /* rows of the bonus / rebate tables */

/* One Star measure of one contract: its cut points and where the contract stands. The rate is in
 * percent in the measure's own direction; a gap closure adds one to `compliant`. */
struct pf_measure {
    char code[PF_CODE_LEN]; /* stable code: BCS, COL, CBP, GSD, EED, KED, PDC-DR, ... */
    char part;              /* 'C' or 'D' */
    double weight;          /* weight in the summary and overall ratings (0 = not rated) */
    int lower_is_better;    /* 1 for measures like readmissions: rate = 100*(den-compliant)/den */
    int precision;          /* display decimals of the rate (CMS rounds half-up to these) */
    double cut[4];          /* thresholds of 2, 3, 4 and 5 stars in display units */
    double guardrail;       /* largest yearly cut-point move (5 points for 0-100 measures) */
    long denominator;       /* members in the denominator and not excluded */
    long compliant;         /* members meeting the measure now (numerator, star direction) */
};

/* Risk tiers of a gap prediction (issue 6: high >= 0.7, medium >= 0.4, else low). */
enum pf_tier { PF_TIER_HIGH = 0, PF_TIER_MEDIUM = 1, PF_TIER_LOW = 2, PF_NTIERS = 3 };

/* One open gap: a member in the measure's denominator, not excluded, numerator not met. */
struct pf_gap {
    uint32_t member;        /* dense member index chosen by the caller (0 .. n_members-1) */
    uint16_t measure;       /* index into the measure array */
    uint8_t tier;           /* enum pf_tier of the prediction */
    double gap_probability; /* P(the gap is still open at year end without intervention) */
};

/* An intervention type for one measure (data/portfolio/interventions.csv). */
struct pf_itype {
    char measure[PF_CODE_LEN]; /* measure code it works on */
    char type[PF_NAME_LEN];    /* lab_work, eye_exam_referral, pcp_visit, screening_order, ... */
    double cost;               /* cost of one attempt in dollars (> 0) */
    double success;            /* P(the attempt closes a gap that would otherwise stay open) */
    char desc[PF_DESC_LEN];
};

/* A bundle rule (data/portfolio/bundles.csv): a member's open gaps on two or more of these
 * measures are worked in one encounter whose cost is paid once. Bundle cost = sum of the single
 * costs - (k-1) * shared_cost for k gaps bundled, so it is always below the sum. */
struct pf_bundle_rule {
    char name[PF_NAME_LEN];
    char type[PF_NAME_LEN];                    /* intervention type recorded for the bundle */
    char measures[PF_BUNDLE_MAX][PF_CODE_LEN]; /* measure codes the encounter covers */
    size_t n_measures;
    double shared_cost; /* the encounter part of each single cost, paid once per bundle */
    char desc[PF_DESC_LEN];
};

/* The economics model (data/portfolio/economics.conf), see docs/PORTFOLIO.md for the sources.
 * Payment per member-month = bid + rebate_share(r) * (benchmark*(1+bonus(r)) - bid) when the bid
 * is below the bonus-adjusted benchmark, else the benchmark; times the risk score. */
struct pf_econ {
    double benchmark_pmpm; /* county benchmark per member per month, before the bonus */
    double bid_pmpm;       /* the plan's bid for Part A/B benefits per member per month */
    double risk_score;     /* average risk score applied to bid and benchmark (1.0 = average) */
    int double_bonus;      /* 1 = qualifying (double-bonus) county: bonus percentages doubled */
    size_t n_bonus;
    double bonus_min[PF_MAX_LEVELS]; /* ascending rating thresholds ... */
    double bonus_pct[PF_MAX_LEVELS]; /* ... and the benchmark increase in percent from there */
    size_t n_rebate;
    double rebate_min[PF_MAX_LEVELS]; /* ascending rating thresholds ... */
    double rebate_pct[PF_MAX_LEVELS]; /* ... and the share of (benchmark - bid) rebated */
};

/* The whole configuration (caller storage, no heap). */
struct pf_config {
    struct pf_itype itypes[PF_MAX_ITYPES];
    size_t n_itypes;
    struct pf_bundle_rule rules[PF_MAX_RULES];
    size_t n_rules;
    struct pf_econ econ;
};

/* Ratings returned by a rater; 0 means "not rated". */
struct pf_ratings {
    double part_c, part_d, overall; /* published values (half stars) */
    double part_c_raw, part_d_raw;  /* the summaries before half-star rounding */
    double overall_raw;             /* the overall before half-star rounding (mean + r + CAI) */
};

/* The rating callback: given one star per problem measure (1..5, 0 = no star), fills the Part
 * C, Part D and overall ratings. The contract's other measures (CAHPS, appeals, ...) are held
 * by ctx. Must be reentrant (the simulator calls it from one thread, many times). Returns 0 or a
 * negative sg_err. The Star Ratings engine is plugged in through this; pf_testrater below is a
 * simple stand-in for tests. */
struct pf_rater {
    int (*rate)(void *ctx, const int *stars, size_t n, struct pf_ratings *out);
    void *ctx;
};

/* TEST STAND-IN, NOT CMS's METHOD: a plain weighted mean of measure stars (no reward factor, no
 * CAI, no hold-harmless, no eligibility minimums) plus fixed stars of measures outside the
 * problem, half-star rounded. For unit tests, benchmarks and wiring before the Star Ratings
 * engine lands. */
struct pf_testrater {
    const struct pf_measure *measures; /* borrowed, n entries */
    size_t n;
    double other_c_wsum, other_c_w; /* sum of weight*star and of weight of other Part C measures */
    double other_d_wsum, other_d_w; /* same for Part D */
};

/* pf_rater callback for a struct pf_testrater *ctx. Never fails for valid stars (1..5 or 0). */
int pf_testrater_rate(void *ctx, const int *stars, size_t n, struct pf_ratings *out);

/* Half-star rounding as CMS does it (6-decimal value, [x.25, x.75) -> x.5), capped at 5. */
double pf_round_half_star(double raw);

/* Rounds a rate half-up to `precision` decimals (83.5 -> 84 at precision 0). */
double pf_round_display(double rate, int precision);

/* Rate in percent for `compliant` members (direction applied). Returns 0 for den <= 0. */
double pf_rate(const struct pf_measure *m, long compliant);

/* Star (1..5) for a display-rounded rate against cut points, in the measure's direction. */
int pf_star_for_rate(const struct pf_measure *m, const double cut[4], double rate);

/* Star (1..5) of the measure when `compliant` members meet it (0 when den <= 0). */
int pf_star_for_count(const struct pf_measure *m, long compliant);

/* Fills need[k] for k = 2..5 with the smallest compliant count whose star is >= k under `cut`
 * (denominator + 1 when no count reaches it); need[0] = need[1] = 0. */
void pf_star_thresholds(const struct pf_measure *m, const double cut[4], long need[6]);

/* Checks one measure's fields; the message names the measure and the field. */
int pf_measure_check(const struct pf_measure *m, char *err, size_t errlen) SG_WUR;

/* ---- configuration (config.c) ---- */

/* Zeroes a configuration. */
void pf_config_init(struct pf_config *c);

/* Parses interventions.csv text (header `measure,intervention_type,cost,success_rate,
 * description`) into c->itypes, replacing them. `name` is used in messages ("file:line: field").
 * Fails with SG_EPARSE / SG_ERANGE / SG_ETOOBIG / SG_ECONFLICT (duplicate measure); on failure
 * c->n_itypes is 0. */
int pf_config_parse_interventions(struct pf_config *c, const char *text, size_t len,
                                  const char *name, char *err, size_t errlen) SG_WUR;

/* Parses bundles.csv text (header `bundle,intervention_type,measures,shared_cost,description`,
 * measures separated by ';'). Every measure must have an intervention type already, and
 * shared_cost must be below each of its measures' single cost. On failure c->n_rules is 0. */
int pf_config_parse_bundles(struct pf_config *c, const char *text, size_t len, const char *name,
                            char *err, size_t errlen) SG_WUR;

/* Parses economics.conf text (`key = value` lines, # comments) into *e. Keys: benchmark_pmpm,
 * bid_pmpm or bid_ratio, risk_score, double_bonus_county, and repeatable `bonus = MIN PCT` and
 * `rebate = MIN PCT` rows in ascending order. On failure *e is zeroed. */
int pf_econ_parse(struct pf_econ *e, const char *text, size_t len, const char *name, char *err,
                  size_t errlen) SG_WUR;

/* Reads interventions.csv, bundles.csv and economics.conf from dir into c. */
int pf_config_load_dir(struct pf_config *c, const char *dir, char *err, size_t errlen) SG_WUR;

/* The intervention type for a measure code, or NULL (borrowed). */
const struct pf_itype *pf_config_itype(const struct pf_config *c, const char *measure);

/* ---- economics (econ.c) ---- */

struct pf_revenue {
    double bonus_pct;      /* quality bonus applied to the benchmark, percent */
    double rebate_pct;     /* rebate share, percent */
    double benchmark_pmpm; /* benchmark with the bonus, risk-adjusted */
    double rebate_pmpm;    /* rebate per member-month, risk-adjusted */
    double payment_pmpm;   /* CMS payment per member-month (bid + rebate, or benchmark) */
    double annual;         /* payment_pmpm * 12 * members */
};

/* Bonus percentage for a (half-star) overall rating, doubled in a double-bonus county. */
double pf_econ_bonus_pct(const struct pf_econ *e, double rating);

/* Rebate share in percent for a (half-star) rating. */
double pf_econ_rebate_pct(const struct pf_econ *e, double rating);

/* Revenue of `members` enrollees for a year at a (half-star) overall rating. */
void pf_econ_revenue(const struct pf_econ *e, double rating, long members, struct pf_revenue *out);

/* Smoothed annual revenue for a raw overall: linear interpolation of the revenue at the
 * neighbouring half-star levels (the expectation under a uniform +-0.25 uncertainty of the raw
 * value). Used to value small rating changes; see docs/PORTFOLIO.md. */
double pf_econ_smooth_revenue(const struct pf_econ *e, double raw, long members);

/* Checks the economics fields (positive benchmark, ascending tables, shares within [0,100]). */
int pf_econ_check(const struct pf_econ *e, char *err, size_t errlen) SG_WUR;

#endif
