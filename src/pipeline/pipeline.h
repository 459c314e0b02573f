/* pipeline.h: member data in, gap-closure predictions out (issue 6), on top of the storage
 * interface (db/store.h) and the pure model code (model/).
 *
 * - import: members.csv, measure_results.csv and member_features.csv from a directory, read with
 *   core/csv.h, validated row by row; raw member IDs are hashed at read time (core/memberid.h)
 *   and never stored, logged or written to the rejects file; rejected rows go to a rejects CSV
 *   (file, line, reason); the rest is merged in transactions (idempotent: importing the same
 *   files again changes nothing).
 * - datasets: for an outcome year Y, every member's attributes, Y-1 statuses on the 11 measures,
 *   Y-1 imported features and contract, read from the store with bulk scans, turned into model
 *   rows by model/features.h (the same builder for training and for scoring).
 * - train: labels from year Y, features from Y-1, model_train() per measure, stored as a new
 *   version in the models table; for a scored year observed on an as-of day (issue 7) the rows
 *   are the gaps of Y still open on that day (pl_train_as_of, pl_as_of_label).
 * - score: every open gap of year Y (denominator, not excluded, numerator 0) with the latest
 *   model of its measure and features from Y-1; predictions with SHAP values, top features,
 *   recommendation and risk tier, batch-inserted.
 * - one member: the features of one member for the prediction endpoints. */
#ifndef SG_PIPELINE_H
#define SG_PIPELINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"
#include "core/err.h"
#include "core/memberid.h"
#include "db/store.h"

struct stars_params;
#include "model/features.h"
#include "model/model.h"

/* ---- import ---- */

/* Reject reasons, counted separately in the summary. */
enum pl_reject {
    PL_REJ_COLUMNS = 0,    /* wrong column count */
    PL_REJ_MEMBER_ID,      /* empty or invalid member_id */
    PL_REJ_CONTRACT,       /* bad contract_id */
    PL_REJ_DATE,           /* bad date (birth, enrollment) or end before start */
    PL_REJ_SEX,            /* sex not F/M */
    PL_REJ_FLAG,           /* a 0/1 flag that is something else */
    PL_REJ_MEASURE,        /* unknown measure code */
    PL_REJ_YEAR,           /* year not an integer 2000..2100 */
    PL_REJ_NUMERATOR,      /* numerator without denominator */
    PL_REJ_DENOMINATOR,    /* denominator or exclusion without initial population */
    PL_REJ_DUPLICATE,      /* duplicate key in the file */
    PL_REJ_UNKNOWN_MEMBER, /* member neither in members.csv nor in the store */
    PL_REJ_NUMBER,         /* a feature value that is not a finite number */
    PL_REJ_FHIR,           /* FHIR input the measure engine's reader rejects (import --fhir) */
    PL_REJ_NUMDATE_YEAR,   /* numerator_date outside the row's measurement year */
    PL_REJ_NUMDATE_OPEN,   /* numerator_date on a row whose numerator is 0 */
    PL_REJ_COUNT
};

/* Static name of a reject reason ("wrong column count", ...). */
const char *pl_reject_name(enum pl_reject r);

struct pl_file_summary {
    long long rows;     /* data rows read (header excluded) */
    long long accepted; /* rows that passed validation */
    long long rejected;
    struct store_merge_counts merged; /* what the store did with the accepted rows */
};

struct pl_import_summary {
    struct pl_file_summary members, results, features;
    int features_present; /* member_features.csv existed */
    long long by_reason[PL_REJ_COUNT];
    size_t n_feature_names; /* columns of member_features.csv after member_id,year */
};

struct pl_import_opts {
    const char *rejects_path; /* rejects CSV to write (required) */
    size_t batch_rows;        /* rows per transaction (0 = 200,000) */
    FILE *progress;           /* progress lines (a terminal), or NULL */
    const char *data_dir;     /* for catalog seeding (NULL = the shipped data/) */
};

/* Imports DIR/members.csv (required), DIR/measure_results.csv (required) and
 * DIR/member_features.csv (optional) into st, seeding the measures catalog first when it lacks
 * an import measure (pl_catalog_ensure). Row errors are rejects, not failures. Fails (SG_EIO,
 * SG_EPARSE for a malformed CSV or header, naming file and line; store errors) only when a file
 * cannot be read as a whole or the store fails; batches committed before such a failure stay.
 * The batches are merged on a second thread while the next rows are read (st is used from both;
 * results and features are merged in primary-key order once their whole file is checked); the
 * results' batches on up to store_batch_writers threads at once, committed in file order, so a
 * failure still leaves exactly the batches before the failing one. */
int pl_import(struct store *st, const struct store_actor *a, const struct sg_memberid *mid,
              const char *dir, const struct pl_import_opts *opts, struct pl_import_summary *sum,
              char *err, size_t errlen) SG_WUR;

/* Imports measure results for measurement year `year` from FHIR input at path (a Bundle file,
 * NDJSON, a directory of them or a Bulk FHIR export directory) through the measure engine
 * (src/measures) with the value sets of valuesets_dir: BCS, COL, CBP, GSD (stored as controlled,
 * the complement of CMS122's numerator among the non-excluded denominator) and EED. Patients
 * whose member is not stored are created with `contract` or, when contract is NULL, rejected as
 * unknown members; patients the reader rejects go to the rejects file. Each accepted patient's
 * birth year and sex (when the Patient has them) are upserted into its member row (contract,
 * flags and active kept), and its meas_features() of year `year` are merged into
 * member_features (source "fhir"). Members, results and features of a batch (at most
 * opts->batch_rows measure results and 50,000 patients) are one store transaction
 * (store_import_batch): a failed batch writes nothing; batches committed before a failure stay.
 * sum->results counts patients (rows = patients read, accepted, rejected) and the merge counts
 * rows written; sum->members and sum->features count the member upserts and feature rows.
 * Errors as pl_import. */
int pl_import_fhir(struct store *st, const struct store_actor *a, const struct sg_memberid *mid,
                   const char *path, const char *valuesets_dir, int year, const char *contract,
                   const struct pl_import_opts *opts, struct pl_import_summary *sum, char *err,
                   size_t errlen) SG_WUR;

/* Reads and parses the parameter file of star `year` (DATA_DIR/stars/YEAR.txt, or path_override
 * when non-NULL) into *p. Fails with SG_EIO, SG_EPARSE, SG_ERANGE or SG_EINVAL (the file is for
 * another year), naming the file in err. */
int pl_star_params_load(const char *data_dir, const char *path_override, int year,
                        struct stars_params *p, char *err, size_t errlen) SG_WUR;

/* Lists the star years that have a parameter file in DATA_DIR/stars, ascending, into
 * years[0..*n) (at most max). SG_EIO when the directory cannot be read, SG_ENOTFOUND when it
 * holds no year file. */
int pl_star_years(const char *data_dir, int *years, int max, int *n, char *err,
                  size_t errlen) SG_WUR;

/* Upserts the catalog rows of every star-year file in DATA_DIR/stars (plus the HEDIS-only BPD
 * row per year) into st, audited as actor a. The year files are the catalog's one source of
 * truth. *seeded (may be NULL) gets the rows written. Errors from the loader or the store. */
int pl_catalog_seed(struct store *st, const struct store_actor *a, const char *data_dir,
                    int *seeded, char *err, size_t errlen) SG_WUR;

/* Makes sure the measures catalog knows the 11 import measures: when one is missing, seeds every
 * star year file DATA_DIR/stars/YYYY.txt (parsed by stars_params_parse) plus BPD, which is a
 * HEDIS measure outside the Star Ratings (catalog row with weight 0 and cms_id "HEDIS").
 * *seeded (may be NULL) gets the number of catalog rows written (0 when nothing was missing). */
int pl_catalog_ensure(struct store *st, const struct store_actor *a, const char *data_dir,
                      int *seeded, char *err, size_t errlen) SG_WUR;

/* ---- datasets, training, scoring ---- */

/* Model version string stored in predictions.model_version: "<code>-v<version>". */
void pl_model_version(const char *code, int version, char *out, size_t cap);

/* The last year whose outcomes are complete: the newest measurement year in measure_results that
 * is before the current UTC calendar year. SG_ENOTFOUND when there is none. */
int pl_default_train_year(struct store *st, int *year, char *err, size_t errlen) SG_WUR;

/* ---- as-of days (issue 7) ----
 * A measurement year in progress is observed on an as-of day, written month * 100 + day
 * (930 = September 30); PL_AS_OF_START (0) means before January 1: nothing closed yet. */
#define PL_AS_OF_START 0

/* month * 100 + day of a "YYYY-MM-DD" date; 0 for "" or a malformed date. */
int pl_month_day(const char *date);

/* Parses "MM-DD" (a day that exists in some year; 02-29 allowed) or "start" into *as_of.
 * Returns 0, or -1 for anything else. */
int pl_as_of_parse(const char *s, int *as_of);

/* Writes an as-of day as "MM-DD" or "start" into out (cap >= 16 avoids truncation). */
void pl_as_of_text(int as_of, char *out, size_t cap);

/* The as-of day of year `year` read from the data: the latest numerator_date of the year's
 * measure results (0 = PL_AS_OF_START when no row carries a date), with the number of met rows
 * that carry a date in *dated and of all met rows in *met (both may be NULL). Reads the year
 * with one bulk scan. Store errors as store_measure_result_scan. */
int pl_data_as_of(struct store *st, int year, int *as_of, long long *dated, long long *met,
                  char *err, size_t errlen) SG_WUR;

/* The training label of a denominator (not excluded) row for models of gaps open on the day
 * as_of: 1 = still open at year end (numerator 0), 0 = open on the day and closed later
 * (numerator met on month-day numerator_md > as_of), -1 = not a training row (met on or before
 * the day, or met on an unknown day, numerator_md 0). With PL_AS_OF_START every row is kept. */
int pl_as_of_label(int numerator, int numerator_md, int as_of);

/* The as-of day of the year being scored: `requested` (>= 0, from --as-of) or, when requested
 * is -1, the data's (pl_data_as_of). *from_data is 1 in the second case. A requested day before
 * the latest numerator_date of the year fails with SG_EINVAL (the data knows more than that day
 * would show). Store errors as pl_data_as_of. */
int pl_scoring_as_of(struct store *st, int year, int requested, int *as_of, int *from_data,
                     char *err, size_t errlen) SG_WUR;

struct pl_train_result {
    char measure[16];
    int skipped; /* 1: too few rows or one class only (reason in note) */
    char note[160];
    size_t rows;               /* training rows */
    double base_rate;          /* share of gaps that stayed open */
    struct model_metrics test; /* held-out metrics */
    double cv_auc_logreg, cv_auc_gbdt;
    char learner[16];
    int calibrated;
    int version; /* stored version */
    char model_id[STORE_ID_LEN];
    char fingerprint[65];
    double seconds;
};

/* Trains one measure (code) or all 11 (code NULL) for outcome year `year` from the store and
 * stores each model. results[0..*n) (caller array of 11) receives one entry per measure.
 * prm NULL = model_train_params_default. Fails on store errors or an internal model error; a
 * measure without enough data is reported as skipped, not as a failure. */
int pl_train(struct store *st, const struct store_actor *a, int year, const char *code,
             const struct model_train_params *prm, struct pl_train_result *results, size_t *n,
             char *err, size_t errlen) SG_WUR;

/* pl_train for models that score a year observed on the day as_of (month * 100 + day): the
 * training rows of year `year` are the members in the measure's denominator, not excluded and
 * still open on that day of `year` (numerator 0, or numerator_date after the day; a met row
 * without a date counts as met before it), labelled 1 when the gap was still open at the end of
 * the year, so the model gives P(open at year end | open on the as-of day). as_of
 * PL_AS_OF_START keeps every denominator row (pl_train). The as-of day is stored in the
 * model's hyperparams ("as_of"). Errors as pl_train. */
int pl_train_as_of(struct store *st, const struct store_actor *a, int year, int as_of,
                   const char *code, const struct model_train_params *prm,
                   struct pl_train_result *results, size_t *n, char *err,
                   size_t errlen) SG_WUR;

/* pl_train_as_of with the measures trained on up to `workers` threads at once (1..64;
 * pl_train and pl_train_as_of use 2, the machine's cores). The stored models do not depend on
 * `workers`: each measure's model depends only on its rows and prm's seed, and the models are
 * stored in measure order after all are trained. */
int pl_train_workers(struct store *st, const struct store_actor *a, int year, int as_of,
                     const char *code, const struct model_train_params *prm, int workers,
                     struct pl_train_result *results, size_t *n, char *err, size_t errlen) SG_WUR;

struct pl_score_result {
    char measure[16];
    int skipped; /* no trained model */
    char model_version[STORE_NAME_LEN];
    size_t open_gaps;  /* rows scored = predictions inserted */
    size_t by_tier[3]; /* high, medium, low */
    double mean_probability;
    double seconds;
};

/* Risk-tier thresholds (issue 6 defaults 0.7 / 0.4). */
struct pl_tiers {
    double high, medium;
};

/* Scores every open gap of measurement year `year` (one measure or all) with the measure's
 * latest model and features from year-1, and batch-inserts the predictions (one transaction per
 * measure). results as pl_train. SG_ECONFLICT when that model already scored that year. */
int pl_predict(struct store *st, const struct store_actor *a, int year, const char *code,
               const struct pl_tiers *tiers, struct pl_score_result *results, size_t *n, char *err,
               size_t errlen) SG_WUR;

/* A loaded model with its store identity (for the prediction endpoints). */
struct pl_model {
    struct model *m;
    char version[STORE_NAME_LEN]; /* "<code>-v<N>" */
    int trained_year;
};

/* Loads the latest model of a measure. SG_ENOTFOUND when none is trained. Free with
 * pl_model_fini. */
int pl_model_load_latest(struct store *st, const char *code, struct pl_model *out, char *err,
                         size_t errlen) SG_WUR;
void pl_model_fini(struct pl_model *pm);

/* Outcome of scoring one member. */
struct pl_member_score {
    int in_denominator;           /* year Y row with denominator 1 and no exclusion */
    int numerator;                /* already met in Y (gap closed) */
    struct store_prediction pred; /* filled when scored; shap_values/top_features heap JSON
                                     (store_prediction_fini) */
};

/* Builds one member's features for year Y (from Y-1) and scores measure `code` with pm. Fails
 * SG_ENOTFOUND (member unknown), SG_EINVAL when the member is not in the measure's denominator
 * for Y ("not in the ... denominator" in err), SG_ECONFLICT when the gap is already closed
 * (numerator met). Contract prior-year rates are cached per measure and year for 60 s; include_shap
 * 0 leaves shap_values NULL (top features are always given). Does not write. */
int pl_score_member(struct store *st, const struct pl_model *pm, const char *member_hash,
                    const char *code, int year, const struct pl_tiers *tiers, int include_shap,
                    struct pl_member_score *out, char *err, size_t errlen) SG_WUR;

#endif
