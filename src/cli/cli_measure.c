/* cli_measure.c: `stargap measure eval` (evaluate the eCQMs over patient Bundles, NDJSON or a
 * Bulk FHIR export and print CSV, MeasureReports, summaries or DEQM gaps Bundles; with --db also
 * persist every patient's results to measure_results) and `stargap measure test` (run the
 * published eCQM test cases and print agreement). Invalid patients are reported with file and
 * line on stderr and counted; the run goes on.
 *
 * Persistence: the member ID (meas_result_fill's raw member_id) is hashed with the service key at
 * once and wiped; the member row is created with the --contract given (clinical FHIR data does
 * not carry the Medicare Advantage contract, and the engine does not read one) unless it exists;
 * rows are upserted DB_BATCH patients per transaction. Measure codes and numerators are stored in
 * the Star direction: CMS122's poor-control numerator becomes GSD "controlled" (see star_row),
 * with the numerator date of the engine (meas_evaluate_dated) on met rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/memberid.h"
#include "db/store.h"
#include "measures/input_bulk.h"
#include "measures/measures.h"

const char cli_measure_usage[] =
    "usage: stargap measure eval --measure LIST --period-start YYYY-MM-DD --period-end YYYY-MM-DD\n"
    "                            [--valuesets DIR] [--format csv|measurereport|summary|care-gaps]\n"
    "                            [--db URL --contract ID] INPUT...\n"
    "       stargap measure test --cases DIR [--valuesets DIR]\n"
    "\n"
    "eval: evaluates CMS125 (BCS), CMS130 (COL), CMS165 (CBP), CMS122 (GSD, inverse) and CMS131\n"
    "(EED) for every patient of the inputs. LIST is comma-separated CMS ids or codes, or 'all'.\n"
    "INPUT is a patient Bundle JSON file, an NDJSON file (one Bundle per line), a directory of\n"
    "them, or a Bulk FHIR export directory (Patient.ndjson + one NDJSON file per resource type,\n"
    "grouped by patient). Formats: csv (default; header\n"
    "patient_id,measure,initial_population,denominator,denominator_exclusion,numerator),\n"
    "measurereport (one individual MeasureReport per line), summary (one summary MeasureReport\n"
    "per measure), care-gaps (one DEQM gaps Bundle per patient per line).\n"
    "Rejected patients are reported on stderr as FILE:LINE: message and counted; the exit code\n"
    "is 1 when any patient was rejected.\n"
    "--valuesets defaults to the configuration entry valuesets_dir.\n"
    "--db URL (given on the command line) also writes every patient's results to the table\n"
    "measure_results of that database (migrated, catalog seeded: 'stargap migrate up'), keyed by\n"
    "the HMAC of the member ID (the Patient identifier typed MB, else Patient.id) and the Star\n"
    "measure code, measurement year = year of --period-end, source 'fhir'; GSD is stored as the\n"
    "Star measure (numerator = glycemic status controlled, the complement of CMS122's "
    "poor-control\n"
    "numerator among the non-excluded denominator). --contract ID is then required: the contract\n"
    "of members created by this run (existing members keep theirs). Re-running replaces the rows.\n"
    "\n"
    "test: runs every case under DIR (layout: DIR/CMSnnn-Name/<uuid>-patient-bundle.json and\n"
    "<uuid>-expected-MeasureReport.json, titles from DIR/expected_results.csv), prints each\n"
    "disagreement with its title and the agreement per measure; exit 1 on any disagreement.\n";

enum fmt { F_CSV, F_MR, F_SUMMARY, F_GAPS };

static int print_json(json_t *j)
{
    if (!j) return -1;
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(j);
    if (!s) return -1;
    puts(s);
    free(s);
    return 0;
}

/* ---- persistence to measure_results ------------------------------------------------------- */

#define DB_BATCH 1000 /* patients per transaction */
#define DB_SOURCE "fhir"

static const struct store_actor db_actor = {.user_id = "cli:measure-eval", .ip_address = ""};

struct db_sink {
    struct store *st;
    struct sg_memberid key;
    int have_key;
    char contract[STORE_CONTRACT_LEN];
    struct store_measure_result *rows; /* DB_BATCH * MEAS_COUNT */
    size_t nrows, npatients;           /* in the pending batch */
    long members_created, rows_written, batches;
};

/* A contract id as the store keeps it: 1..15 of [A-Z0-9]. */
static int contract_ok(const char *c)
{
    size_t n = strlen(c);
    if (n == 0 || n >= STORE_CONTRACT_LEN) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((c[i] >= 'A' && c[i] <= 'Z') || (c[i] >= '0' && c[i] <= '9'))) return 0;
    return 1;
}

/* The measure_results row of one evaluation, in the Star measure's direction. For an inverse
 * eCQM (CMS122: numerator = HbA1c/GMI poor control) the Star measure (GSD: glycemic status
 * controlled) counts the non-excluded denominator members that are NOT in the eCQM numerator;
 * the populations themselves are the same. */
static void star_row(const char *member_hash, const struct meas_result *r, enum meas_id id,
                     struct store_measure_result *row)
{
    memset(row, 0, sizeof *row);
    snprintf(row->member_hash, sizeof row->member_hash, "%s", member_hash);
    snprintf(row->measure_code, sizeof row->measure_code, "%s", r->code);
    row->measurement_year = r->measurement_year;
    row->initial_population = r->pops.initial_population;
    row->denominator = r->pops.denominator;
    row->denominator_exclusion = r->pops.denominator_exclusion;
    /* the numerator date (the day the Star numerator was met) goes with it */
    row->numerator = meas_star_numerator(id, &r->pops, r->numerator_date, row->numerator_date);
    snprintf(row->source, sizeof row->source, "%s", DB_SOURCE);
}

static int db_open(struct db_sink *d, const struct sg_config *cfg, const char *contract, char *err,
                   size_t errlen)
{
    memset(d, 0, sizeof d[0]);
    snprintf(d->contract, sizeof d->contract, "%s", contract);
    int rc = store_open(cfg->db, cfg, &d->st, err, errlen);
    if (rc) return rc;
    rc = sg_memberid_init(&d->key, cfg, NULL, err, errlen);
    if (rc) return rc;
    d->have_key = 1;
    d->rows = calloc((size_t)DB_BATCH * MEAS_COUNT, sizeof *d->rows);
    if (!d->rows) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    return SG_OK;
}

/* Writes the pending batch in one transaction (all or nothing). */
static int db_flush(struct db_sink *d, char *err, size_t errlen)
{
    if (!d->nrows) return SG_OK;
    char detail[SG_ERRLEN] = "";
    int rc = store_measure_result_upsert_batch(d->st, &db_actor, d->rows, d->nrows, detail,
                                               sizeof detail);
    if (rc)
        return sg_errf(err, errlen, rc,
                       "measure_results batch %ld (%zu patients, nothing of it "
                       "written): %s",
                       d->batches + 1, d->npatients, detail);
    d->batches++;
    d->rows_written += (long)d->nrows;
    d->nrows = d->npatients = 0;
    return SG_OK;
}

static void db_close(struct db_sink *d)
{
    free(d->rows);
    if (d->have_key) sg_memberid_fini(&d->key);
    store_close(d->st);
    memset(d, 0, sizeof d[0]);
}

/* Adds one patient's n results. Returns SG_OK, SG_EINVAL for a patient whose member ID cannot be
 * hashed (a reject; err says why without the ID), or a store error (fatal). */
static int db_add(struct db_sink *d, const struct meas_patient *p, const enum meas_id *ids,
                  const struct meas_pops *pops, char (*dates)[MEAS_DATE_LEN], size_t n,
                  const struct meas_period *period, char *err, size_t errlen)
{
    if (!n) return SG_OK;
    struct meas_result r;
    char hash[SG_HEX64_LEN];
    meas_result_fill(p, ids[0], period, &pops[0], dates[0], &r);
    int rc = sg_memberid_hash(&d->key, r.member_id, hash, err, errlen);
    memset(r.member_id, 0, sizeof r.member_id); /* the raw ID is not needed any more */
    if (rc) return rc;
    struct store_member m, got;
    memset(&m, 0, sizeof m);
    memcpy(m.member_hash, hash, sizeof m.member_hash);
    memcpy(m.contract_id, d->contract, sizeof m.contract_id);
    m.active = 1;
    m.sex = STORE_SEX_UNKNOWN;
    m.dual_eligible = m.lis = m.disabled = -1;
    int created = 0;
    rc = store_member_get_or_create(d->st, &db_actor, &m, &got, &created, err, errlen);
    if (rc) return rc == SG_EINVAL ? SG_EINTERNAL : rc; /* never a per-patient reject */
    d->members_created += created;
    for (size_t i = 0; i < n; i++) {
        meas_result_fill(p, ids[i], period, &pops[i], dates[i], &r);
        memset(r.member_id, 0, sizeof r.member_id);
        struct store_measure_result row;
        star_row(hash, &r, ids[i], &row);
        /* the same member twice in one batch (two Bundles of one patient): the later one wins,
         * as it would across batches; a batch must not hold one key twice */
        size_t k = 0;
        for (; k < d->nrows; k++)
            if (!strcmp(d->rows[k].member_hash, row.member_hash) &&
                !strcmp(d->rows[k].measure_code, row.measure_code) &&
                d->rows[k].measurement_year == row.measurement_year)
                break;
        d->rows[k] = row;
        if (k == d->nrows) d->nrows++;
    }
    if (++d->npatients >= DB_BATCH) return db_flush(d, err, errlen);
    return SG_OK;
}

static int run_eval(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *measures = NULL, *ps = NULL, *pe = NULL, *vsdir = cli_valuesets_dir(ctx->cfg),
               *format = "csv", *contract = NULL;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char **target = !strcmp(a, "--measure")        ? &measures
                              : !strcmp(a, "--period-start") ? &ps
                              : !strcmp(a, "--period-end")   ? &pe
                              : !strcmp(a, "--valuesets")    ? &vsdir
                              : !strcmp(a, "--format")       ? &format
                              : !strcmp(a, "--contract")     ? &contract
                                                             : NULL;
        if (!target) {
            if (!strncmp(a, "--", 2)) return cli_usage_error("measure", "unknown option '%s'", a);
            break;
        }
        if (i + 1 >= argc) return cli_usage_error("measure", "option %s needs a value", a);
        *target = argv[++i];
    }
    if (!measures) return cli_usage_error("measure", "--measure is required");
    if (!ps || !pe)
        return cli_usage_error("measure", "--period-start and --period-end are required");
    if (!vsdir || !*vsdir)
        return cli_usage_error("measure", "--valuesets (or config valuesets_dir) is required");
    if (i >= argc) return cli_usage_error("measure", "no INPUT given");
    const int persist = ctx->db_flag != NULL;
    if (persist && !contract)
        return cli_usage_error("measure", "--contract is required with --db (the contract of the "
                                          "members created; FHIR clinical data does not carry it)");
    if (contract && !persist) return cli_usage_error("measure", "--contract needs --db");
    if (contract && !contract_ok(contract))
        return cli_usage_error("measure", "--contract: expected 1..15 of A-Z 0-9 (e.g. H1234)");
    enum fmt f;
    if (!strcmp(format, "csv"))
        f = F_CSV;
    else if (!strcmp(format, "measurereport"))
        f = F_MR;
    else if (!strcmp(format, "summary"))
        f = F_SUMMARY;
    else if (!strcmp(format, "care-gaps"))
        f = F_GAPS;
    else
        return cli_usage_error("measure", "unknown --format '%s'", format);
    char err[SG_ERRLEN];
    unsigned mask;
    struct meas_period period;
    if (meas_parse_list(measures, &mask, err, sizeof err) != SG_OK)
        return cli_usage_error("measure", "%s", err);
    if (meas_period_parse(ps, pe, &period, err, sizeof err) != SG_OK)
        return cli_usage_error("measure", "%s", err);

    struct meas_engine *eng = NULL;
    struct meas_input *in = NULL;
    struct meas_patient *p = NULL;
    int ret = CLI_FAIL;
    long patients = 0, rejects = 0;
    struct meas_totals totals[MEAS_COUNT];
    memset(totals, 0, sizeof totals);
    struct db_sink db;
    memset(&db, 0, sizeof db);
    if (persist && db_open(&db, ctx->cfg, contract, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap measure: %s\n", err);
        goto out;
    }
    if (meas_engine_new(vsdir, &eng, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap measure: %s\n", err);
        goto out;
    }
    if (meas_input_open(argv + i, (size_t)(argc - i), &in, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap measure: %s\n", err);
        goto out;
    }
    meas_input_set_bulk_budget(in, (size_t)ctx->cfg->bulk_partition_bytes);
    if (!(p = meas_patient_new())) goto out;
    if (f == F_CSV)
        puts("patient_id,measure,initial_population,denominator,denominator_exclusion,numerator");
    for (;;) {
        const char *file;
        long line;
        struct meas_error e;
        int r = meas_input_next(in, eng, p, &file, &line, &e);
        if (r == 0) break;
        if (r < 0) {
            fprintf(stderr, "%s:%ld: %s%s%s\n", file, line, e.where, e.where[0] ? ": " : "", e.msg);
            if (r == SG_EIO || r == SG_ENOMEM || (r == SG_ETOOBIG && line == 0)) goto out;
            rejects++;
            continue;
        }
        patients++;
        enum meas_id ids[MEAS_COUNT];
        struct meas_pops pops[MEAS_COUNT];
        char dates[MEAS_COUNT][MEAS_DATE_LEN];
        size_t n = 0;
        for (int m = 0; m < MEAS_COUNT; m++) {
            if (!(mask & (1u << m))) continue;
            ids[n] = (enum meas_id)m;
            if (meas_evaluate_dated(eng, p, ids[n], &period, &pops[n], dates[n]) != SG_OK) goto out;
            meas_totals_add(&totals[m], &pops[n]);
            if (f == F_CSV)
                printf("%s,%s,%d,%d,%d,%d\n", meas_patient_id(p), meas_info(ids[n])->cms,
                       pops[n].initial_population, pops[n].denominator,
                       pops[n].denominator_exclusion, pops[n].numerator);
            else if (f == F_MR && print_json(meas_report_individual(p, ids[n], &period, &pops[n])))
                goto out;
            n++;
        }
        if (f == F_GAPS && print_json(meas_gaps_bundle(p, ids, pops, n, &period))) goto out;
        if (persist) {
            int rc = db_add(&db, p, ids, pops, dates, n, &period, err, sizeof err);
            if (rc == SG_EINVAL) { /* the member ID cannot be hashed: this patient only */
                fprintf(stderr, "%s:%ld: Patient member identifier: %s\n", file, line, err);
                rejects++;
                continue;
            }
            if (rc) {
                fprintf(stderr, "stargap measure: %s\n", err);
                goto out;
            }
        }
    }
    if (persist && db_flush(&db, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap measure: %s\n", err);
        goto out;
    }
    if (f == F_SUMMARY)
        for (int m = 0; m < MEAS_COUNT; m++)
            if ((mask & (1u << m)) &&
                print_json(meas_report_summary((enum meas_id)m, &period, &totals[m])))
                goto out;
    fprintf(stderr, "stargap measure: patients=%ld rejected=%ld\n", patients, rejects);
    if (persist)
        fprintf(stderr, "stargap measure: stored rows=%ld batches=%ld members_created=%ld\n",
                db.rows_written, db.batches, db.members_created);
    ret = rejects ? CLI_FAIL : CLI_OK;
out:
    db_close(&db);
    meas_patient_free(p);
    meas_input_close(in);
    meas_engine_free(eng);
    return ret;
}

struct test_tally {
    int total[MEAS_COUNT], agree[MEAS_COUNT], errors;
};

static void on_case(const struct meas_case *c, void *ud)
{
    struct test_tally *t = ud;
    const char *cms = meas_info(c->id)->cms;
    t->total[c->id]++;
    if (c->error) {
        t->errors++;
        printf("ERROR %s %s \"%s\": %s\n", cms, c->uuid, c->title, c->errmsg);
    } else if (c->agree) {
        t->agree[c->id]++;
    } else {
        printf("DISAGREE %s %s \"%s\": expected %d/%d/%d/%d got %d/%d/%d/%d (ip/den/denex/num)\n",
               cms, c->uuid, c->title, c->expected.initial_population, c->expected.denominator,
               c->expected.denominator_exclusion, c->expected.numerator, c->got.initial_population,
               c->got.denominator, c->got.denominator_exclusion, c->got.numerator);
    }
}

static int run_test(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *cases = NULL, *vsdir = cli_valuesets_dir(ctx->cfg);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            cases = argv[++i];
        else if (!strcmp(argv[i], "--valuesets") && i + 1 < argc)
            vsdir = argv[++i];
        else
            return cli_usage_error("measure", "unexpected argument '%s'", argv[i]);
    }
    if (!cases) return cli_usage_error("measure", "--cases is required");
    if (!vsdir || !*vsdir)
        return cli_usage_error("measure", "--valuesets (or config valuesets_dir) is required");
    char err[SG_ERRLEN];
    struct meas_engine *eng = NULL;
    if (meas_engine_new(vsdir, &eng, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap measure: %s\n", err);
        return CLI_FAIL;
    }
    struct test_tally t;
    memset(&t, 0, sizeof t);
    int rc = meas_run_cases(eng, cases, on_case, &t, err, sizeof err);
    meas_engine_free(eng);
    if (rc != SG_OK) {
        fprintf(stderr, "stargap measure: %s\n", err);
        return CLI_FAIL;
    }
    int all = 0, agree = 0;
    for (int m = 0; m < MEAS_COUNT; m++) {
        if (!t.total[m]) continue;
        printf("%s %s: %d/%d cases agree\n", meas_info((enum meas_id)m)->cms,
               meas_info((enum meas_id)m)->code, t.agree[m], t.total[m]);
        all += t.total[m];
        agree += t.agree[m];
    }
    printf("total: %d/%d cases agree\n", agree, all);
    return (agree == all && all > 0) ? CLI_OK : CLI_FAIL;
}

int cli_measure_run(struct cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) return cli_usage_error("measure", "expected 'eval' or 'test'");
    if (!strcmp(argv[1], "eval")) return run_eval(ctx, argc - 1, argv + 1);
    if (!strcmp(argv[1], "test")) return run_test(ctx, argc - 1, argv + 1);
    return cli_usage_error("measure", "unknown subcommand '%s' (eval or test)", argv[1]);
}
