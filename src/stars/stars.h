/* stars.h: CMS Medicare Part C & D Star Ratings methodology (pure computation, libc + core only).
 *
 * Four layers, as in the CMS Technical Notes (docs/STARS.md has the method step by step):
 *   1. year parameters: a text file per star year (data/stars/YYYY.txt) parsed from a buffer by
 *      stars_params_parse(): measures (CMS id, stable code, name, part, domain, weighting
 *      category, weight, direction, display precision, flags), domains, minimum measure counts,
 *      reward-factor thresholds and CAI values;
 *   2. measure score -> measure star against cut points (stars_measure_star), with display
 *      rounding, lower-is-better bands, the data-issue override and the disaster rule;
 *   3. cut points from all contracts' scores (stars_cutpoints): Tukey outer-fence deletion,
 *      10-fold mean resampling, 1-D Ward clustering, guardrails;
 *   4. a contract's domain stars, Part C / Part D summaries and overall rating (stars_rate):
 *      weighted mean and variance, reward factor, CAI, improvement and new-measure hold-harmless,
 *      half-star rounding, minimum-measure eligibility.
 * Measures are identified by their stable code or name; Cxx ids change from year to year.
 * Memory: only scratch inside stars_ward(), stars_cutpoints() and stars_restricted_range(),
 * freed before they return; there is no I/O and no global state. */
#ifndef SG_STARS_H
#define SG_STARS_H

#include <stddef.h>

#include "core/err.h"

#define STARS_MAX_MEASURES 64
#define STARS_MAX_DOMAINS 16
#define STARS_MAX_FAC 16
#define STARS_MAX_MIN 32
#define STARS_CODE_LEN 40
#define STARS_NAME_LEN 160

/* The four rating types that have their own reward thresholds and CAI tables. */
enum stars_rating_type {
    STARS_PART_C = 0,
    STARS_PART_D_MAPD,
    STARS_PART_D_PDP,
    STARS_OVERALL,
    STARS_NRATING
};

enum stars_category {
    STARS_CAT_PROCESS,
    STARS_CAT_OUTCOME,
    STARS_CAT_INTERMEDIATE_OUTCOME,
    STARS_CAT_PATIENT_EXPERIENCE,
    STARS_CAT_ACCESS,
    STARS_CAT_IMPROVEMENT
};

enum stars_method { STARS_METHOD_CLUSTER, STARS_METHOD_CAHPS, STARS_METHOD_IMPROVEMENT };

enum stars_scale {
    STARS_SCALE_PCT,    /* 0..100: guardrail +-5 points, fences capped at 0/100 */
    STARS_SCALE_NONNEG, /* >= 0: guardrail 5% of the prior restricted range */
    STARS_SCALE_SIGNED
};

/* Contract classes of TN Tables 5-7 (they set the minimum measure counts). */
enum stars_class {
    STARS_CLASS_COST,
    STARS_CLASS_CCP,
    STARS_CLASS_CCP_SNP,
    STARS_CLASS_ISNP,
    STARS_CLASS_MSA,
    STARS_CLASS_PFFS,
    STARS_CLASS_PDP,
    STARS_NCLASS
};

/* Measure flags (the `flags` cell of a measure row). */
#define STARS_F_NEW 0x01u          /* new or respecified this year: weight-1 year, new-measure HH */
#define STARS_F_NO_GUARDRAIL 0x02u /* no guardrail (in the program <= 3 years, improvement) */
#define STARS_F_SNP_ONLY 0x04u     /* required only of contracts with SNPs */
#define STARS_F_OVERALL_ONCE 0x08u /* duplicate of a Part C measure: left out of the overall */
#define STARS_F_PR_ZERO 0x10u      /* weight 0 for Puerto-Rico-only contracts */
#define STARS_F_NO_DISASTER 0x20u  /* not adjusted by the disaster rule (call center) */
#define STARS_F_HOS                                                                                \
    0x40u /* HOS survey data: the disaster rule looks at the disasters of the                      \
             year before the measurement year */

/* One measure of a star year (a row of the [measures] section). This is also the row the
 * storage layer seeds into its `measures` catalog table. */
struct stars_measure_def {
    char cms_id[8];               /* CMS id for this star year ("C10", "D08"); changes yearly */
    char code[STARS_CODE_LEN];    /* stable code: HEDIS abbreviation (GSD, PDC-DR) or a slug */
    char name[STARS_NAME_LEN];    /* CMS measure name as printed in that year's data table */
    char part;                    /* 'C' or 'D' */
    char domain[8];               /* domain id ("HD2") */
    enum stars_category category; /* weighting category */
    double weight;                /* weight in summary and overall ratings */
    int higher_is_better;         /* 1 higher is better, 0 lower is better */
    int precision;                /* display decimals (scores are rounded half-up to this) */
    enum stars_scale scale;       /* value range (guardrail and fence rules) */
    enum stars_method method;     /* how CMS assigns its stars */
    int member_level;             /* 1 when stargap computes it from member data */
    unsigned flags;               /* STARS_F_* */
};

struct stars_domain_def {
    char id[8];                /* "HD1" .. "DD4" */
    char part;                 /* 'C' or 'D' */
    char name[STARS_NAME_LEN]; /* CMS domain name */
};

struct stars_reward_row {
    double mean_p65, mean_p85, var_p30, var_p70; /* thresholds, compared at 6 decimals */
    int present;                                 /* the row was given */
};

/* Everything that changes from one star year to the next. Plain data: copy freely. */
struct stars_params {
    int star_year;
    double disaster_threshold; /* percent of enrollees in disaster areas (25) */
    double hold_harmless_min;  /* improvement hold-harmless applies from this rating (4.0) */
    double
        cut_disaster_exclusion; /* contracts with >= this % enrollees in disaster areas are
                                   left out of cut-point clustering (60 through 2025; 0 = none) */
    int new_measure_thresholds; /* reward thresholds exist with/without new measures */
    size_t nmeasures;
    struct stars_measure_def measures[STARS_MAX_MEASURES];
    size_t ndomains;
    struct stars_domain_def domains[STARS_MAX_DOMAINS];
    int min_measures[3][STARS_NCLASS]; /* [0 part C, 1 part D, 2 overall][class]; -1 = not rated */
    int of_measures[3][STARS_NCLASS];  /* the n of "min of n" */
    /* [with improvement][with new measures][rating type]; for years without the new-measure
     * variant both [.][0] and [.][1] hold the same row */
    struct stars_reward_row reward[2][2][STARS_NRATING];
    size_t nfac[STARS_NRATING];
    double cai[STARS_NRATING][STARS_MAX_FAC]; /* cai[type][fac-1] */
};

/* Parses a year-parameter file held in text[0..len) (need not be NUL-terminated). `name` names
 * the source in error messages. Fills *p completely. Returns SG_OK, or SG_EPARSE / SG_ERANGE /
 * SG_ETOOBIG with "name:line: column: problem" in err. */
int stars_params_parse(const char *text, size_t len, const char *name, struct stars_params *p,
                       char *err, size_t errlen) SG_WUR;

/* Index of the measure with this stable code (case-insensitive), or -1. */
int stars_find_code(const struct stars_params *p, const char *code);

/* Index of the measure of `part` ('C'/'D', or 0 for either) whose name matches `name` (case,
 * whitespace and dash variants ignored; a leading "C01: " id prefix is skipped), or -1. */
int stars_find_name(const struct stars_params *p, char part, const char *name);

/* Parses "part_c", "part_d_mapd", "part_d_pdp", "overall"; -1 when unknown. */
int stars_rating_type_parse(const char *s);
/* Stable names of enums, for output ("part_c", "process", "ccp_snp", ...). Static strings. */
const char *stars_rating_type_name(int t);
const char *stars_category_name(enum stars_category c);
const char *stars_class_name(enum stars_class c);
/* Parses a class name as written by stars_class_name; -1 when unknown. */
int stars_class_parse(const char *s);

/* ---------------------------------------------------------------- measure stars */

/* Cut points of one measure for one plan type. t[k] is the threshold of star k+2:
 * higher is better: star k+2 when score >= t[k]; lower is better: star k+2 when score <= t[k].
 * A star level CMS left empty has present[k] = 0. */
struct stars_cut {
    int valid; /* cut points are known */
    double t[4];
    int present[4];
};

/* Rounds half-up to `decimals` places, robust to binary representation (83.5 -> 84,
 * 83.499999 -> 83, 0.125 at 2 dp -> 0.13). */
double stars_round_half_up(double x, int decimals);

/* Star (1..5) of a score against cut points, after rounding the score to the measure's display
 * precision. Returns 0 when the cut points are not valid. */
int stars_score_star(const struct stars_measure_def *m, const struct stars_cut *cut, double score);

/* Distance from a score (rounded as above) to the threshold of the next higher star, in score
 * units and always >= 0 (for lower-is-better measures: how much the score must drop).
 * Returns 0 and sets *next_star (0 when already 5 stars or no cut points). */
double stars_distance_to_next(const struct stars_measure_def *m, const struct stars_cut *cut,
                              double score, int *next_star);

/* Parses one CMS band cell ("< 58 %", ">= 58 % to < 71 %", "> 10 % to <= 12 %", "<= 7 %",
 * "100%") for star `star` (1..5) into cut->t[star-2] (star 1 gives the threshold of star 2).
 * An empty cell leaves the level absent. Returns SG_OK or SG_EPARSE. */
int stars_parse_band(const char *cell, int star, int higher_is_better,
                     struct stars_cut *cut) SG_WUR;

/* Parses a CMS score cell: "76%", "84", "0.15", "-0.2". Returns 1 and *out for a number, 0 for
 * an empty cell or one of CMS's status texts ("Plan too small to be measured", "Not enough data
 * available", ...: no score), -1 for anything else. Sets *data_issue when the text is CMS's
 * "CMS identified issues with this plan's data". */
int stars_parse_score(const char *cell, double *out, int *data_issue);

/* ---------------------------------------------------------------- rating a contract */

enum stars_star_source {
    STARS_SRC_NONE = 0,
    STARS_SRC_GIVEN,
    STARS_SRC_SCORE,
    STARS_SRC_DATA_ISSUE,
    STARS_SRC_PRIOR_YEAR
};

/* A contract's value for one measure; measures the caller has nothing for stay all-zero. */
struct stars_measure_input {
    int has_score;    /* score is set */
    double score;     /* raw score (rounded to display precision by the engine) */
    int star;         /* a star already assigned (e.g. published, CAHPS, improvement); 0 = none */
    int data_issue;   /* CMS identified issues with the data: 1 star */
    int prior_star;   /* last year's star for the disaster rule; 0 = none */
    int not_required; /* the contract is not required to report it (CMS status "Plan not
                         required to report measure"): left out of the required count */
};

/* Input of stars_rate(): one contract in one star year. */
struct stars_contract_input {
    enum stars_class cls;      /* contract class (min measure counts) */
    int offers_part_d;         /* MA-PD (1) or MA-only (0); ignored for PDPs */
    int puerto_rico_only;      /* adherence measures get weight 0 */
    int fac[STARS_NRATING];    /* final adjustment category per rating type; 0 = no CAI */
    double disaster_pct;       /* % enrollees in FEMA IA areas in the measurement year */
    double disaster_pct_prior; /* the same for the year before, which HOS measures (flag
                                  hos) are adjusted for; 0 when unknown */
    struct stars_measure_input m[STARS_MAX_MEASURES]; /* indexed like params->measures */
};

struct stars_options {
    int no_reward;        /* leave out the reward factor (ablation) */
    int no_cai;           /* leave out the CAI (ablation) */
    int no_hold_harmless; /* always use the with-improvement rating */
};

/* Why a measure got its star, and how far it is from the next one. */
struct stars_measure_result {
    int star; /* 1..5, 0 = unrated */
    enum stars_star_source source;
    double score;    /* rounded score when one was given, else NAN */
    double weight;   /* weight in the summaries (0 when unrated or zero-weighted) */
    int next_star;   /* star the next threshold gives; 0 when none */
    double distance; /* score change needed to reach next_star (0 when none) */
};

/* One summary (Part C, Part D) or overall computation. */
struct stars_summary {
    int rated;            /* 1 when the contract gets this rating */
    int n;                /* rated measures used (including improvement when used) */
    int n_counted;        /* rated measures counted for eligibility (no improvement measures) */
    int n_required;       /* minimum rated measures needed (-1: the contract type has no such
                             rating). When any measure input has not_required set, the minimum is
                             derived as TN Table 6 does: half of the required non-improvement
                             measures, odd counts rounded up; otherwise the year's table for the
                             contract class is used */
    double mean;          /* weighted mean of measure stars */
    double variance;      /* weighted variance n*SUM w(x-mean)^2 / (W (n-1)) */
    double reward;        /* reward factor 0, 0.1 .. 0.4 */
    double cai;           /* CAI added */
    double raw;           /* mean + reward + cai */
    double rating;        /* half-star rating (0 when not rated) */
    int with_improvement; /* the improvement measure(s) are in this result */
    int with_new;         /* new measures are in this result */
};

enum stars_highest { STARS_HIGHEST_OVERALL, STARS_HIGHEST_PART_C, STARS_HIGHEST_PART_D };

/* Output of stars_rate(). */
struct stars_result {
    struct stars_measure_result m[STARS_MAX_MEASURES]; /* indexed like params->measures */
    int domain_star[STARS_MAX_DOMAINS];                /* 0 = not rated */
    struct stars_summary part_c, part_d, overall;      /* final ratings */
    enum stars_highest highest;                        /* which rating is the contract's highest */
    struct stars_summary highest_without_improvement;  /* the "step 2" computation */
    struct stars_summary highest_with_improvement;     /* the "step 3" computation */
    int hold_harmless;             /* 1: without-improvement result used for the highest rating */
    int new_measure_hold_harmless; /* 1: the without-new-measures result was used somewhere */
    int disaster_affected;         /* disaster_pct >= threshold (new-measure hold-harmless) */
    char explanation[512];         /* one-line account of the hold-harmless decisions */
};

/* Rates one contract. `cuts` (may be NULL) holds cut points per measure index and plan type:
 * cuts[2*i] for MA (and MA-PD Part D), cuts[2*i+1] for PDP Part D; used for measures given as
 * scores and for distances. Stars are taken in this order: data issue -> 1; given star; score
 * against cut points; then the disaster rule may raise it to prior_star. Fills *out completely.
 * Returns SG_OK, or SG_EINVAL (star outside 1..5, FAC outside the table, bad class, score not a
 * number) or SG_ERANGE (score outside the measure's scale) naming the field in err
 * ("measures.GSD: ...", "adjustment_category.part_c: ..."). */
int stars_rate(const struct stars_params *p, const struct stars_contract_input *in,
               const struct stars_cut *cuts, const struct stars_options *opt,
               struct stars_result *out, char *err, size_t errlen) SG_WUR;

/* Half-star rounding of a raw rating: value rounded to 6 decimals, then floor(2x + 0.5) / 2,
 * capped to [1, 5]. */
double stars_half_star(double raw);

/* Reward factor of a mean and variance against one threshold row (compared at 6 decimals). */
double stars_reward_factor(const struct stars_reward_row *row, double mean, double variance);

/* ---------------------------------------------------------------- cut points */

struct stars_cut_options {
    int folds;            /* mean resampling folds (10); 1 = cluster all scores once */
    int outlier_deletion; /* Tukey outer fences (1) */
    int guardrails;       /* clamp against prior cut points (1) */
    unsigned long seed;   /* fold assignment seed (8675309) */
};

/* Default options: 10 folds, outlier deletion and guardrails on, seed 8675309. */
void stars_cut_options_default(struct stars_cut_options *o);

/* Ward hierarchical clustering of n 1-D values into at most k clusters (fewer when there are
 * fewer distinct values). Values need not be sorted. On return labels[i] in 0..*nclusters-1 gives
 * each value's cluster, numbered by increasing mean. O(n log n). Returns SG_OK, SG_EINVAL
 * (n == 0 or k < 1) or SG_ENOMEM. */
int stars_ward(const double *x, size_t n, int k, int *labels, int *nclusters) SG_WUR;

/* SAS PCTLDEF=5 percentile (p in 0..1) of sorted values. */
double stars_percentile(const double *sorted, size_t n, double p);

/* Cut points of one measure from the contracts' scores (rounded to display precision first):
 * Tukey outer-fence deletion, then `folds` runs each leaving one fold out, Ward clustering into
 * 5 (improvement measures: >= 0 into 3 levels for stars 3-5 with the 3-star threshold fixed at 0,
 * < 0 into 2 levels), the mean over runs of each star's cut point, then guardrails against
 * `prior` (may be NULL or invalid: no guardrail) with cap 5 points for 0-100 measures or
 * 5% of `prior_range` otherwise (prior_range <= 0: no guardrail for those), and finally display
 * rounding. Returns SG_OK, SG_EINVAL (fewer than 5 scores after deletion) or SG_ENOMEM. */
int stars_cutpoints(const struct stars_measure_def *m, const double *scores, size_t n,
                    const struct stars_cut *prior, double prior_range,
                    const struct stars_cut_options *opt, struct stars_cut *out, char *err,
                    size_t errlen) SG_WUR;

/* Projection: the cut points a plan can expect next year, bounded by the guardrails. Given this
 * year's cut points `cuts` (2 per measure, as for stars_rate) writes into `out` (same shape) the
 * best case (best = 1: every threshold moved by the full guardrail cap in the plan's favour) or
 * the worst case (best = 0: moved against it). The cap is 5 points for 0-100 measures and 5% of
 * ranges[i] (this year's restricted range of measure i; NULL or <= 0: unchanged) otherwise.
 * Measures without guardrails (new, improvement) keep their cut points: CMS does not bound them.
 * Rating a contract's projected scores with stars_rate() against `cuts`, the best case and the
 * worst case gives the expected, highest and lowest plausible stars. */
void stars_projection_cuts(const struct stars_params *p, const struct stars_cut *cuts,
                           const double *ranges, int best, struct stars_cut *out);

/* Tukey outer fences of the scores (rounded to display precision) for measure m, capped at the
 * measure's range, into *lo and *hi. Returns the restricted range (max - min of the scores inside
 * the fences), the quantity guardrails for non-percentage measures take 5% of; -1 when n == 0 or
 * memory runs out. */
double stars_restricted_range(const struct stars_measure_def *m, const double *scores, size_t n,
                              double *lo, double *hi);

#endif
