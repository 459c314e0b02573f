/* cli_measure.c: `stargap measure eval` (evaluate the eCQMs over patient Bundles, NDJSON or a
 * Bulk FHIR export and print CSV, MeasureReports, summaries or DEQM gaps Bundles) and
 * `stargap measure test` (run the published eCQM test cases and print agreement). Invalid
 * patients are reported with file and line on stderr and counted; the run goes on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "measures/measures.h"

const char cli_measure_usage[] =
    "usage: stargap measure eval --measure LIST --period-start YYYY-MM-DD --period-end YYYY-MM-DD\n"
    "                            [--valuesets DIR] [--format csv|measurereport|summary|care-gaps] "
    "INPUT...\n"
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
    "is 1 when any patient was rejected. Results are not written to the database by this\n"
    "command yet (the storage layer wires meas_result records).\n"
    "--valuesets defaults to the configuration entry valuesets_dir.\n"
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

static int run_eval(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *measures = NULL, *ps = NULL, *pe = NULL, *vsdir = ctx->cfg->valuesets_dir,
               *format = "csv";
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        const char **target = !strcmp(a, "--measure")        ? &measures
                              : !strcmp(a, "--period-start") ? &ps
                              : !strcmp(a, "--period-end")   ? &pe
                              : !strcmp(a, "--valuesets")    ? &vsdir
                              : !strcmp(a, "--format")       ? &format
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
    if (meas_engine_new(vsdir, &eng, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap measure: %s\n", err);
        goto out;
    }
    if (meas_input_open(argv + i, (size_t)(argc - i), &in, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap measure: %s\n", err);
        goto out;
    }
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
        size_t n = 0;
        for (int m = 0; m < MEAS_COUNT; m++) {
            if (!(mask & (1u << m))) continue;
            ids[n] = (enum meas_id)m;
            if (meas_evaluate(eng, p, ids[n], &period, &pops[n]) != SG_OK) goto out;
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
    }
    if (f == F_SUMMARY)
        for (int m = 0; m < MEAS_COUNT; m++)
            if ((mask & (1u << m)) &&
                print_json(meas_report_summary((enum meas_id)m, &period, &totals[m])))
                goto out;
    fprintf(stderr, "stargap measure: patients=%ld rejected=%ld\n", patients, rejects);
    ret = rejects ? CLI_FAIL : CLI_OK;
out:
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
    const char *cases = NULL, *vsdir = ctx->cfg->valuesets_dir;
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
