/* synth.h: the synthetic Medicare Advantage portfolio generator behind `stargap generate`.
 *
 * It draws members (age/sex structure of MA enrollees including under-65 disability
 * entitlement, dual and LIS status, chronic conditions, medication use, yearly utilization),
 * places them in contracts of unequal size with contract-level quality, applies each measure's
 * age/sex/diagnosis rules and exclusions per year, and draws compliance from a documented
 * logistic model with prior-year persistence, socioeconomic and utilization effects and contract
 * effects, whose intercept per measure-year is solved so the expected rate equals the measure's
 * target (the CMS 2026 national averages). docs/MODELS.md states the model and its sources.
 *
 * The compliance probability of a year is taken at the start of the year: it depends on what
 * the written files show for the year before (prior statuses, utilization, attributes,
 * contract) plus the contract effect and, for SUPD, the probability of statin therapy in the
 * year given the member's state at its start (therapy the year before, visible as the prior
 * PDC-STA status, and the latent conditions behind it); it is never conditioned on the year's
 * outcome. Each compliant member also draws the day the numerator was met (a per-measure
 * timing distribution, docs/MODELS.md); the last year is written as observed on an as-of day,
 * so a compliance after that day shows as an open gap. The probabilities written to
 * true_probabilities.csv for the last year (of compliance, and of the gap staying open to the
 * end of the year given it is open on the as-of day) are therefore the best a model can do
 * (docs/MODELS.md). Output is deterministic for a seed: every member
 * draws from its own PRNG streams (core/rng.h), so results do not depend on processing order.
 * synth_write_fhir writes the same portfolio as FHIR R4 Bulk NDJSON for the measure engine. */
#ifndef SG_SYNTH_SYNTH_H
#define SG_SYNTH_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define SYNTH_N_MEASURES 11
#define SYNTH_MAX_MEMBERS 50000000
#define SYNTH_MAX_CONTRACTS 9000

struct synth_measure {
    const char *code; /* BCS, COL, CBP, GSD, EED, KED, BPD, SUPD, PDC-DR, PDC-RASA, PDC-STA */
    double target;    /* expected compliance rate among eligible, non-excluded members */
    const char *rule; /* eligibility rule in words */
};

/* The measures in file order with their targets (borrowed, static; n set to SYNTH_N_MEASURES). */
const struct synth_measure *synth_measures(size_t *n);

struct synth_params {
    size_t members;   /* members drawn (1..SYNTH_MAX_MEMBERS) */
    size_t contracts; /* contracts (1..SYNTH_MAX_CONTRACTS) */
    int year_first;   /* first measurement year */
    int year_last;    /* last measurement year (>= year_first, at most 20 years) */
    uint64_t seed;    /* PRNG seed */
    int as_of_month;  /* the last year is written as observed on as_of_month-as_of_day of
                         year_last: a numerator is shown (with its date) only when met on or
                         before that day. 0 = the default SYNTH_AS_OF_DEFAULT (09-30);
                         12-31 writes the complete year. */
    int as_of_day;
};

#define SYNTH_AS_OF_DEFAULT_MONTH 9
#define SYNTH_AS_OF_DEFAULT_DAY 30

/* What was generated. The row counts describe the portfolio: synth_write_fhir fills them too
 * (the rows synth_write_csv would write for the same parameters). */
struct synth_summary {
    size_t members;                       /* rows of members.csv */
    size_t result_rows;                   /* rows of measure_results.csv */
    size_t feature_rows;                  /* rows of member_features.csv */
    size_t truth_rows;                    /* rows of true_probabilities.csv */
    size_t denominator[SYNTH_N_MEASURES]; /* last year: eligible, not excluded */
    size_t numerator[SYNTH_N_MEASURES];   /* last year: compliant by the end of the year */
    double expected[SYNTH_N_MEASURES];    /* last year: mean true probability of compliance */
    size_t fhir_patients;                 /* FHIR output: Patient resources */
    size_t fhir_resources;                /* FHIR output: all resources, Patients included */
    /* last year: compliant by the as-of day (the numerators written) */
    size_t numerator_as_of[SYNTH_N_MEASURES];
    /* last year: sum over the members open on the as-of day of P(open at year end | open then) */
    double expected_open[SYNTH_N_MEASURES];
    int as_of_month, as_of_day; /* the as-of day used */
};

/* Checks the parameters (the as-of day must exist in year_last). Returns SG_OK or SG_EINVAL
 * naming the parameter. */
int synth_params_check(const struct synth_params *prm, char *err, size_t errlen) SG_WUR;

/* Generates the portfolio and writes, into the existing directory dir, members.csv,
 * measure_results.csv, member_features.csv and true_probabilities.csv (layouts in
 * docs/MODELS.md). Files are written under temporary names and renamed at the end, so a failure
 * leaves no partial output. Fills *sum (may be NULL). Returns SG_OK, SG_EINVAL, SG_ENOMEM or
 * SG_EIO (naming the file). */
int synth_write_csv(const struct synth_params *prm, const char *dir, struct synth_summary *sum,
                    char *err, size_t errlen) SG_WUR;

/* ---- FHIR R4 Bulk output ------------------------------------------------------------------ */

#define SYNTH_FHIR_MAX_CODES 4 /* codes asked for per value set */

struct synth_code {
    char system[160];
    char code[64];
};

/* Supplies codes of a value set (canonical url) for the FHIR writer: up to max codes into out,
 * their number in *n (at least one). The wiring passes the measure engine's
 * meas_valueset_codes (the project ships no value sets: they come from a directory).
 * Returns SG_OK or a negative sg_err with err filled. */
typedef int (*synth_code_fn)(void *ud, const char *valueset_url, struct synth_code *out, size_t max,
                             size_t *n, char *err, size_t errlen);

/* Generates the same portfolio as synth_write_csv (same parameters, same members, same
 * statuses) and writes it into the existing directory dir as FHIR R4 Bulk NDJSON:
 * Patient.ndjson (every member; identifier of type v2-0203 MB = the CSV member_id),
 * Condition.ndjson, Encounter.ndjson, Observation.ndjson and Procedure.ndjson (subject
 * Patient/<id>). The clinical facts describe the last year Y2 so that evaluating CMS125, CMS130,
 * CMS165, CMS122 and CMS131 over Y2 reproduces the generated BCS, COL, CBP, GSD (complement of
 * CMS122) and EED statuses (docs/MODELS.md, "FHIR output"). Codes come from `codes` for each
 * value set used. Files are written under temporary names and renamed at the end. Memory does
 * not grow with the output (resources are streamed member by member). Returns SG_OK, SG_EINVAL,
 * SG_ENOMEM, SG_EIO or the resolver's error, with err filled. */
int synth_write_fhir(const struct synth_params *prm, synth_code_fn codes, void *ud, const char *dir,
                     struct synth_summary *sum, char *err, size_t errlen) SG_WUR;

#endif
