/* features.h: the feature set of the gap models, built from plain structs (no SQL), so the
 * `train` and `predict` commands only have to fill these structs from the store.
 *
 * A row describes one member for one measure and outcome year Y, using only what is known at
 * the start of Y (features from year Y-1):
 *   age                    Y - birth year (age reached during Y, as the measures use)
 *   female, dual, lis, disability        member attributes (0/1)
 *   enrolled_prior_year    1 when the member had any measure result or feature row in Y-1
 *   prior_<M>_elig         for each of the 11 measures M: in M's denominator, not excluded, in Y-1
 *   prior_<M>_met          ... and in M's numerator in Y-1
 *   prior_measures_met     number of measures met in Y-1
 *   prior_gaps_open        number of measures in the denominator but not met in Y-1
 *   contract_prior_rate    the member's contract's Y-1 rate of M (numerator / eligible; the
 *                          all-contract rate when the contract had fewer than 30 eligible members)
 *   <imported features>    the member_features.csv columns of year Y-1, in the order given
 *                          (missing values become 0; pass NAN for missing)
 * The same function builds training rows (label year Y, features Y-1) and prediction rows
 * (year Y+1, features Y), so a model and its inputs always agree; model_check_features() compares
 * the names. */
#ifndef SG_MODEL_FEATURES_H
#define SG_MODEL_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/matrix.h"

#define FEATURES_N_MEASURES 11
#define FEATURES_N_BASE (6 + 2 * FEATURES_N_MEASURES + 3) /* columns before imported features */

/* The measure codes in feature order: BCS, COL, CBP, GSD, EED, KED, BPD, SUPD, PDC-DR,
 * PDC-RASA, PDC-STA (borrowed, static). */
extern const char *const features_measures[FEATURES_N_MEASURES];

/* Index of a measure code in features_measures, or -1. */
int features_measure_index(const char *code);

/* Prior-year status of a member on one measure. */
enum features_status {
    FEATURES_NOT_ELIGIBLE = 0, /* not in the denominator, excluded, or not enrolled */
    FEATURES_OPEN = 1,         /* in the denominator, not in the numerator: the gap was open */
    FEATURES_MET = 2,          /* in the numerator */
};

struct features_member {
    int birth_year;            /* from birth_date */
    int female;                /* sex F */
    int dual, lis, disability; /* 0/1 */
    int enrolled_prior_year;   /* see above */
    uint8_t
        prior[FEATURES_N_MEASURES]; /* enum features_status for Y-1, by features_measures order */
};

/* Fills the p = FEATURES_N_BASE + n_extra column names of m (which must have that many
 * columns); extra_names are the imported feature names (validated with model_feature_name_ok;
 * they may not repeat a built-in name). Returns SG_OK, SG_EINVAL naming the bad name, SG_ENOMEM. */
int features_set_names(struct model_matrix *m, const char *const *extra_names, size_t n_extra,
                       char *err, size_t errlen) SG_WUR;

/* Writes one row of FEATURES_N_BASE + n_extra values into out for outcome year `year`:
 * contract_prior_rate in [0, 1] (NAN: unknown, written as 0.5), extra[0..n_extra)
 * the imported values of year-1 (NAN = missing -> 0). Never fails. */
void features_build_row(const struct features_member *mem, int year, double contract_prior_rate,
                        const double *extra, size_t n_extra, float *out);

/* Contract prior-year rates: given for each of n members its contract index (0..n_contracts)
 * and its status on one measure, writes rate[c] = met / (open + met) for each contract, the
 * all-contract rate for contracts with fewer than 30 eligible members (NAN when nobody is
 * eligible anywhere). rate has n_contracts entries. Returns SG_OK or SG_ENOMEM. */
int features_contract_rates(const uint32_t *contract, const uint8_t *status, size_t n,
                            size_t n_contracts, double *rate) SG_WUR;

/* Builds the whole feature matrix of one measure in one call: X is initialized here (call
 * model_matrix_fini) with FEATURES_N_BASE + n_extra named columns and one row per entry of
 * rows[0..n_rows) (member indexes into mem), for outcome year `year`. contract[i] is member i's
 * contract index (< n_contracts); contract rates are computed from mem[].prior[measure] over all
 * n_members; extra is n_members x n_extra values of year-1 (NAN = missing; may be NULL when
 * n_extra is 0). Returns SG_OK, SG_EINVAL (bad measure, name, row or contract index, named in
 * err) or SG_ENOMEM. */
int features_build_matrix(const struct features_member *mem, const uint32_t *contract,
                          size_t n_members, size_t n_contracts, const double *extra,
                          const char *const *extra_names, size_t n_extra, int measure, int year,
                          const uint32_t *rows, size_t n_rows, struct model_matrix *X, char *err,
                          size_t errlen) SG_WUR;

/* Prior-year status of a measure result row (flags 0/1): FEATURES_MET when in the denominator,
 * not excluded and in the numerator; FEATURES_OPEN when in the denominator, not excluded and not
 * in the numerator; FEATURES_NOT_ELIGIBLE otherwise (no row at all is also NOT_ELIGIBLE). */
enum features_status features_prior_status(int denominator, int exclusion, int numerator);

/* Label of a measure-year result for training: 1 when the gap stayed open (in the denominator,
 * not excluded, numerator 0), 0 when closed; -1 when the row is not a training row. */
int features_label(int denominator, int exclusion, int numerator);

#endif
