/* cli_generate.c: `stargap generate`, the synthetic Medicare Advantage portfolio for tests,
 * benchmarks and the demo (src/synth). CSV output, or FHIR R4 Bulk NDJSON whose codes come from
 * the measure engine's value sets (--valuesets DIR or the valuesets_dir setting): this file
 * wires meas_valueset_codes into synth_write_fhir, so src/synth stays free of JSON and value
 * sets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "core/log.h"
#include "measures/measures.h"
#include "synth/synth.h"

const char cli_generate_usage[] =
    "usage: stargap generate --members N --contracts K --years Y1-Y2 --seed S --out DIR\n"
    "                        [--as-of MM-DD] [--format csv|fhir] [--valuesets DIR]\n"
    "Writes a synthetic Medicare Advantage portfolio into DIR (created if missing):\n"
    "  members.csv          member_id,contract_id,birth_date,sex,dual,lis,disability,\n"
    "                       enrollment_start,enrollment_end\n"
    "  measure_results.csv  member_id,measure,year,initial_population,denominator,\n"
    "                       denominator_exclusion,numerator,numerator_date (11 measures,\n"
    "                       years Y1..Y2; Y2 as observed on the as-of day, default 09-30:\n"
    "                       a compliance after it shows as an open gap; 12-31 = complete)\n"
    "  member_features.csv  member_id,year,pcp_visits,specialist_visits,ed_visits,\n"
    "                       inpatient_stays,chronic_conditions,risk_score\n"
    "  true_probabilities.csv  member_id,measure,year,p_compliance,p_open_at_year_end: the\n"
    "                       generator's true probability of compliance in Y2 and, for the\n"
    "                       gaps open on the as-of day, of staying open to the end of Y2\n"
    "The same seed gives byte-identical files. The model is described in docs/MODELS.md.\n"
    "--format fhir writes instead FHIR R4 Bulk NDJSON (Patient, Condition, Encounter,\n"
    "Observation, Procedure .ndjson) describing year Y2, so that `stargap measure eval\n"
    "--measure all` over Y2 on DIR gives back the generated BCS, COL, CBP, GSD and EED statuses.\n"
    "It needs the value-set directory (codes are taken from the expansions): --valuesets DIR,\n"
    "default the configuration entry valuesets_dir.\n";

/* synth_code_fn over the measure engine. */
_Static_assert(sizeof(struct synth_code) == sizeof(struct meas_code) &&
                   sizeof((struct synth_code){0}.system) == sizeof((struct meas_code){0}.system),
               "synth_code and meas_code hold the same strings");

static int engine_codes(void *ud, const char *url, struct synth_code *out, size_t max, size_t *n,
                        char *err, size_t errlen)
{
    struct meas_code mc[SYNTH_FHIR_MAX_CODES];
    if (max > SYNTH_FHIR_MAX_CODES) max = SYNTH_FHIR_MAX_CODES;
    int rc = meas_valueset_codes(ud, url, mc, max, n, err, errlen);
    if (rc) return rc;
    for (size_t i = 0; i < *n; i++) {
        memcpy(out[i].system, mc[i].system, sizeof out[i].system);
        memcpy(out[i].code, mc[i].code, sizeof out[i].code);
    }
    return SG_OK;
}

static int parse_years(const char *s, int *y1, int *y2)
{
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10);
    if (errno || end == s) return -1;
    long b = a;
    if (*end == '-') {
        const char *t = end + 1;
        errno = 0;
        b = strtol(t, &end, 10);
        if (errno || end == t) return -1;
    }
    if (*end || a < 1990 || b > 2100 || b < a) return -1;
    *y1 = (int)a;
    *y2 = (int)b;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = (uint64_t)v;
    return 0;
}

int cli_generate_run(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *cmd = argv[0];
    const char *vsdir = cli_valuesets_dir(ctx->cfg);
    struct synth_params prm = {0};
    const char *out = NULL, *format = "csv";
    int have_members = 0, have_contracts = 0, have_years = 0, have_seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) return cli_usage_error(cmd, "option %s needs a value", a);
        const char *v = argv[++i];
        long n;
        if (!strcmp(a, "--members")) {
            if (cli_parse_long(v, &n) || n < 1)
                return cli_usage_error(cmd, "--members: bad number '%s'", v);
            prm.members = (size_t)n;
            have_members = 1;
        } else if (!strcmp(a, "--contracts")) {
            if (cli_parse_long(v, &n) || n < 1)
                return cli_usage_error(cmd, "--contracts: bad number '%s'", v);
            prm.contracts = (size_t)n;
            have_contracts = 1;
        } else if (!strcmp(a, "--years")) {
            if (parse_years(v, &prm.year_first, &prm.year_last))
                return cli_usage_error(cmd, "--years: expected Y1-Y2 (e.g. 2023-2025), got '%s'",
                                       v);
            have_years = 1;
        } else if (!strcmp(a, "--seed")) {
            if (parse_u64(v, &prm.seed)) return cli_usage_error(cmd, "--seed: bad number '%s'", v);
            have_seed = 1;
        } else if (!strcmp(a, "--out")) {
            out = v;
        } else if (!strcmp(a, "--as-of")) {
            int mo = 0, d = 0;
            char tail;
            if (strlen(v) != 5 || sscanf(v, "%2d-%2d%c", &mo, &d, &tail) != 2 || mo < 1 || d < 1)
                return cli_usage_error(cmd, "--as-of: expected MM-DD (e.g. 09-30), got '%s'", v);
            prm.as_of_month = mo;
            prm.as_of_day = d;
        } else if (!strcmp(a, "--format")) {
            format = v;
        } else if (!strcmp(a, "--valuesets")) {
            vsdir = v;
        } else {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        }
    }
    if (!have_members || !have_contracts || !have_years || !have_seed || !out)
        return cli_usage_error(cmd,
                               "--members, --contracts, --years, --seed and --out are required");
    int fhir = !strcmp(format, "fhir");
    if (!fhir && strcmp(format, "csv"))
        return cli_usage_error(cmd, "--format: expected csv or fhir, got '%s'", format);
    if (fhir && (!vsdir || !*vsdir))
        return cli_usage_error(cmd, "--format fhir needs the value-set directory: --valuesets DIR "
                                    "or the valuesets_dir setting");
    char err[SG_ERRLEN];
    if (synth_params_check(&prm, err, sizeof err)) return cli_usage_error(cmd, "%s", err);
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "stargap generate: cannot create %s: %s\n", out, strerror(errno));
        return CLI_FAIL;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct synth_summary sum;
    int rc;
    if (fhir) {
        struct meas_engine *eng = NULL;
        rc = meas_engine_new(vsdir, &eng, err, sizeof err);
        if (rc == SG_OK) rc = synth_write_fhir(&prm, engine_codes, eng, out, &sum, err, sizeof err);
        meas_engine_free(eng);
    } else {
        rc = synth_write_csv(&prm, out, &sum, err, sizeof err);
    }
    if (rc != SG_OK) {
        fprintf(stderr, "stargap generate: %s\n", err);
        return CLI_FAIL;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    LOG_INFO("generate members=%zu contracts=%zu years=%d-%d seconds=%.2f", prm.members,
             prm.contracts, prm.year_first, prm.year_last, secs);
    if (fhir)
        printf("wrote %s: %zu patients, %zu FHIR resources (year %d) in %.2f s\n", out,
               sum.fhir_patients, sum.fhir_resources, prm.year_last, secs);
    else
        printf("wrote %s: %zu members, %zu measure results, %zu feature rows, %zu true "
               "probabilities in %.2f s\n",
               out, sum.members, sum.result_rows, sum.feature_rows, sum.truth_rows, secs);
    size_t nm;
    const struct synth_measure *ms = synth_measures(&nm);
    printf("year %d observed as of %02d-%02d (the year-end rate is the generator's truth)\n",
           prm.year_last, sum.as_of_month, sum.as_of_day);
    printf("          measure   denominator  as-of  year-end  target\n");
    for (size_t k = 0; k < nm; k++) {
        double d = sum.denominator[k] ? (double)sum.denominator[k] : 1.0;
        printf("          %-9s %11zu  %5.3f   %5.3f   %5.3f\n", ms[k].code, sum.denominator[k],
               (double)sum.numerator_as_of[k] / d, (double)sum.numerator[k] / d, ms[k].target);
    }
    return CLI_OK;
}
