/* store.h: the storage interface of stargap, the one contract between the service and its
 * databases.
 *
 * It follows SQLite's VFS pattern: `struct store` starts with a pointer to a table of operations
 * (`struct store_ops`), one table per backend (store_sqlite.c, store_pg.c); the backend is chosen
 * by the URL given to store_open(). Callers use only the thin `store_*` wrappers below, which
 * validate every argument in backend-independent code (store.c) before calling the backend, so
 * both backends accept and reject exactly the same input. Transition rules, the audit hash chain
 * and the JSON of audit "changes" are computed in store.c too; backends call those helpers
 * (declared at the end, "backend helpers").
 *
 * Conventions of every operation:
 *   - Returns SG_OK or a negative enum sg_err; `err` (may be NULL) receives a message:
 *       SG_EINVAL      bad argument; the message starts with the field name ("gap_probability: ...")
 *       SG_ENOTFOUND   the addressed entity does not exist
 *       SG_ECONFLICT   duplicate key (message names the key columns, never their values)
 *       SG_ETRANSITION invalid status transition ("status: closed -> assigned not allowed")
 *       SG_EDB         the database failed; message names the statement and the server's
 *                      code/message, never parameter values
 *       SG_ENOMEM, SG_EUNSUPPORTED, SG_EBUSY as in core/err.h.
 *   - Every mutating operation takes `actor` (who and from where; NULL only for internal
 *     maintenance, recorded as user "system") and appends its audit_log row in the SAME
 *     transaction as the write: both commit or neither does. Reads of member-level data
 *     (member history, a member's gaps and interventions) also take an actor; when it is
 *     non-NULL an audit row with action "read" is appended.
 *   - A batch is all-or-nothing: on any error nothing of it is written.
 *   - Row structs use fixed-size char arrays for identifiers, codes, dates and short text; only
 *     JSON columns are heap strings (`char *`, NUL-terminated, owned by the row; free a single
 *     row with its `_fini`, a list with its `_list_free`). Strings in rows passed IN are borrowed.
 *   - Dates are "YYYY-MM-DD" (STORE_DATE_LEN), timestamps "YYYY-MM-DDTHH:MM:SS.ffffffZ" in UTC
 *     (STORE_TS_LEN); an empty string means NULL. Nullable reals use NAN for NULL (isnan()).
 *   - Output parameters are zeroed/emptied first, so they are valid (and freeable) on failure.
 *   - A store may be used from several threads at once (SQLite: one connection per thread;
 *     PostgreSQL: a bounded pool). Row and list objects are not shared between threads. */
#ifndef SG_DB_STORE_H
#define SG_DB_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"

#define STORE_ID_LEN 37       /* UUID, 36 characters + NUL */
#define STORE_HASH_LEN 65     /* 64 hex characters + NUL (member_hash, key hash, audit hash) */
#define STORE_CODE_LEN 40     /* measure code ("PDC-RASA", "getting-needed-care"), CMS id ("C01") */
#define STORE_CONTRACT_LEN 16 /* CMS contract id ("H1234") */
#define STORE_DATE_LEN 11     /* YYYY-MM-DD */
#define STORE_TS_LEN 32       /* YYYY-MM-DDTHH:MM:SS.ffffffZ */
#define STORE_NAME_LEN 128    /* names, model versions, endpoints, strategies */
#define STORE_TEXT_LEN 512    /* short free text (recommendation, description, error message) */
#define STORE_MAX_CODES 16    /* measure codes in one intervention bundle */
#define STORE_MAX_LIMIT 1000  /* largest page size */
#define STORE_AUDIT_MIN_DAYS 2557 /* audit_log is never deleted before 7 years */

/* ---- enumerations (stored as the lower-case names returned by the _name functions) ---- */

enum store_risk_tier { STORE_TIER_HIGH = 0, STORE_TIER_MEDIUM, STORE_TIER_LOW };
enum store_gap_status {
    STORE_GAP_IDENTIFIED = 0,
    STORE_GAP_ASSIGNED,
    STORE_GAP_COMPLETED,
    STORE_GAP_CLOSED
};
enum store_iv_status {
    STORE_IV_PLANNED = 0,
    STORE_IV_IN_PROGRESS,
    STORE_IV_COMPLETED,
    STORE_IV_CANCELLED
};
enum store_outcome { STORE_OUTCOME_NONE = 0, STORE_OUTCOME_SUCCESS, STORE_OUTCOME_PARTIAL, STORE_OUTCOME_FAILED };
enum store_role { STORE_ROLE_READER = 0, STORE_ROLE_WRITER, STORE_ROLE_ADMIN };
enum store_sex { STORE_SEX_UNKNOWN = 0, STORE_SEX_FEMALE, STORE_SEX_MALE }; /* "U","F","M" */
enum store_direction { STORE_HIGHER_BETTER = 0, STORE_LOWER_BETTER };       /* "higher","lower" */
enum store_weight_cat {                                                     /* CMS categories */
    STORE_WCAT_PROCESS = 0,          /* "process" */
    STORE_WCAT_OUTCOME,              /* "outcome" */
    STORE_WCAT_INTERMEDIATE_OUTCOME, /* "intermediate_outcome" */
    STORE_WCAT_PATIENT_EXPERIENCE,   /* "patient_experience" */
    STORE_WCAT_ACCESS,               /* "access" */
    STORE_WCAT_IMPROVEMENT           /* "improvement" */
};
enum store_gap_sort { STORE_SORT_PRIORITY = 0, STORE_SORT_PROBABILITY }; /* both descending */
enum store_history_kind {
    STORE_HIST_MEASURE_RESULT = 0, /* "measure_result" */
    STORE_HIST_PREDICTION,         /* "prediction" */
    STORE_HIST_GAP,                /* "gap" */
    STORE_HIST_INTERVENTION        /* "intervention" */
};

/* Each enumeration has a name function (static string; NULL for an out-of-range value) and a
 * parse function (exact lower-case name -> value; SG_OK or SG_EINVAL). */
const char *store_risk_tier_name(int v);
int store_risk_tier_parse(const char *s, enum store_risk_tier *out) SG_WUR;
const char *store_gap_status_name(int v);
int store_gap_status_parse(const char *s, enum store_gap_status *out) SG_WUR;
const char *store_iv_status_name(int v);
int store_iv_status_parse(const char *s, enum store_iv_status *out) SG_WUR;
const char *store_outcome_name(int v); /* STORE_OUTCOME_NONE -> "" (NULL column) */
int store_outcome_parse(const char *s, enum store_outcome *out) SG_WUR;
const char *store_role_name(int v);
int store_role_parse(const char *s, enum store_role *out) SG_WUR;
const char *store_sex_name(int v);
int store_sex_parse(const char *s, enum store_sex *out) SG_WUR;
const char *store_direction_name(int v);
int store_direction_parse(const char *s, enum store_direction *out) SG_WUR;
const char *store_weight_cat_name(int v);
int store_weight_cat_parse(const char *s, enum store_weight_cat *out) SG_WUR;
const char *store_history_kind_name(int v);

/* ---- common argument types ---- */

/* Who performs an operation; both strings borrowed. user_id is the API key name or user id
 * (1..127 characters); ip_address may be NULL or "" (internal). */
struct store_actor {
    const char *user_id;
    const char *ip_address;
};

/* A page: limit 1..STORE_MAX_LIMIT, offset >= 0. */
struct store_page {
    long limit;
    long offset;
};

/* ---- rows ---- */

struct store_member {
    char member_hash[STORE_HASH_LEN];  /* PK: hex HMAC-SHA-256 of the member ID (core/memberid.h) */
    char contract_id[STORE_CONTRACT_LEN]; /* required */
    char first_seen[STORE_TS_LEN];     /* set by the store on create */
    char last_updated[STORE_TS_LEN];   /* set by the store on create and update_activity */
    long total_predictions;            /* maintained by prediction create/batch_create */
    int active;                        /* 1 or 0 */
    int birth_year;                    /* 0 = unknown, else 1900..2100 */
    enum store_sex sex;                /* STORE_SEX_UNKNOWN when not known */
    int dual_eligible;                 /* -1 unknown, 0, 1 */
    int lis;                           /* low-income subsidy: -1 unknown, 0, 1 */
    int disabled;                      /* original reason for entitlement disability: -1, 0, 1 */
    char created_at[STORE_TS_LEN];     /* maintained by the database */
    char updated_at[STORE_TS_LEN];
};

struct store_prediction {
    char prediction_id[STORE_ID_LEN];  /* generated when empty on create */
    char member_hash[STORE_HASH_LEN];  /* FK members */
    char measure_code[STORE_CODE_LEN]; /* must be a code of the measures catalog */
    int measurement_year;              /* 2000..2100 */
    double gap_probability;            /* [0,1] */
    enum store_risk_tier risk_tier;
    double risk_score;                 /* NAN = NULL */
    char *shap_values;                 /* JSON object or NULL; owned by the row */
    char *top_features;                /* JSON array or NULL; owned by the row */
    char recommendation[STORE_TEXT_LEN];
    char model_version[STORE_NAME_LEN]; /* required */
    char prediction_date[STORE_TS_LEN]; /* set to now when empty on create */
    char created_at[STORE_TS_LEN];
};
/* UNIQUE(member_hash, measure_code, measurement_year, model_version): SG_ECONFLICT. */

struct store_snapshot {
    char snapshot_id[STORE_ID_LEN];    /* generated when empty */
    char contract_id[STORE_CONTRACT_LEN]; /* "" = whole portfolio */
    int measurement_year;
    char snapshot_date[STORE_TS_LEN];  /* now when empty */
    long total_members;                /* >= 0 */
    long total_gaps;                   /* >= 0 */
    char *gaps_by_measure;             /* JSON object, required */
    char *gaps_by_tier;                /* JSON object, required */
    double star_rating_current;        /* NAN or 1..5 */
    double star_rating_projected;      /* NAN or 1..5 */
    double estimated_value;            /* NAN = NULL */
    char created_at[STORE_TS_LEN];
};

struct store_gap {
    char gap_id[STORE_ID_LEN];         /* generated when empty */
    char member_hash[STORE_HASH_LEN];  /* FK members */
    char contract_id[STORE_CONTRACT_LEN]; /* copied from the member by the store on create */
    char measure_code[STORE_CODE_LEN];
    int measurement_year;
    double gap_probability;            /* [0,1] */
    double priority_score;             /* >= 0 */
    char intervention_type[STORE_NAME_LEN]; /* "" = NULL */
    double estimated_cost;             /* NAN or >= 0 */
    double estimated_value;            /* NAN or >= 0 */
    enum store_gap_status status;      /* created as given (normally identified) */
    char assigned_date[STORE_DATE_LEN];  /* stamped on -> assigned */
    char completed_date[STORE_DATE_LEN]; /* stamped on -> completed */
    char closed_date[STORE_DATE_LEN];    /* stamped on -> closed */
    char created_at[STORE_TS_LEN];
    char updated_at[STORE_TS_LEN];
};
/* UNIQUE(member_hash, measure_code, measurement_year): one gap per member, measure and year. */

/* Filters of store_gap_get_with_filters; every field is optional. */
struct store_gap_filter {
    const char *measure_code;          /* NULL = any */
    int has_status;                    /* 1: filter on status */
    enum store_gap_status status;
    double min_priority;               /* NAN = none */
    const char *contract_id;           /* NULL = any */
    int measurement_year;              /* 0 = any */
    enum store_gap_sort sort;          /* descending, ties by gap_id */
    struct store_page page;
};

struct store_intervention {
    char intervention_id[STORE_ID_LEN]; /* generated when empty */
    char gap_id[STORE_ID_LEN];          /* single-gap intervention; "" for a bundle */
    char member_hash[STORE_HASH_LEN];   /* FK members; must equal the gap's member */
    char measure_codes[STORE_MAX_CODES][STORE_CODE_LEN]; /* for a single gap: its measure */
    int n_measure_codes;                /* 1..STORE_MAX_CODES, distinct */
    char intervention_type[STORE_NAME_LEN]; /* required */
    char description[STORE_TEXT_LEN];
    double estimated_cost;              /* NAN or >= 0 */
    double estimated_value;             /* NAN or >= 0 */
    double roi;                         /* NAN = NULL */
    enum store_iv_status status;
    char scheduled_date[STORE_DATE_LEN];
    char completed_date[STORE_DATE_LEN];
    enum store_outcome outcome;         /* only with status completed */
    char created_at[STORE_TS_LEN];
    char updated_at[STORE_TS_LEN];
};
/* An intervention is linked to gaps (table intervention_gaps): a single-gap intervention to its
 * gap; a bundle (gap_id "") to the member's open gaps (identified/assigned) whose measure_code is
 * in measure_codes, for any year, at creation time. */

struct store_iv_filter {
    const char *member_hash;            /* NULL = any */
    int has_status;
    enum store_iv_status status;
    struct store_page page;             /* newest first (created_at, then id) */
};

/* Changes for store_intervention_update; each `set_` flag selects a field. */
struct store_iv_update {
    int set_status;
    enum store_iv_status status;        /* planned -> in_progress/cancelled, in_progress ->
                                           cancelled; completion goes through _complete */
    int set_outcome;
    enum store_outcome outcome;         /* only on a completed intervention */
    int set_scheduled_date;
    char scheduled_date[STORE_DATE_LEN]; /* "" clears; not on completed/cancelled */
};

struct store_star_rating {
    char rating_id[STORE_ID_LEN];       /* generated when empty */
    char contract_id[STORE_CONTRACT_LEN]; /* required */
    int star_year;
    int measurement_year;
    char calculation_date[STORE_TS_LEN]; /* now when empty */
    double part_c, part_d, overall;     /* NAN or 1..5 in steps of 0.5 */
    char *measure_stars;                /* JSON object, required */
    char *measure_scores;               /* JSON object, required */
    double reward_factor;               /* NAN or 0..1 */
    double cai;                         /* NAN = NULL */
    char *details;                      /* JSON object or NULL */
    char created_at[STORE_TS_LEN];
};

struct store_simulation {
    char simulation_id[STORE_ID_LEN];   /* generated when empty */
    char contract_id[STORE_CONTRACT_LEN]; /* "" = whole portfolio */
    int measurement_year;
    char simulation_date[STORE_TS_LEN]; /* now when empty */
    char strategy[STORE_NAME_LEN];      /* required, [a-z0-9_-]+ */
    double closure_rate;                /* [0,1] */
    double baseline_stars, projected_stars; /* NAN or 1..5 */
    double revenue_impact;              /* NAN = NULL */
    double investment_required;         /* NAN or >= 0 */
    double roi;                         /* NAN = NULL */
    long gaps_closed;                   /* >= 0 */
    long members_impacted;              /* >= 0 */
    char *scenario_details;             /* JSON object or NULL */
    char created_at[STORE_TS_LEN];
};

struct store_sim_filter {
    int measurement_year;               /* 0 = any */
    const char *strategy;               /* NULL = any */
    const char *contract_id;            /* NULL = any */
    struct store_page page;             /* newest first */
};

struct store_api_log {
    long long log_id;                   /* assigned by the database */
    char request_id[STORE_NAME_LEN];    /* required */
    char endpoint[STORE_NAME_LEN];      /* route template, required */
    char method[16];                    /* GET, POST, ... */
    char api_key_hash[STORE_HASH_LEN];  /* "" = anonymous */
    int status_code;                    /* 100..599 */
    double response_time_ms;            /* >= 0 */
    long prediction_count;              /* >= 0 */
    char error_message[STORE_TEXT_LEN]; /* "" = NULL */
    char timestamp[STORE_TS_LEN];       /* now when empty */
};

struct store_endpoint_stats {
    char endpoint[STORE_NAME_LEN];
    long long total;
    double avg_ms;
    double error_rate;                  /* share of status >= 500 */
};

struct store_api_stats {
    long long total;                    /* requests in the window */
    double avg_ms;                      /* 0 when total is 0 */
    double error_rate;                  /* share with status >= 500, 0..1 */
    long long client_errors;            /* status 400..499 */
    struct store_endpoint_stats *by_endpoint; /* owned; free with store_api_stats_fini */
    size_t n_endpoints;                 /* sorted by total descending */
};

/* An audit row. Hash chain: hash = hex SHA-256 of the canonical encoding of every other field
 * and prev_hash (store_audit_hash); audit_id increases by exactly 1. */
struct store_audit {
    long long audit_id;
    char event_type[32];                /* data_change, data_access, security, maintenance */
    char entity_type[32];               /* member, prediction, gap, intervention, ... */
    char entity_id[STORE_NAME_LEN];     /* "" = NULL (batches) */
    char action[32];                    /* create, update, delete, read, close, complete, ... */
    char user_id[STORE_NAME_LEN];
    char *changes;                      /* JSON or NULL; owned */
    char ip_address[64];                /* "" = NULL */
    char timestamp[STORE_TS_LEN];
    char prev_hash[STORE_HASH_LEN];     /* 64 zeros for the first row */
    char hash[STORE_HASH_LEN];
};

/* Input of store_audit_create (an explicit audit event, e.g. a login failure). */
struct store_audit_event {
    const char *event_type;             /* as above */
    const char *entity_type;            /* [a-z_]+ */
    const char *entity_id;              /* may be NULL */
    const char *action;                 /* [a-z_]+ */
    const char *changes;                /* JSON or NULL */
};

struct store_audit_verify {
    long long rows_checked;
    int ok;                             /* 1 when the whole chain verifies */
    long long first_bad_id;             /* first row whose link or hash is wrong (0 when ok) */
    char reason[128];                   /* "hash mismatch", "prev_hash mismatch", "gap in ids" */
};

struct store_measure_result {
    char member_hash[STORE_HASH_LEN];
    char measure_code[STORE_CODE_LEN];
    int measurement_year;
    int initial_population;             /* 0/1 */
    int denominator;                    /* 0/1; requires initial_population */
    int denominator_exclusion;          /* 0/1 */
    int numerator;                      /* 0/1; requires denominator */
    char evaluated_at[STORE_TS_LEN];    /* now when empty */
    char source[STORE_NAME_LEN];        /* required: "ecqm", "claims", "model", ... */
    char numerator_date[STORE_DATE_LEN]; /* date the numerator was met, YYYY-MM-DD within
                                            measurement_year; "" = unknown / NULL (and always ""
                                            when numerator = 0). Migration 0003. */
};
/* PK (member_hash, measure_code, measurement_year); upsert replaces the row. */

struct store_measure_rate {
    char measure_code[STORE_CODE_LEN];
    char contract_id[STORE_CONTRACT_LEN];
    int measurement_year;
    long long eligible;                 /* denominator = 1 and no exclusion */
    long long numerator;                /* of the eligible */
    long long exclusions;
    double rate;                        /* numerator / eligible; NAN when eligible = 0 */
};

struct store_measure {
    int star_year;                      /* 2000..2100; PK (star_year, code) */
    char code[STORE_CODE_LEN];          /* "BCS", "PDC-DR", ... */
    char cms_id[STORE_CODE_LEN];        /* "C01".."D12" for that year */
    char name[STORE_NAME_LEN];
    char part;                          /* 'C' or 'D' */
    char domain[STORE_NAME_LEN];        /* CMS domain name */
    enum store_weight_cat weighting_category;
    double weight;                      /* >= 0 */
    enum store_direction direction;
    int display_precision;              /* decimals shown, 0..6 (improvement measures: 6) */
    int member_level;                   /* 1 when stargap computes it from member data */
};

struct store_api_key {
    char key_hash[STORE_HASH_LEN];      /* hex SHA-256 of the key; PK */
    char name[STORE_NAME_LEN];          /* UNIQUE, [A-Za-z0-9_.-]+ */
    enum store_role role;
    char created_at[STORE_TS_LEN];
    char revoked_at[STORE_TS_LEN];      /* "" while active */
};

struct store_history_item {
    enum store_history_kind kind;
    char id[STORE_ID_LEN];              /* prediction/gap/intervention id; "" for measure results */
    char measure_code[STORE_CODE_LEN];  /* first code for a bundle intervention */
    int measurement_year;               /* 0 for interventions */
    char at[STORE_TS_LEN];              /* evaluated_at, prediction_date, created_at */
    char status[32];                    /* gap/intervention status, risk tier, or for a measure
                                           result "numerator"/"denominator"/"excluded"/"population"/"none" */
    double value;                       /* gap_probability, priority_score, estimated_cost; NAN */
};

struct store_schema_status {
    int current_version;                /* highest applied, 0 when none */
    int latest_version;                 /* highest embedded in this binary */
    int pending;                        /* embedded, not applied */
    int changed;                        /* applied migrations whose text changed */
};

struct store_maintain_report {
    long long api_logs_deleted;
    long long audit_deleted;
    int partitions_created;             /* PostgreSQL only */
};

/* ---- lists (items owned; free with the matching _list_free, which accepts NULL/empty) ---- */

#define STORE_LIST(name, type)                                                                 \
    struct name {                                                                              \
        type *items;                                                                           \
        size_t n;                                                                              \
        long long total;   /* all matches ignoring limit/offset, where documented; else n */   \
        int has_more;      /* offset + n < total */                                           \
    }
STORE_LIST(store_member_list, struct store_member);
STORE_LIST(store_prediction_list, struct store_prediction);
STORE_LIST(store_snapshot_list, struct store_snapshot);
STORE_LIST(store_gap_list, struct store_gap);
STORE_LIST(store_intervention_list, struct store_intervention);
STORE_LIST(store_star_rating_list, struct store_star_rating);
STORE_LIST(store_simulation_list, struct store_simulation);
STORE_LIST(store_api_log_list, struct store_api_log);
STORE_LIST(store_audit_list, struct store_audit);
STORE_LIST(store_measure_result_list, struct store_measure_result);
STORE_LIST(store_measure_rate_list, struct store_measure_rate);
STORE_LIST(store_measure_list, struct store_measure);
STORE_LIST(store_api_key_list, struct store_api_key);
STORE_LIST(store_history_list, struct store_history_item);

void store_prediction_fini(struct store_prediction *p);
void store_snapshot_fini(struct store_snapshot *s);
void store_star_rating_fini(struct store_star_rating *r);
void store_simulation_fini(struct store_simulation *s);
void store_audit_fini(struct store_audit *a);
void store_api_stats_fini(struct store_api_stats *s);
void store_member_list_free(struct store_member_list *l);
void store_prediction_list_free(struct store_prediction_list *l);
void store_snapshot_list_free(struct store_snapshot_list *l);
void store_gap_list_free(struct store_gap_list *l);
void store_intervention_list_free(struct store_intervention_list *l);
void store_star_rating_list_free(struct store_star_rating_list *l);
void store_simulation_list_free(struct store_simulation_list *l);
void store_api_log_list_free(struct store_api_log_list *l);
void store_audit_list_free(struct store_audit_list *l);
void store_measure_result_list_free(struct store_measure_result_list *l);
void store_measure_rate_list_free(struct store_measure_rate_list *l);
void store_measure_list_free(struct store_measure_list *l);
void store_api_key_list_free(struct store_api_key_list *l);
void store_history_list_free(struct store_history_list *l);

/* ==== predict block (issue 6): types used by the operations at the end of store_ops ==== */

/* Counts of a merge (idempotent upsert): rows inserted, rows whose values changed, rows already
 * stored with the same values (nothing written for them). */
struct store_merge_counts {
    long long inserted;
    long long updated;
    long long unchanged;
};

/* One member's imported features for one measurement year (table member_features). */
struct store_member_feature {
    char member_hash[STORE_HASH_LEN];  /* FK members */
    int measurement_year;              /* 2000..2100 */
    char *features;                    /* JSON object {"name": number, ...}; borrowed in, owned out */
    char source[STORE_NAME_LEN];       /* required ("csv", ...) */
};

/* A trained gap model (table models). UNIQUE(measure_code, version). */
struct store_model {
    char model_id[STORE_ID_LEN];       /* generated on create */
    char measure_code[STORE_CODE_LEN]; /* must be in the measures catalog */
    int version;                       /* assigned on create: 1 + the measure's highest */
    int trained_year;                  /* outcome year the model learned from */
    char learner[16];                  /* "logreg" or "gbdt" */
    char fingerprint[STORE_HASH_LEN];  /* hex SHA-256 of the training data */
    char *hyperparams;                 /* JSON object; borrowed in, owned out */
    char *metrics;                     /* JSON object; borrowed in, owned out */
    char *model_text;                  /* model_save() text; borrowed in, owned out (NULL in lists) */
    char created_at[STORE_TS_LEN];     /* set on create */
};
STORE_LIST(store_model_list, struct store_model);

/* Row callbacks of the scans: return 0 to continue, non-zero to stop (the scan returns that
 * value). Rows and strings are borrowed for the duration of the call. */
typedef int (*store_member_cb)(void *ctx, const struct store_member *m);
typedef int (*store_result_cb)(void *ctx, const struct store_measure_result *r);
typedef int (*store_feature_cb)(void *ctx, const char *member_hash, int year, const char *features);

/* ==== end predict block ==== */

/* ==== decide block (issue 7: gap refresh, bulk reads for the portfolio wiring) ==== */

/* Counts of a gap refresh. */
struct store_refresh_counts {
    long long inserted; /* new open gaps (status identified) */
    long long updated;  /* open gaps (identified/assigned) whose values were refreshed */
    long long kept;     /* rows whose gap is completed/closed: history left alone */
    long long closed;   /* open gaps no longer open (member compliant or left the denominator) */
};

/* Row callbacks of the decide scans (same contract as the predict block's callbacks). */
typedef int (*store_prediction_cb)(void *ctx, const struct store_prediction *p);
typedef int (*store_gap_cb)(void *ctx, const struct store_gap *g);

/* ==== end decide block ==== */

/* ---- the backend operation table ---- */

struct store;
struct store_migration; /* db/migrate.h */

/* Backends implement every entry; arguments reach them already validated by store.c (ids,
 * enumerations, ranges, JSON well-formed, measure codes known, defaults filled in: generated
 * ids, `now` timestamps), except the rows of prediction_batch_create, whose checks come along
 * as a struct store_check for the backend to run. `now` is the store's clock in STORE_TS_LEN
 * form. Backends still enforce the schema constraints (FK, UNIQUE, CHECK) and map their
 * violations to SG_EINVAL/SG_ECONFLICT with store_db_error(). Semantics are those of the
 * wrappers below. */
/* The completion of an asynchronous store operation (the *_submit functions): rc (SG_OK or the
 * operation's failure, as the synchronous form would return it) and its message (valid during
 * the call). Called exactly once, on a store thread; it must not call the store. */
typedef void (*store_done_fn)(void *done_arg, int rc, const char *err);

/* Orders the commits of batches written at once on several connections: a gated batch writes
 * its rows, then calls wait(ctx), and appends its audit rows and commits only when that returns
 * SG_OK; any other value rolls the batch back and the batch fails with it (wait writes nothing
 * to the batch's err). The audit chain's head is taken after the gate, so a batch waiting at its
 * gate holds nothing that an earlier batch needs (given the batches' keys are disjoint). */
struct store_gate {
    int (*wait)(void *ctx);
    void *ctx;
};

/* The checks of a batch's rows, handed to the backend instead of run before it, so that a
 * backend can check while the database works on the batch's first statement (the PostgreSQL
 * prediction batch: the members' counter update). Opaque (store.c). A backend runs
 * store_check_run exactly once, before any row's data reaches the database and before reading
 * any field but member_hash (checking may fill in defaults), and rolls back when it fails. */
struct store_check;

/* Runs the checks (c NULL: nothing to check, SG_OK). SG_OK, or the first failing row's error
 * ("rows[i].<field>: ...") in err. */
int store_check_run(const struct store_check *c, char *err, size_t errlen) SG_WUR;

struct store_ops {
    const char *name; /* "sqlite" or "postgres": selects the migration set */
    void (*close)(struct store *st);

    int (*member_create)(struct store *st, const struct store_actor *a, const struct store_member *m,
                         const char *now, char *err, size_t errlen);
    int (*member_get)(struct store *st, const char *member_hash, struct store_member *out,
                      char *err, size_t errlen);
    int (*member_get_or_create)(struct store *st, const struct store_actor *a,
                                const struct store_member *m, const char *now,
                                struct store_member *out, int *created, char *err, size_t errlen);
    int (*member_update_activity)(struct store *st, const struct store_actor *a,
                                  const char *member_hash, int active, const char *now,
                                  char *err, size_t errlen);

    /* order: the permutation of rows to insert in, by the unique key (store.c computes it);
     * check: the rows' checks, not yet run (see struct store_check; NULL: already checked) */
    int (*prediction_batch_create)(struct store *st, const struct store_actor *a,
                                   const struct store_prediction *rows, size_t n,
                                   const uint32_t *order, const struct store_check *check,
                                   const char *now, char *err, size_t errlen);
    int (*prediction_get)(struct store *st, const char *id, struct store_prediction *out,
                          char *err, size_t errlen);
    int (*prediction_get_by_member)(struct store *st, const char *member_hash,
                                    const char *measure_code, int year,
                                    const struct store_page *pg, struct store_prediction_list *out,
                                    char *err, size_t errlen);
    int (*prediction_get_latest)(struct store *st, const char *member_hash,
                                 const char *measure_code, struct store_prediction *out,
                                 char *err, size_t errlen);
    int (*prediction_delete_old)(struct store *st, const struct store_actor *a,
                                 const char *before_ts, const char *now, long long *deleted,
                                 char *err, size_t errlen);

    int (*snapshot_create)(struct store *st, const struct store_actor *a,
                           const struct store_snapshot *s, const char *now, char *err, size_t errlen);
    int (*snapshot_get_latest)(struct store *st, const char *contract_id, int year,
                               struct store_snapshot *out, char *err, size_t errlen);
    int (*snapshot_get_history)(struct store *st, const char *contract_id, int year,
                                const struct store_page *pg, struct store_snapshot_list *out,
                                char *err, size_t errlen);
    int (*snapshot_get_trends)(struct store *st, const char *contract_id, int year,
                               const char *since_ts, struct store_snapshot_list *out,
                               char *err, size_t errlen);

    int (*gap_create)(struct store *st, const struct store_actor *a, const struct store_gap *g,
                      const char *now, char *err, size_t errlen);
    int (*gap_get)(struct store *st, const char *gap_id, struct store_gap *out, char *err,
                   size_t errlen);
    int (*gap_get_with_filters)(struct store *st, const struct store_gap_filter *f,
                                struct store_gap_list *out, char *err, size_t errlen);
    int (*gap_get_by_member)(struct store *st, const struct store_actor *a,
                             const char *member_hash, const char *now,
                             struct store_gap_list *out, char *err, size_t errlen);
    int (*gap_get_high_priority)(struct store *st, double min_priority, const char *contract_id,
                                 long limit, struct store_gap_list *out, char *err, size_t errlen);
    int (*gap_update_status)(struct store *st, const struct store_actor *a, const char *gap_id,
                             enum store_gap_status to, const char *now, struct store_gap *out,
                             char *err, size_t errlen);

    int (*intervention_create)(struct store *st, const struct store_actor *a,
                               const struct store_intervention *iv, const char *now,
                               char *err, size_t errlen);
    int (*intervention_get)(struct store *st, const char *id, struct store_intervention *out,
                            char *err, size_t errlen);
    int (*intervention_list)(struct store *st, const struct store_actor *a,
                             const struct store_iv_filter *f, const char *now,
                             struct store_intervention_list *out, char *err, size_t errlen);
    int (*intervention_get_pending)(struct store *st, const char *date,
                                    const struct store_page *pg,
                                    struct store_intervention_list *out, char *err, size_t errlen);
    int (*intervention_update)(struct store *st, const struct store_actor *a, const char *id,
                               const struct store_iv_update *u, const char *now,
                               struct store_intervention *out, char *err, size_t errlen);
    int (*intervention_complete)(struct store *st, const struct store_actor *a, const char *id,
                                 enum store_outcome outcome, const char *now,
                                 struct store_intervention *out, int *gaps_closed, char *err,
                                 size_t errlen);
    int (*intervention_get_bundles)(struct store *st, const struct store_actor *a,
                                    const char *member_hash, const char *now,
                                    struct store_intervention_list *out, char *err, size_t errlen);

    int (*star_rating_create)(struct store *st, const struct store_actor *a,
                              const struct store_star_rating *r, const char *now, char *err,
                              size_t errlen);
    int (*star_rating_get_latest)(struct store *st, const char *contract_id, int star_year,
                                  struct store_star_rating *out, char *err, size_t errlen);
    int (*star_rating_get_history)(struct store *st, const char *contract_id,
                                   const struct store_page *pg,
                                   struct store_star_rating_list *out, char *err, size_t errlen);

    int (*simulation_create)(struct store *st, const struct store_actor *a,
                             const struct store_simulation *s, const char *now, char *err,
                             size_t errlen);
    int (*simulation_get)(struct store *st, const char *id, struct store_simulation *out,
                          char *err, size_t errlen);
    int (*simulation_list)(struct store *st, const struct store_sim_filter *f,
                           struct store_simulation_list *out, char *err, size_t errlen);

    int (*api_log_batch_create)(struct store *st, const struct store_api_log *rows, size_t n,
                                const char *now, char *err, size_t errlen);
    int (*api_log_get_stats)(struct store *st, const char *since_ts, const char *endpoint,
                             struct store_api_stats *out, char *err, size_t errlen);
    int (*api_log_get_slowest)(struct store *st, const char *since_ts, long limit,
                               struct store_api_log_list *out, char *err, size_t errlen);
    int (*api_log_get_errors)(struct store *st, const char *since_ts, long limit,
                              struct store_api_log_list *out, char *err, size_t errlen);

    int (*audit_create)(struct store *st, const struct store_actor *a,
                        const struct store_audit_event *ev, const char *now, char *err,
                        size_t errlen);
    int (*audit_get_trail)(struct store *st, const char *entity_type, const char *entity_id,
                           const struct store_page *pg, struct store_audit_list *out, char *err,
                           size_t errlen);
    int (*audit_get_recent)(struct store *st, const char *since_ts, const struct store_page *pg,
                            struct store_audit_list *out, char *err, size_t errlen);
    int (*audit_verify)(struct store *st, struct store_audit_verify *out, char *err, size_t errlen);

    int (*measure_result_upsert_batch)(struct store *st, const struct store_actor *a,
                                       const struct store_measure_result *rows, size_t n,
                                       const char *now, char *err, size_t errlen);
    int (*measure_result_get_by_member)(struct store *st, const char *member_hash, int year,
                                        struct store_measure_result_list *out, char *err,
                                        size_t errlen);
    int (*measure_result_rates)(struct store *st, const char *measure_code,
                                const char *contract_id, int year,
                                struct store_measure_rate_list *out, char *err, size_t errlen);

    int (*measure_upsert_batch)(struct store *st, const struct store_actor *a,
                                const struct store_measure *rows, size_t n, const char *now,
                                char *err, size_t errlen);
    int (*measure_list)(struct store *st, int star_year, struct store_measure_list *out,
                        char *err, size_t errlen);
    int (*measure_get)(struct store *st, int star_year, const char *code, struct store_measure *out,
                       char *err, size_t errlen);

    int (*api_key_create)(struct store *st, const struct store_actor *a,
                          const struct store_api_key *k, const char *now, char *err, size_t errlen);
    int (*api_key_get_by_hash)(struct store *st, const char *key_hash, struct store_api_key *out,
                               char *err, size_t errlen);
    int (*api_key_list)(struct store *st, struct store_api_key_list *out, char *err, size_t errlen);
    int (*api_key_revoke)(struct store *st, const struct store_actor *a, const char *name,
                          const char *now, char *err, size_t errlen);

    int (*member_history)(struct store *st, const struct store_actor *a, const char *member_hash,
                          const struct store_page *pg, const char *now,
                          struct store_history_list *out, char *err, size_t errlen);
    /* Asynchronous audited forms (NULL: the backend has none; store.c answers
     * SG_EUNSUPPORTED). Each copies what it needs of its arguments except a, pg and out, which
     * stay the caller's until done. */
    int (*member_history_submit)(struct store *st, const struct store_actor *a,
                                 const char *member_hash, const struct store_page *pg,
                                 const char *now, struct store_history_list *out,
                                 store_done_fn done, void *done_arg);
    int (*gap_update_status_submit)(struct store *st, const struct store_actor *a,
                                    const char *gap_id, enum store_gap_status to, const char *now,
                                    struct store_gap *out, store_done_fn done, void *done_arg);

    /* Migrations (db/migrate.c drives them). applied: reads schema_migrations (creating it when
     * missing) into versions[]/checksums[] (hex SHA-256) ascending, up to cap rows, count in *n.
     * apply: in ONE transaction runs `sql` (a script of several statements) and records
     * (version, name, checksum) when up, deletes the version row when down. */
    int (*migrate_applied)(struct store *st, int *versions, char (*checksums)[STORE_HASH_LEN],
                           size_t cap, size_t *n, char *err, size_t errlen);
    int (*migrate_apply)(struct store *st, int up, int version, const char *name,
                         const char *checksum, const char *sql, char *err, size_t errlen);

    /* Retention and partitions: deletes api_logs before api_before_ts and audit_log before
     * audit_before_ts (already clamped to >= 7 years), one audit row for the run. */
    int (*maintain)(struct store *st, const char *api_before_ts, const char *audit_before_ts,
                    const char *now, struct store_maintain_report *out, char *err, size_t errlen);

    /* Test hook: executes one SQL statement outside the store's rules (used by the contract
     * suite to tamper with audit_log). Never used by the service. */
    int (*raw_exec)(struct store *st, const char *sql, char *err, size_t errlen);

    /* ==== predict block (issue 6: import, member features, models) ==== */
    int (*member_upsert_batch)(struct store *st, const struct store_actor *a,
                               const struct store_member *rows, size_t n, const char *now,
                               struct store_merge_counts *counts, char *err, size_t errlen);
    int (*measure_result_merge_batch)(struct store *st, const struct store_actor *a,
                                      const struct store_measure_result *rows, size_t n,
                                      const char *now, const struct store_gate *gate,
                                      struct store_merge_counts *counts, char *err,
                                      size_t errlen);
    int (*member_feature_merge_batch)(struct store *st, const struct store_actor *a,
                                      const struct store_member_feature *rows, size_t n,
                                      const char *now, const struct store_gate *gate,
                                      struct store_merge_counts *counts, char *err,
                                      size_t errlen);
    int (*import_batch)(struct store *st, const struct store_actor *a,
                        const struct store_member *members, size_t n_members,
                        const struct store_measure_result *results, size_t n_results,
                        const struct store_member_feature *features, size_t n_features,
                        const char *now, struct store_merge_counts counts[3], char *err,
                        size_t errlen);
    int (*member_scan)(struct store *st, store_member_cb cb, void *ctx, char *err, size_t errlen);
    int (*measure_result_scan)(struct store *st, int year, store_result_cb cb, void *ctx,
                               char *err, size_t errlen);
    int (*member_feature_scan)(struct store *st, int year, store_feature_cb cb, void *ctx,
                               char *err, size_t errlen);
    int (*member_feature_get)(struct store *st, const char *member_hash, int year,
                              struct store_member_feature *out, char *err, size_t errlen);
    int (*measure_result_years)(struct store *st, int *years, size_t cap, size_t *n, char *err,
                                size_t errlen);
    int (*model_create)(struct store *st, const struct store_actor *a, struct store_model *m,
                        const char *now, char *err, size_t errlen);
    int (*model_get)(struct store *st, const char *model_id, struct store_model *out, char *err,
                     size_t errlen);
    int (*model_get_latest)(struct store *st, const char *measure_code, struct store_model *out,
                            char *err, size_t errlen);
    int (*model_list)(struct store *st, const char *measure_code, struct store_model_list *out,
                      char *err, size_t errlen);
    /* ==== end predict block ==== */
    /* ==== decide block (issue 7) ==== */
    int (*prediction_scan_latest)(struct store *st, int year, store_prediction_cb cb, void *ctx,
                                  char *err, size_t errlen);
    int (*gap_scan)(struct store *st, int year, const char *contract_id, store_gap_cb cb,
                    void *ctx, char *err, size_t errlen);
    int (*gap_refresh_batch)(struct store *st, const struct store_actor *a, int year,
                             const char *contract_id, const struct store_gap *rows, size_t n,
                             const char *now, struct store_refresh_counts *counts, char *err,
                             size_t errlen);
    /* ==== end decide block ==== */
};

/* The base of every backend's store object (backends embed it as their first member). */
struct store {
    const struct store_ops *ops;
    char url_scheme[16];        /* "sqlite" or "postgres" (the URL itself may hold a password) */
    long busy_timeout_ms;       /* from config */
    struct store_codes *codes;  /* cache of known measure codes (store.c) */
    int batch_writers;          /* store_batch_writers; set by the backend when it opens */
};

/* ---- opening and closing ---- */

/* Opens the store named by url: "sqlite:PATH", "sqlite::memory:" (one private in-memory database
 * per store, shared by its threads) or "postgres://..." / "postgresql://...". cfg (borrowed,
 * may be NULL for defaults) supplies busy timeout and pool sizes. Does not migrate. On success
 * *out is a new store (store_close it). Fails with SG_EINVAL (unknown scheme), SG_EDB,
 * SG_EUNSUPPORTED (backend not built in) or SG_ENOMEM; *out is NULL then. */
int store_open(const char *url, const struct sg_config *cfg, struct store **out, char *err,
               size_t errlen) SG_WUR;

/* Closes the store and frees it; NULL is ignored. No operation may be running. */
void store_close(struct store *st);

/* Backend registration: store.c calls these by URL scheme (store_sqlite.c, store_pg.c). */
int store_sqlite_open(const char *path, const struct sg_config *cfg, struct store **out,
                      char *err, size_t errlen) SG_WUR;
int store_pg_open(const char *url, const struct sg_config *cfg, struct store **out, char *err,
                  size_t errlen) SG_WUR;

/* The SQL of one of PostgreSQL's gap list statements (store_gap_get_with_filters), for plan checks
 * (tests/pg/test_pg_partitions.c): by_probability 0 or 1; status -1 (no status filter) or a
 * store_gap_status; filters a set of bits, present in this order as $1, $2, ...: 1 measure_code
 * (text), 2 min_priority (double), 4 contract_id (text), 8 measurement_year (integer), followed
 * by the page's limit and offset (bigint). *nparams (may be NULL) gets their number. The string
 * is static; NULL when an argument is out of range. */
const char *store_pg_gap_list_sql(int by_probability, int status, unsigned filters, int *nparams);

/* ---- members ---- */

/* Creates a member (member_hash 64 hex, contract_id required, attributes in range). SG_ECONFLICT
 * when it exists. first_seen/last_updated are set to now. */
int store_member_create(struct store *st, const struct store_actor *a, const struct store_member *m,
                        char *err, size_t errlen) SG_WUR;
/* Reads a member into *out. SG_ENOTFOUND when absent. */
int store_member_get(struct store *st, const char *member_hash, struct store_member *out,
                     char *err, size_t errlen) SG_WUR;
/* Returns the member, creating it (audited) when absent; *created says which. An existing
 * member is returned unchanged (its contract_id is not overwritten). */
int store_member_get_or_create(struct store *st, const struct store_actor *a,
                               const struct store_member *m, struct store_member *out, int *created,
                               char *err, size_t errlen) SG_WUR;
/* Sets last_updated = now and active (0/1). SG_ENOTFOUND when absent. */
int store_member_update_activity(struct store *st, const struct store_actor *a,
                                 const char *member_hash, int active, char *err,
                                 size_t errlen) SG_WUR;

/* ---- predictions ---- */

/* Creates one prediction (see store_prediction_batch_create). p->prediction_id is filled in
 * when it was empty (hence non-const). */
int store_prediction_create(struct store *st, const struct store_actor *a,
                            struct store_prediction *p, char *err, size_t errlen) SG_WUR;
/* Inserts n (1..1,000,000) predictions in one transaction with one audit row (action
 * "batch_create", changes {"count":n}); empty prediction_id/prediction_date are filled in the
 * caller's rows. Each member's total_predictions and last_updated are updated. Validation errors
 * name the row index ("rows[3].gap_probability: ..."). All or nothing. */
int store_prediction_batch_create(struct store *st, const struct store_actor *a,
                                  struct store_prediction *rows, size_t n, char *err,
                                  size_t errlen) SG_WUR;
/* Reads one prediction (caller store_prediction_fini's *out). SG_ENOTFOUND. */
int store_prediction_get(struct store *st, const char *prediction_id, struct store_prediction *out,
                         char *err, size_t errlen) SG_WUR;
/* A member's predictions, newest prediction_date first (ties: prediction_id), optional measure
 * (NULL) and year (0) filters, paginated; total is the number of matches. */
int store_prediction_get_by_member(struct store *st, const char *member_hash,
                                   const char *measure_code, int year, const struct store_page *pg,
                                   struct store_prediction_list *out, char *err,
                                   size_t errlen) SG_WUR;
/* The newest prediction of a member for a measure. SG_ENOTFOUND when none. */
int store_prediction_get_latest(struct store *st, const char *member_hash, const char *measure_code,
                                struct store_prediction *out, char *err, size_t errlen) SG_WUR;
/* Deletes predictions with prediction_date before before_ts; *deleted gets the count. One
 * audit row. */
int store_prediction_delete_old(struct store *st, const struct store_actor *a, const char *before_ts,
                                long long *deleted, char *err, size_t errlen) SG_WUR;

/* ---- portfolio snapshots ---- */

/* Creates a snapshot (snapshot_id/date filled in when empty). */
int store_snapshot_create(struct store *st, const struct store_actor *a, struct store_snapshot *s,
                          char *err, size_t errlen) SG_WUR;
/* Newest snapshot for contract_id (NULL or "" = whole portfolio) and year (0 = any).
 * SG_ENOTFOUND when none. */
int store_snapshot_get_latest(struct store *st, const char *contract_id, int year,
                              struct store_snapshot *out, char *err, size_t errlen) SG_WUR;
/* Snapshots for contract (NULL = whole portfolio) and year (0 = any), newest first, paginated. */
int store_snapshot_get_history(struct store *st, const char *contract_id, int year,
                               const struct store_page *pg, struct store_snapshot_list *out,
                               char *err, size_t errlen) SG_WUR;
/* Snapshots of the last `days` days (1..3660), OLDEST first, for charting trends. */
int store_snapshot_get_trends(struct store *st, const char *contract_id, int year, int days,
                              struct store_snapshot_list *out, char *err, size_t errlen) SG_WUR;

/* ---- gaps ---- */

/* Creates a gap; the member must exist (SG_EINVAL "member_hash: no such member"), contract_id
 * is copied from it; SG_ECONFLICT on a second gap for (member, measure, year). */
int store_gap_create(struct store *st, const struct store_actor *a, struct store_gap *g, char *err,
                     size_t errlen) SG_WUR;
/* Reads one gap. SG_ENOTFOUND. */
int store_gap_get(struct store *st, const char *gap_id, struct store_gap *out, char *err,
                  size_t errlen) SG_WUR;
/* Filtered, sorted, paginated gaps. out->total is exact: summed from the gap_counts table
 * (maintained in the gap's own transaction) when min_priority is not set, else counted through
 * the priority index; out->has_more = offset + n < total. */
int store_gap_get_with_filters(struct store *st, const struct store_gap_filter *f,
                               struct store_gap_list *out, char *err, size_t errlen) SG_WUR;
/* All gaps of a member, newest measurement_year first then measure_code. Audited read when
 * actor is non-NULL. */
int store_gap_get_by_member(struct store *st, const struct store_actor *a, const char *member_hash,
                            struct store_gap_list *out, char *err, size_t errlen) SG_WUR;
/* Open gaps (identified/assigned) with priority_score >= min_priority (NAN = 0), optional
 * contract, highest priority first, at most limit (1..STORE_MAX_LIMIT). */
int store_gap_get_high_priority(struct store *st, double min_priority, const char *contract_id,
                                long limit, struct store_gap_list *out, char *err,
                                size_t errlen) SG_WUR;
/* Changes a gap's status: identified->assigned->completed->closed and identified/assigned->
 * closed; stamps assigned_date/completed_date/closed_date (today, UTC). SG_ETRANSITION otherwise
 * (also for a no-op such as assigned->assigned), SG_ENOTFOUND. The audit row holds before/after.
 * *out (may be NULL) receives the updated gap. */
int store_gap_update_status(struct store *st, const struct store_actor *a, const char *gap_id,
                            enum store_gap_status to, struct store_gap *out, char *err,
                            size_t errlen) SG_WUR;
/* store_gap_update_status without waiting for its group commit: on SG_OK the change is queued
 * and done(done_arg, rc, err) reports its result later (*out filled when rc is SG_OK); a, gap_id
 * and out must stay valid until then. SG_EUNSUPPORTED when the backend has no asynchronous
 * path (call store_gap_update_status instead), or the validation errors of the synchronous
 * form; then done is not called. */
int store_gap_update_status_submit(struct store *st, const struct store_actor *a,
                                   const char *gap_id, enum store_gap_status to,
                                   struct store_gap *out, store_done_fn done, void *done_arg,
                                   char *err, size_t errlen) SG_WUR;
/* store_gap_update_status(..., STORE_GAP_CLOSED, ...). */
int store_gap_close(struct store *st, const struct store_actor *a, const char *gap_id,
                    struct store_gap *out, char *err, size_t errlen) SG_WUR;

/* ---- interventions ---- */

/* Creates an intervention: with gap_id, the gap must exist and belong to member_hash, and
 * measure_codes is set to the gap's measure when empty; without gap_id it is a bundle
 * (n_measure_codes >= 1) for member_hash. Links gaps as described at struct store_intervention.
 * status must be planned or in_progress; outcome NONE. */
int store_intervention_create(struct store *st, const struct store_actor *a,
                              struct store_intervention *iv, char *err, size_t errlen) SG_WUR;
/* Reads one intervention. SG_ENOTFOUND. */
int store_intervention_get(struct store *st, const char *id, struct store_intervention *out,
                           char *err, size_t errlen) SG_WUR;
/* Filtered list (member, status), newest first, total = matches. Audited read when a member
 * filter is set and actor is non-NULL. */
int store_intervention_list(struct store *st, const struct store_actor *a,
                            const struct store_iv_filter *f, struct store_intervention_list *out,
                            char *err, size_t errlen) SG_WUR;
/* All interventions of a member (store_intervention_list with that filter, limit 1000). */
int store_intervention_get_by_member(struct store *st, const struct store_actor *a,
                                     const char *member_hash, struct store_intervention_list *out,
                                     char *err, size_t errlen) SG_WUR;
/* Pending interventions (planned or in_progress) with scheduled_date <= date (YYYY-MM-DD),
 * earliest scheduled first, paginated; unscheduled ones are not pending. */
int store_intervention_get_pending(struct store *st, const char *date, const struct store_page *pg,
                                   struct store_intervention_list *out, char *err,
                                   size_t errlen) SG_WUR;
/* Applies the selected changes (see struct store_iv_update) in one transaction, audited with
 * before/after. SG_ETRANSITION for a disallowed status change, SG_EINVAL for an outcome on a
 * non-completed intervention. */
int store_intervention_update(struct store *st, const struct store_actor *a, const char *id,
                              const struct store_iv_update *u, struct store_intervention *out,
                              char *err, size_t errlen) SG_WUR;
/* Completes a planned/in_progress intervention with an outcome (not NONE): status completed,
 * completed_date today. With outcome success or partial its linked gaps that are not yet closed
 * are closed (status closed, closed_date today; audited each), in the same transaction;
 * *gaps_closed (may be NULL) gets their number. SG_ETRANSITION when already completed or
 * cancelled. */
int store_intervention_complete(struct store *st, const struct store_actor *a, const char *id,
                                enum store_outcome outcome, struct store_intervention *out,
                                int *gaps_closed, char *err, size_t errlen) SG_WUR;
/* A member's bundle interventions (more than one measure code), newest first. Audited read. */
int store_intervention_get_bundles(struct store *st, const struct store_actor *a,
                                   const char *member_hash, struct store_intervention_list *out,
                                   char *err, size_t errlen) SG_WUR;

/* ---- star ratings ---- */

int store_star_rating_create(struct store *st, const struct store_actor *a,
                             struct store_star_rating *r, char *err, size_t errlen) SG_WUR;
/* Newest (calculation_date) rating of a contract (NULL = any contract) for star_year (0 = any).
 * SG_ENOTFOUND when none. */
int store_star_rating_get_latest(struct store *st, const char *contract_id, int star_year,
                                 struct store_star_rating *out, char *err, size_t errlen) SG_WUR;
/* Ratings of a contract (NULL = all), newest star_year then calculation_date first. */
int store_star_rating_get_history(struct store *st, const char *contract_id,
                                  const struct store_page *pg, struct store_star_rating_list *out,
                                  char *err, size_t errlen) SG_WUR;

/* ---- simulations ---- */

int store_simulation_create(struct store *st, const struct store_actor *a,
                            struct store_simulation *s, char *err, size_t errlen) SG_WUR;
int store_simulation_get(struct store *st, const char *id, struct store_simulation *out, char *err,
                         size_t errlen) SG_WUR;
/* Recent simulations matching the filter, newest simulation_date first; total = matches. */
int store_simulation_get_recent(struct store *st, const struct store_sim_filter *f,
                                struct store_simulation_list *out, char *err, size_t errlen) SG_WUR;
/* The simulations with the given ids (2..20 distinct UUIDs), in the order given, for
 * side-by-side comparison. SG_ENOTFOUND naming the first missing id's index. */
int store_simulation_compare(struct store *st, const char *const *ids, size_t n,
                             struct store_simulation_list *out, char *err, size_t errlen) SG_WUR;

/* ---- api logs (not audited: they are the request log) ---- */

/* Inserts n (1..100,000) rows in one transaction; empty timestamps become now. The commit does
 * not wait for its WAL flush on PostgreSQL (synchronous_commit off for this transaction: the rows
 * come from the server's bounded in-memory log queue, which a crash loses anyway, and a durable
 * flush of the request log would compete with the audited operations' flushes); the
 * transaction is still atomic and, once flushed, durable. */
int store_api_log_batch_create(struct store *st, const struct store_api_log *rows, size_t n,
                               char *err, size_t errlen) SG_WUR;
/* Aggregates over the last `hours` (1..8784), optionally one endpoint (NULL = all). Caller
 * store_api_stats_fini's *out. */
int store_api_log_get_stats(struct store *st, int hours, const char *endpoint,
                            struct store_api_stats *out, char *err, size_t errlen) SG_WUR;
/* The slowest requests of the last `hours`, slowest first, at most limit. */
int store_api_log_get_slowest(struct store *st, int hours, long limit,
                              struct store_api_log_list *out, char *err, size_t errlen) SG_WUR;
/* Requests with status >= 400 in the last `hours`, newest first, at most limit. */
int store_api_log_get_errors(struct store *st, int hours, long limit,
                             struct store_api_log_list *out, char *err, size_t errlen) SG_WUR;

/* ---- audit ---- */

/* Appends an explicit audit event (actor required) to the chain. */
int store_audit_create(struct store *st, const struct store_actor *a,
                       const struct store_audit_event *ev, char *err, size_t errlen) SG_WUR;
/* An entity's audit rows (entity_id NULL = all of the type), newest first, paginated. */
int store_audit_get_trail(struct store *st, const char *entity_type, const char *entity_id,
                          const struct store_page *pg, struct store_audit_list *out, char *err,
                          size_t errlen) SG_WUR;
/* Audit rows of the last `hours` (1..87840), newest first, paginated. */
int store_audit_get_recent(struct store *st, int hours, const struct store_page *pg,
                           struct store_audit_list *out, char *err, size_t errlen) SG_WUR;
/* Walks the whole chain in audit_id order recomputing every hash; reports the first broken
 * link in *out (returns SG_OK even when the chain is broken; check out->ok). */
int store_audit_verify(struct store *st, struct store_audit_verify *out, char *err,
                       size_t errlen) SG_WUR;

/* ---- measure results ---- */

/* Upserts n (1..1,000,000) results in one transaction, one audit row. Flags must be
 * consistent (numerator implies denominator implies initial_population). */
int store_measure_result_upsert_batch(struct store *st, const struct store_actor *a,
                                      struct store_measure_result *rows, size_t n, char *err,
                                      size_t errlen) SG_WUR;
/* A member's results (year 0 = all), newest year first then measure_code. */
int store_measure_result_get_by_member(struct store *st, const char *member_hash, int year,
                                       struct store_measure_result_list *out, char *err,
                                       size_t errlen) SG_WUR;
/* Rates grouped by measure, contract and year, each filter optional (NULL/0), ordered by
 * measure_code, contract_id, year. */
int store_measure_result_rates(struct store *st, const char *measure_code, const char *contract_id,
                               int year, struct store_measure_rate_list *out, char *err,
                               size_t errlen) SG_WUR;

/* ---- measures catalog ---- */

/* Inserts or replaces n (1..1000) catalog rows keyed by (star_year, code) in one transaction
 * (the seeding entry point). One audit row. */
int store_measure_upsert_batch(struct store *st, const struct store_actor *a,
                               const struct store_measure *rows, size_t n, char *err,
                               size_t errlen) SG_WUR;
/* The catalog of one star_year (0 = all years), ordered by star_year, cms_id. */
int store_measure_list(struct store *st, int star_year, struct store_measure_list *out, char *err,
                       size_t errlen) SG_WUR;
/* One catalog row. SG_ENOTFOUND. */
int store_measure_get(struct store *st, int star_year, const char *code, struct store_measure *out,
                      char *err, size_t errlen) SG_WUR;

/* ---- api keys ---- */

/* Records a key by its hash (hex SHA-256 of the key; the key itself is never stored).
 * SG_ECONFLICT when the name or hash exists. */
int store_api_key_create(struct store *st, const struct store_actor *a, const struct store_api_key *k,
                         char *err, size_t errlen) SG_WUR;
/* Looks a key up by hash (revoked keys are returned with revoked_at set). SG_ENOTFOUND. */
int store_api_key_get_by_hash(struct store *st, const char *key_hash, struct store_api_key *out,
                              char *err, size_t errlen) SG_WUR;
/* All keys ordered by name. */
int store_api_key_list(struct store *st, struct store_api_key_list *out, char *err,
                       size_t errlen) SG_WUR;
/* Revokes the key with that name. SG_ENOTFOUND; SG_ECONFLICT when already revoked. */
int store_api_key_revoke(struct store *st, const struct store_actor *a, const char *name, char *err,
                         size_t errlen) SG_WUR;

/* ---- member history ---- */

/* Everything recorded about a member (measure results, predictions, gaps, interventions) as one
 * time line, newest first (ties by kind, then id), paginated; total = all items. Audited read
 * when actor is non-NULL. SG_ENOTFOUND when the member does not exist. */
int store_member_history(struct store *st, const struct store_actor *a, const char *member_hash,
                         const struct store_page *pg, struct store_history_list *out, char *err,
                         size_t errlen) SG_WUR;

/* store_member_history (audited: a is required) without waiting for its group commit: on SG_OK
 * the read is queued and done(done_arg, rc, err) reports its result later (*out filled when rc
 * is SG_OK; the caller frees it either way); a, member_hash, pg and out must stay valid until
 * then. SG_EUNSUPPORTED when the backend has no asynchronous path (call store_member_history
 * instead), or the validation errors of the synchronous form; then done is not called. */
int store_member_history_submit(struct store *st, const struct store_actor *a,
                                const char *member_hash, const struct store_page *pg,
                                struct store_history_list *out, store_done_fn done,
                                void *done_arg, char *err, size_t errlen) SG_WUR;

/* ---- schema and maintenance ---- */

/* Reports applied vs embedded migrations (db/migrate.c). */
int store_schema_status(struct store *st, struct store_schema_status *out, char *err,
                        size_t errlen) SG_WUR;
/* Retention: deletes api_logs older than api_log_retention_days and audit_log older than
 * max(audit_retention_days, STORE_AUDIT_MIN_DAYS); PostgreSQL also creates the next months'
 * partitions, SQLite refreshes the planner statistics (ANALYZE, after the retention commit).
 * Audited as a maintenance event. */
int store_maintain(struct store *st, long api_log_retention_days, long audit_retention_days,
                   struct store_maintain_report *out, char *err, size_t errlen) SG_WUR;

/* ---- backend helpers (store.c; used by store_sqlite.c and store_pg.c) ---- */

/* Whether a gap may move from -> to (the transition table of store_gap_update_status). */
int store_gap_transition_ok(enum store_gap_status from, enum store_gap_status to);
/* Whether an intervention may move from -> to through store_intervention_update. */
int store_iv_transition_ok(enum store_iv_status from, enum store_iv_status to);


/* Computes a row's chain hash: hex SHA-256 over the canonical encoding
 *   audit_id|event_type|entity_type|entity_id|action|user_id|changes|ip_address|timestamp|prev_hash
 * where each field is written as "<byte length>:<bytes>;" and a NULL/empty optional field as
 * "-;". Both backends store changes verbatim (PostgreSQL: json, not jsonb) so the text hashed
 * at write time is the text read at verify time. Returns SG_OK or SG_EINTERNAL. */
int store_audit_hash(const struct store_audit *row, char out[STORE_HASH_LEN]) SG_WUR;

/* Fills an audit row for a write: event_type, entity, action, actor (NULL = "system"),
 * timestamp now, changes (borrowed pointer copied into the row as-is: NOT owned by the row; do
 * not store_audit_fini it). The backend sets audit_id, prev_hash and hash. */
void store_audit_fill(struct store_audit *row, const struct store_actor *a, const char *event_type,
                      const char *entity_type, const char *entity_id, const char *action,
                      const char *changes, const char *now);

/* JSON text of a row for audit "changes" ({"after":{...}} / {"before":{...},"after":{...}});
 * heap string (free()) or NULL on allocation failure. JSON columns are included as nested JSON
 * (except shap_values, only counted), so audit rows never copy PHI beyond the member hash. */
char *store_json_gap(const struct store_gap *before, const struct store_gap *after);
char *store_json_intervention(const struct store_intervention *before,
                              const struct store_intervention *after);
/* {"after":{"<k1>":"<v1>",...}}: n key/value string pairs (values NULL -> null). */
char *store_json_kv(size_t n, const char *const *keys, const char *const *values);

/* Maps a backend's failed statement to an sg_err with the PHI-safe message
 * "<stmt>: <server code>: <server message>" and logs it at error level. kind: 0 = other,
 * 1 = unique violation (-> SG_ECONFLICT), 2 = foreign key / check / not null (-> SG_EINVAL),
 * 3 = busy / lock timeout / serialization failure (-> SG_EBUSY). */
int store_db_error(char *err, size_t errlen, int kind, const char *stmt, const char *code,
                   const char *msg);

/* JSON array text of iv->measure_codes (heap, free()); NULL on allocation failure. */
char *store_json_codes(const struct store_intervention *iv);
/* Parses a JSON array of measure codes into iv->measure_codes / n_measure_codes.
 * Returns SG_OK or SG_EPARSE. */
int store_parse_codes(const char *json, struct store_intervention *iv) SG_WUR;

/* Today's date (UTC) from a `now` timestamp: the first 10 characters. */
void store_date_of(const char *ts, char out[STORE_DATE_LEN]);

/* Formats the current UTC time (or `now - seconds_ago`) as a STORE_TS_LEN timestamp. */
void store_now(char out[STORE_TS_LEN]);
void store_ts_ago(long long seconds_ago, char out[STORE_TS_LEN]);

/* ==== predict block (issue 6: import, member features, models) ====
 * Merges are idempotent upserts for `stargap import`: a row equal to the stored one is left
 * untouched (no write, no updated_at change), so importing the same files twice changes nothing.
 * Each merge is one transaction with one audit row (action "merge", changes {"inserted":..,
 * "updated":..}) written only when something changed; all or nothing. counts (may be NULL).
 * A batch holds each key (member_hash; member_hash, measure_code, measurement_year;
 * member_hash, measurement_year) at most once: SG_EINVAL "rows[i]: duplicate key in batch" names
 * the later row. */

/* Inserts members or updates contract_id, attributes and active when they differ
 * (n 1..1,000,000); total_predictions and first_seen are kept. */
int store_member_upsert_batch(struct store *st, const struct store_actor *a,
                              const struct store_member *rows, size_t n,
                              struct store_merge_counts *counts, char *err, size_t errlen) SG_WUR;
/* Inserts measure results or updates them when flags or source differ (evaluated_at = now for
 * inserted/changed rows, or the row's evaluated_at when set). Validation as
 * store_measure_result_upsert_batch. */
int store_measure_result_merge_batch(struct store *st, const struct store_actor *a,
                                     const struct store_measure_result *rows, size_t n,
                                     struct store_merge_counts *counts, char *err,
                                     size_t errlen) SG_WUR;
/* Inserts member feature rows or replaces features when the JSON differs. features must be a
 * JSON object of finite numbers with valid feature names. */
int store_member_feature_merge_batch(struct store *st, const struct store_actor *a,
                                     const struct store_member_feature *rows, size_t n,
                                     struct store_merge_counts *counts, char *err,
                                     size_t errlen) SG_WUR;
/* The two merges above as gated batches (struct store_gate; gate NULL: not gated), for batches
 * of disjoint keys merged at once on up to store_batch_writers threads and committed in order.
 * Everything else as the ungated calls; a batch refused at its gate fails with the gate's value
 * and writes nothing. */
int store_measure_result_merge_batch_gated(struct store *st, const struct store_actor *a,
                                           const struct store_measure_result *rows, size_t n,
                                           const struct store_gate *gate,
                                           struct store_merge_counts *counts, char *err,
                                           size_t errlen) SG_WUR;
int store_member_feature_merge_batch_gated(struct store *st, const struct store_actor *a,
                                           const struct store_member_feature *rows, size_t n,
                                           const struct store_gate *gate,
                                           struct store_merge_counts *counts, char *err,
                                           size_t errlen) SG_WUR;
/* How many gated batches of st may write at once: 1 where the backend serializes writers
 * (SQLite: a batch waiting at its gate would hold the write lock its predecessor needs), 2 on
 * PostgreSQL (each batch its own transaction on its own server process) when its pool allows at
 * least 3 connections (a batch waiting at its gate holds one; the one before it and the
 * importer's own reads need the others), else 1. */
int store_batch_writers(const struct store *st);
/* The three merges above in ONE transaction, in the order members, measure results, member
 * features (so results and features may refer to members of the same call): either all rows are
 * written or, on any error, none. Each array may be empty (n 0, NULL allowed), not all three;
 * each at most 1,000,000 rows; validation as the three operations, errors naming
 * "members[i]", "results[i]" or "features[i]". counts (may be NULL) gets the three merge counts
 * in that order; each non-empty merge is audited as its own operation. */
int store_import_batch(struct store *st, const struct store_actor *a,
                       const struct store_member *members, size_t n_members,
                       const struct store_measure_result *results, size_t n_results,
                       const struct store_member_feature *features, size_t n_features,
                       struct store_merge_counts counts[3], char *err, size_t errlen) SG_WUR;
/* Calls cb for every member, in member_hash order. Not audited (bulk read for model training;
 * rows carry no more than the member hash and attributes). */
int store_member_scan(struct store *st, store_member_cb cb, void *ctx, char *err,
                      size_t errlen) SG_WUR;
/* Calls cb for every measure result of `year`, ordered by member_hash, measure_code. */
int store_measure_result_scan(struct store *st, int year, store_result_cb cb, void *ctx,
                              char *err, size_t errlen) SG_WUR;
/* Calls cb for every member feature row of `year`, ordered by member_hash. */
int store_member_feature_scan(struct store *st, int year, store_feature_cb cb, void *ctx,
                              char *err, size_t errlen) SG_WUR;
/* One member's feature row of a year (caller store_member_feature_fini's *out). SG_ENOTFOUND. */
int store_member_feature_get(struct store *st, const char *member_hash, int year,
                             struct store_member_feature *out, char *err, size_t errlen) SG_WUR;
/* Distinct measurement years of measure_results, ascending, up to cap, count in *n. */
int store_measure_result_years(struct store *st, int *years, size_t cap, size_t *n, char *err,
                               size_t errlen) SG_WUR;
/* Stores a model: model_id generated, version = 1 + the highest version of its measure (in the
 * same transaction), created_at now; audited (the model text is not copied into the audit). */
int store_model_create(struct store *st, const struct store_actor *a, struct store_model *m,
                       char *err, size_t errlen) SG_WUR;
/* One model by id, with its text (store_model_fini). SG_ENOTFOUND. */
int store_model_get(struct store *st, const char *model_id, struct store_model *out, char *err,
                    size_t errlen) SG_WUR;
/* The highest version of a measure's models, with its text. SG_ENOTFOUND when none. */
int store_model_get_latest(struct store *st, const char *measure_code, struct store_model *out,
                           char *err, size_t errlen) SG_WUR;
/* Every model (measure_code NULL) or a measure's, ordered by measure_code, version descending;
 * model_text is NULL in the list items. */
int store_model_list(struct store *st, const char *measure_code, struct store_model_list *out,
                     char *err, size_t errlen) SG_WUR;
void store_member_feature_fini(struct store_member_feature *f);
void store_model_fini(struct store_model *m);
void store_model_list_free(struct store_model_list *l);
/* ==== end predict block ==== */

/* ==== decide block (issue 7: gap refresh, bulk reads for the portfolio wiring) ==== */

/* Calls cb for the newest prediction (prediction_date, then prediction_id) of every (member,
 * measure) of measurement year `year`, ordered by member_hash, measure_code. shap_values and
 * top_features are NULL in the rows passed. Not audited (bulk read for the gap analysis). */
int store_prediction_scan_latest(struct store *st, int year, store_prediction_cb cb, void *ctx,
                                 char *err, size_t errlen) SG_WUR;
/* Calls cb for every gap of `year` (contract_id NULL = all contracts), ordered by member_hash,
 * measure_code. Not audited. */
int store_gap_scan(struct store *st, int year, const char *contract_id, store_gap_cb cb,
                   void *ctx, char *err, size_t errlen) SG_WUR;
/* Refreshes the gap analysis of `year` (contract_id NULL = all contracts) in one transaction:
 * rows[0..n) are ALL the currently open gaps of that scope (n 0..5,000,000; member_hash,
 * contract_id, measure_code, measurement_year = year and the values set; gap_id generated when
 * empty, status ignored). A row without a stored gap is inserted as identified; a stored
 * identified/assigned gap gets the row's gap_probability, priority_score, intervention_type,
 * estimated_cost and estimated_value; a completed/closed gap is left alone (kept). Every
 * identified/assigned gap of the scope that is not among the rows is closed (closed_date
 * today). One audit row (entity gap, action "refresh", the counts). All or nothing. */
int store_gap_refresh_batch(struct store *st, const struct store_actor *a, int year,
                            const char *contract_id, struct store_gap *rows, size_t n,
                            struct store_refresh_counts *counts, char *err, size_t errlen) SG_WUR;
/* ==== end decide block ==== */

#endif
