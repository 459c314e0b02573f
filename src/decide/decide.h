/* decide.h: the wiring of issue 7 between the store, the Star Ratings engine and the pure
 * portfolio module. It reads one measurement year's data from the store (members, measure
 * results, the latest predictions), the star year's parameters and published cut points and the
 * data/portfolio configuration, builds one struct pf_problem per contract with the REAL Star
 * Ratings engine as the rater (an adapter over stars_rate(), docs/PORTFOLIO.md "Wiring"), and
 * persists what the portfolio module computes (gap analysis, interventions, simulations,
 * snapshots). The CLI commands (gaps, optimize, simulate, snapshot, run) and the API handlers
 * both call it, so both persist the same rows with the same audit trail.
 *
 * Measurement year Y is rated in star year Y + 2 (the 2026 Star Ratings use 2024 HEDIS data)
 * unless a star year is given. Only measures with member-level data in the store, a place in
 * the star year's parameters, published cut points and an intervention type form the problem;
 * the contract's other measures (CAHPS, HOS, appeals, ...) come from its latest star_ratings row
 * for that star year when there is one, otherwise they are treated as not reported, so the
 * ratings are over the measures stargap has data for (dc_contract.other_measures says which). */
#ifndef SG_DECIDE_H
#define SG_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "db/store.h"
#include "portfolio/plan.h"
#include "portfolio/portfolio.h"
#include "stars/stars.h"

/* The rater adapter: the contract as stars_rate() input, problem measure -> params index. */
struct dc_rater {
    const struct stars_params *params; /* the star year (borrowed from dc_portfolio) */
    struct stars_contract_input base;  /* class, Part D, every measure the contract has */
    int idx[PF_MAX_MEASURES];          /* problem measure -> params->measures index */
};

/* pf_rater callback over a struct dc_rater (reentrant: copies the base input on the stack). */
int dc_rater_rate(void *ctx, const int *stars, size_t n, struct pf_ratings *out);

/* One contract of the portfolio, ready for the portfolio module. */
struct dc_contract {
    char contract_id[STORE_CONTRACT_LEN];
    long members; /* active members of the contract */
    struct pf_measure measures[PF_MAX_MEASURES];
    size_t n_measures;
    struct pf_gap *gaps; /* owned; open gaps of the problem measures */
    size_t n_gaps;
    uint32_t *gap_member; /* owned; gap -> index into dc_portfolio.hashes */
    uint32_t *dense;      /* owned; dense member index -> dc_portfolio.hashes */
    size_t n_dense;       /* members with at least one open gap */
    long unscored;        /* open gaps without a prediction (valued with gp = 1) */
    int other_measures;   /* 1: other measures' stars came from star_ratings */
    struct dc_rater rater;
    struct pf_problem prob; /* points into the fields above */
};

/* An open gap of a measure outside the problem (no star weight this star year, e.g. BPD):
 * recorded in gap_analysis with value 0. */
struct dc_extra_gap {
    uint32_t member; /* index into dc_portfolio.hashes */
    char measure[STORE_CODE_LEN];
    double gap_probability;
    uint8_t tier; /* enum pf_tier of the prediction */
};

struct dc_portfolio {
    int year, star_year;
    struct stars_params *params; /* owned */
    struct stars_cut *cuts;      /* owned; 2 * STARS_MAX_MEASURES, as stars_rate() */
    struct pf_config cfg;
    char (*hashes)[STORE_HASH_LEN]; /* owned; every member, sorted (member_scan order) */
    uint16_t *member_contract;      /* owned; member -> index into c[] */
    size_t n_members;
    struct dc_contract *c; /* owned; contracts in id order (only the asked one) */
    size_t n;
    struct dc_extra_gap *extra; /* owned */
    size_t n_extra;
};

/* The directory of the shipped data files: cfg->data_dir when set, else the source tree's data/
 * (compiled in). Borrowed. */
const char *dc_data_dir(const struct sg_config *cfg);

/* Reads the star year's cut points from a CSV of CMS band cells (data/stars/cuts/YEAR.csv:
 * plan,cms_id,measure,star1..star5; plan MA or PDP) into cuts[2*i] (MA, MA-PD) and
 * cuts[2*i+1] (PDP). SG_ENOTFOUND when the file does not exist ("no cut points for star year
 * ..."), SG_EPARSE naming file, line and field. */
int dc_cuts_load(const struct stars_params *p, const char *path, struct stars_cut *cuts, char *err,
                 size_t errlen) SG_WUR;

/* Loads year `year` (star_year 0 = year + 2) for one contract (NULL = all) from the store and
 * data_dir (the shipped data/ directory). *out is a new portfolio (dc_free it); NULL on failure.
 * Fails with SG_EINVAL naming "year" (no measure results), "contract" (no members),
 * "star_year" (no parameter file or no cut points), configuration errors naming the file, or
 * store errors. */
int dc_load(struct store *st, const char *data_dir, int year, int star_year, const char *contract,
            struct dc_portfolio **out, char *err, size_t errlen) SG_WUR;

void dc_free(struct dc_portfolio *p);

/* Index of a contract in p->c, or -1. */
int dc_find_contract(const struct dc_portfolio *p, const char *contract_id);

/* What dc_gaps_refresh did. */
struct dc_gaps_summary {
    long long open_gaps;                    /* rows written (problem and extra gaps) */
    long long unscored;                     /* of those, without a prediction */
    struct store_refresh_counts counts;     /* summed over contracts */
    long long bundles;                      /* bundle candidates (>= 2 gaps) */
    double bundle_cost, bundle_single_cost; /* their cost and the sum of their singles' costs */
    double estimated_value;                 /* sum over the gaps */
    long long interventions_created;        /* bundle interventions recorded (create_bundles) */
};

/* Values every open gap of every loaded contract (pf_marginal_values, pf_gap_values), refreshes
 * gap_analysis per contract (store_gap_refresh_batch) and, with create_bundles, records each
 * bundle candidate whose member has no planned/in-progress intervention with the same measure
 * codes as a planned intervention (idempotent). */
int dc_gaps_refresh(struct dc_portfolio *p, struct store *st, const struct store_actor *a,
                    int create_bundles, struct dc_gaps_summary *sum, char *err,
                    size_t errlen) SG_WUR;

/* Records a candidate as a planned intervention (a bundle when it covers several gaps, else
 * linked to its gap's gap_analysis row, which must exist: run gaps first). */
int dc_create_intervention(struct dc_portfolio *p, struct store *st, const struct store_actor *a,
                           size_t ci, const struct pf_candidates *cand, size_t item, char *err,
                           size_t errlen) SG_WUR;

/* Whole-portfolio (or one contract's) snapshot rows: computes pf_snapshot_compute per contract,
 * persists one row per contract and, when several contracts are loaded, one for the whole
 * portfolio (contract ""; stars = enrollment-weighted mean of the contracts' overall ratings,
 * rounded to half stars). rows (may be NULL) receives the persisted rows (caller
 * store_snapshot_fini's each, n = n contracts + 1 when several), heap array freed with free(). */
int dc_snapshot(struct dc_portfolio *p, struct store *st, const struct store_actor *a,
                struct store_snapshot **rows, size_t *n_rows, char *err, size_t errlen) SG_WUR;

/* JSON text (heap, free()) of an optimizer result for contract ci, or NULL on allocation
 * failure. cand is the candidate list the plan indexes. */
char *dc_opt_json(const struct dc_portfolio *p, size_t ci, const struct pf_candidates *cand,
                  const struct pf_opt_result *r, long max_items);

/* JSON text (heap) of a simulation result for contract ci; NULL on allocation failure. */
char *dc_sim_json(const struct dc_portfolio *p, size_t ci, const struct pf_sim_result *r);

/* Fills a simulations row from a result (scenario_details = dc_sim_json, owned by the row). */
int dc_sim_row(const struct dc_portfolio *p, size_t ci, const struct pf_sim_result *r,
               const char *strategy, double closure_rate, struct store_simulation *row, char *err,
               size_t errlen) SG_WUR;

/* Parses "CODE=RATE,CODE=RATE" into rates[] indexed by the contract's problem measures (NaN for
 * measures not given); *mean gets the mean of the given rates. Errors name "closure" and the
 * code: unknown measure, rate outside [0,1]. */
int dc_parse_closure(const struct dc_contract *c, const char *spec, double *rates, double *mean,
                     char *err, size_t errlen) SG_WUR;

/* Rates contract ci with stars_rate() at its current rates (scores of the problem measures
 * against the star year's cut points, the other measures as in the rater's base) and persists
 * a star_ratings row (measure_stars, measure_scores, reward factor, CAI, explanation); *out
 * (may be NULL) receives the row (store_star_rating_fini). */
int dc_star_rating(struct dc_portfolio *p, size_t ci, struct store *st, const struct store_actor *a,
                   struct store_star_rating *out, char *err, size_t errlen) SG_WUR;

#endif
