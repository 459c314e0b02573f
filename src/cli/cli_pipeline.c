/* cli_pipeline.c: `stargap import`, `stargap train`, `stargap models` and `stargap predict`
 * (issue 6): member data in, gap-closure predictions out. The work is in src/pipeline; this file
 * parses flags, opens the store and prints summaries. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/log.h"
#include "core/memberid.h"
#include "db/migrate.h"
#include "db/store.h"
#include "pipeline/pipeline.h"

#ifndef STARGAP_SOURCE_DIR
#define STARGAP_SOURCE_DIR "."
#endif

static const struct store_actor cli_actor = {.user_id = "cli", .ip_address = ""};

const char cli_import_usage[] =
    "usage: stargap import [--db URL] [--rejects FILE] [--batch N] [--quiet] DIR\n"
    "       stargap import --fhir PATH --year Y [--valuesets DIR] [--contract ID] [--rejects "
    "FILE]\n"
    "Imports DIR/members.csv, DIR/measure_results.csv and (optional) DIR/member_features.csv\n"
    "(layouts in docs/MODELS.md). Member IDs are hashed on reading and never stored. Rows with\n"
    "errors are written to the rejects file (default DIR/rejects.csv) as file,line,reason and\n"
    "counted; the rest is merged in transactions of N rows (default 200000). Importing the same\n"
    "files again changes nothing. Applies pending migrations and seeds the measures catalog\n"
    "from data/stars when needed. Progress is shown when stderr is a terminal.\n"
    "With --fhir, PATH (Bundle/NDJSON files, a directory, or a Bulk FHIR export) is evaluated by "
    "the\n"
    "measure engine for BCS, COL, CBP, GSD and EED over calendar year Y and the populations are\n"
    "merged as measure results (GSD stored as controlled). Members not yet stored are created "
    "with\n"
    "--contract, or rejected without it. --valuesets defaults to the valuesets_dir setting.\n";

const char cli_train_usage[] =
    "usage: stargap train [--db URL] [--year Y] [--as-of MM-DD|start] [--measure CODE|all]\n"
    "                     [--seed S]\n"
    "Trains the gap model of each measure: labels from the outcomes of year Y (the gap stayed\n"
    "open to the end of Y), features from Y-1. The rows are the members whose gap was still\n"
    "open on the as-of day of Y (numerator 0 or numerator_date after it), so the model gives\n"
    "P(open at year end | open on that day) for scoring year Y+1 observed on the same day.\n"
    "The as-of day: --as-of, else the latest numerator_date of year Y+1 in the data, else\n"
    "'start' (before January 1: every denominator row). Logistic regression and gradient-boosted trees are compared by\n"
    "cross-validated AUC, the better one is kept and calibrated, and held-out AUC, Brier score,\n"
    "log loss and ECE are printed. Each model is stored as a new version. Default year: the\n"
    "newest measurement year before the current one.\n";

const char cli_models_usage[] = "usage: stargap models [--db URL] [--measure CODE]\n"
                                "Lists the stored models, newest version first per measure.\n";

const char cli_predict_usage[] =
    "usage: stargap predict [--db URL] --year Y [--as-of MM-DD|start] [--measure CODE|all]\n"
    "Scores every open gap of year Y (in the denominator, not excluded, numerator 0) with the\n"
    "measure's latest model. Year Y is taken as observed on its as-of day: --as-of (refused when\n"
    "the data holds a later numerator_date), else the latest numerator_date of Y; it is printed\n"
    "and should match the day the model was trained for (`stargap train --year Y-1`). Scoring\n"
    "uses the\n"
    "measure's latest model and features from Y-1, and batch-inserts the predictions (gap\n"
    "probability, risk tier, SHAP values, top features, recommendation, model version).\n";

static int open_store(struct cli_ctx *ctx, struct store **st, int migrate)
{
    char err[SG_ERRLEN];
    if (store_open(ctx->cfg->db, ctx->cfg, st, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap: %s\n", err);
        return CLI_FAIL;
    }
    if (migrate) {
        int applied = 0;
        if (migrate_up(*st, 0, &applied, err, sizeof err) != SG_OK) {
            fprintf(stderr, "stargap: migrate: %s\n", err);
            store_close(*st);
            *st = NULL;
            return CLI_FAIL;
        }
        if (applied) fprintf(stderr, "stargap: applied %d migration(s)\n", applied);
    }
    return CLI_OK;
}

static const char *data_dir(struct cli_ctx *ctx)
{
    return ctx->cfg->data_dir[0] ? ctx->cfg->data_dir : STARGAP_SOURCE_DIR "/data";
}

int cli_import_run(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *cmd = argv[0], *dir = NULL, *rejects = NULL, *fhir = NULL, *contract = NULL;
    const char *vsdir = cli_valuesets_dir(ctx->cfg);
    long batch = 0, fyear = 0;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rejects") && i + 1 < argc)
            rejects = argv[++i];
        else if (!strcmp(argv[i], "--fhir") && i + 1 < argc)
            fhir = argv[++i];
        else if (!strcmp(argv[i], "--valuesets") && i + 1 < argc)
            vsdir = argv[++i];
        else if (!strcmp(argv[i], "--contract") && i + 1 < argc)
            contract = argv[++i];
        else if (!strcmp(argv[i], "--year") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], &fyear) || fyear < 2000 || fyear > 2100)
                return cli_usage_error(cmd, "--year: 2000..2100");
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], &batch) || batch < 1 || batch > 1000000)
                return cli_usage_error(cmd, "--batch: 1..1000000");
        } else if (!strcmp(argv[i], "--quiet"))
            quiet = 1;
        else if (argv[i][0] == '-')
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (!dir)
            dir = argv[i];
        else
            return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    if (fhir && dir) return cli_usage_error(cmd, "give either DIR or --fhir PATH");
    if (!fhir && !dir) return cli_usage_error(cmd, "DIR is required");
    if (fhir && !fyear) return cli_usage_error(cmd, "--fhir needs --year");
    if (fhir && (!vsdir || !*vsdir))
        return cli_usage_error(cmd, "--fhir needs --valuesets (or the valuesets_dir setting)");
    char rpath[4200], err[SG_ERRLEN];
    struct stat sb;
    if (dir && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
        fprintf(stderr, "stargap import: %s: %s\n", dir,
                stat(dir, &sb) != 0 ? strerror(errno) : "not a directory");
        return CLI_FAIL;
    }
    if (!rejects) {
        snprintf(rpath, sizeof rpath, "%s/rejects.csv", fhir ? "." : dir);
        rejects = rpath;
    }
    struct sg_memberid mid;
    if (sg_memberid_init(&mid, ctx->cfg, NULL, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap import: %s\n", err);
        return CLI_FAIL;
    }
    struct store *st = NULL;
    if (open_store(ctx, &st, 1)) {
        sg_memberid_fini(&mid);
        return CLI_FAIL;
    }
    struct pl_import_opts o = {rejects, (size_t)batch, (!quiet && isatty(2)) ? stderr : NULL,
                               data_dir(ctx)};
    struct pl_import_summary s;
    int rc = fhir ? pl_import_fhir(st, &cli_actor, &mid, fhir, vsdir, (int)fyear, contract, &o, &s,
                                   err, sizeof err)
                  : pl_import(st, &cli_actor, &mid, dir, &o, &s, err, sizeof err);
    sg_memberid_fini(&mid);
    store_close(st);
    if (fhir) {
        printf("FHIR patients %lld, accepted %lld, rejected %lld; members created %lld, "
               "updated %lld; measure results inserted %lld, updated %lld, unchanged %lld; "
               "feature rows inserted %lld, updated %lld, unchanged %lld (rejects in %s)\n",
               s.results.rows, s.results.accepted, s.results.rejected, s.members.merged.inserted,
               s.members.merged.updated, s.results.merged.inserted, s.results.merged.updated,
               s.results.merged.unchanged, s.features.merged.inserted, s.features.merged.updated,
               s.features.merged.unchanged, rejects);
        if (rc) fprintf(stderr, "stargap import: %s\n", err);
        return rc ? CLI_FAIL : CLI_OK;
    }
    const struct pl_file_summary *fs[3] = {&s.members, &s.results, &s.features};
    static const char *const fn[3] = {"members.csv", "measure_results.csv", "member_features.csv"};
    printf("%-20s %10s %10s %10s %10s %10s %10s\n", "file", "rows", "accepted", "rejected",
           "inserted", "updated", "unchanged");
    for (int i = 0; i < 3; i++) {
        if (i == 2 && !s.features_present) {
            printf("%-20s (not present)\n", fn[i]);
            continue;
        }
        printf("%-20s %10lld %10lld %10lld %10lld %10lld %10lld\n", fn[i], fs[i]->rows,
               fs[i]->accepted, fs[i]->rejected, fs[i]->merged.inserted, fs[i]->merged.updated,
               fs[i]->merged.unchanged);
    }
    long long nrej = s.members.rejected + s.results.rejected + s.features.rejected;
    if (nrej) {
        printf("rejects by reason (details in %s):\n", rejects);
        for (int r = 0; r < PL_REJ_COUNT; r++)
            if (s.by_reason[r])
                printf("  %-52s %lld\n", pl_reject_name((enum pl_reject)r), s.by_reason[r]);
    }
    if (rc) {
        fprintf(stderr, "stargap import: %s\n", err);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int parse_measure(const char *cmd, const char *v, const char **code)
{
    if (!strcmp(v, "all"))
        *code = NULL;
    else
        *code = v;
    (void)cmd;
    return 0;
}

int cli_train_run(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *cmd = argv[0], *code = NULL;
    long year = 0, seed = -1;
    int as_of = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--year") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], &year) || year < 2001 || year > 2100)
                return cli_usage_error(cmd, "--year: 2001..2100");
        } else if (!strcmp(argv[i], "--as-of") && i + 1 < argc) {
            if (pl_as_of_parse(argv[++i], &as_of))
                return cli_usage_error(cmd, "--as-of: expected MM-DD or start, got '%s'", argv[i]);
        } else if (!strcmp(argv[i], "--measure") && i + 1 < argc)
            parse_measure(cmd, argv[++i], &code);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], &seed))
                return cli_usage_error(cmd, "--seed: a non-negative integer");
        } else
            return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    struct store *st = NULL;
    char err[SG_ERRLEN];
    if (open_store(ctx, &st, 0)) return CLI_FAIL;
    int y = (int)year;
    if (!y && pl_default_train_year(st, &y, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap train: %s\n", err);
        store_close(st);
        return CLI_FAIL;
    }
    const char *asof_src = "--as-of";
    if (as_of < 0) { /* the day the next year is observed on, from its data */
        long long met = 0;
        if (pl_data_as_of(st, y + 1, &as_of, NULL, &met, err, sizeof err) != SG_OK) {
            fprintf(stderr, "stargap train: %s\n", err);
            store_close(st);
            return CLI_FAIL;
        }
        asof_src = met ? "the latest numerator_date of the next year" : "no data for the next year";
    }
    struct model_train_params prm;
    model_train_params_default(&prm);
    if (seed >= 0) prm.seed = (uint64_t)seed;
    struct pl_train_result res[FEATURES_N_MEASURES];
    size_t n = 0;
    int rc = pl_train_as_of(st, &cli_actor, y, as_of, code, &prm, res, &n, err, sizeof err);
    store_close(st);
    char asof_txt[16];
    pl_as_of_text(as_of, asof_txt, sizeof asof_txt);
    printf("outcome year %d, features from %d, rows open on the as-of day %s (%s)\n", y, y - 1,
           asof_txt, asof_src);
    printf("%-9s %8s %6s %-7s %8s %8s %7s %7s %8s %7s %4s %8s\n", "measure", "rows", "open",
           "learner", "cvAUC-lr", "cvAUC-gb", "AUC", "Brier", "logloss", "ECE", "ver", "seconds");
    for (size_t i = 0; i < n; i++) {
        const struct pl_train_result *r = &res[i];
        if (r->skipped) {
            printf("%-9s skipped: %s\n", r->measure, r->note);
            continue;
        }
        printf("%-9s %8zu %6.3f %-7s %8.4f %8.4f %7.4f %7.4f %8.4f %7.4f %4d %8.2f%s\n", r->measure,
               r->rows, r->base_rate, r->learner, r->cv_auc_logreg, r->cv_auc_gbdt, r->test.auc,
               r->test.brier, r->test.logloss, r->test.ece, r->version, r->seconds,
               r->calibrated ? " (calibrated)" : "");
    }
    if (rc) {
        fprintf(stderr, "stargap train: %s\n", err);
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_models_run(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *cmd = argv[0], *code = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--measure") && i + 1 < argc)
            code = argv[++i];
        else
            return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    struct store *st = NULL;
    char err[SG_ERRLEN];
    if (open_store(ctx, &st, 0)) return CLI_FAIL;
    struct store_model_list l;
    int rc = store_model_list(st, code, &l, err, sizeof err);
    store_close(st);
    if (rc) {
        fprintf(stderr, "stargap models: %s\n", err);
        return CLI_FAIL;
    }
    printf("%-14s %-9s %4s %5s %-7s %-27s %-16s %s\n", "version", "measure", "ver", "year",
           "learner", "created", "fingerprint", "metrics");
    for (size_t i = 0; i < l.n; i++) {
        const struct store_model *m = &l.items[i];
        char v[STORE_NAME_LEN];
        pl_model_version(m->measure_code, m->version, v, sizeof v);
        printf("%-14s %-9s %4d %5d %-7s %-27s %.16s %s\n", v, m->measure_code, m->version,
               m->trained_year, m->learner, m->created_at, m->fingerprint, m->metrics);
    }
    if (l.n == 0) printf("(no models; run stargap train)\n");
    store_model_list_free(&l);
    return CLI_OK;
}

/* Warns on stderr for each measure (code, or all when NULL) whose latest model was trained for
 * another as-of day than the one of the year being scored (hyperparams "as_of"; models trained
 * before issue 7 have none: "start"). */
static void warn_as_of_mismatch(struct store *st, const char *code, const char *as_of)
{
    for (int k = 0; k < FEATURES_N_MEASURES; k++) {
        if (code && strcmp(code, features_measures[k])) continue;
        struct store_model sm;
        char e[SG_ERRLEN];
        if (store_model_get_latest(st, features_measures[k], &sm, e, sizeof e) != SG_OK) continue;
        char want[32], *p = sm.hyperparams ? strstr(sm.hyperparams, "\"as_of\":\"") : NULL;
        snprintf(want, sizeof want, "%.5s", p ? p + 9 : "start");
        if (strcmp(want, as_of))
            fprintf(stderr,
                    "stargap predict: warning: the %s model was trained for gaps open on %s, the "
                    "data is observed as of %s (train again with --as-of %s)\n",
                    features_measures[k], want, as_of, as_of);
        store_model_fini(&sm);
    }
}

int cli_predict_run(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *cmd = argv[0], *code = NULL;
    long year = 0;
    int req_as_of = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--year") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], &year) || year < 2001 || year > 2100)
                return cli_usage_error(cmd, "--year: 2001..2100");
        } else if (!strcmp(argv[i], "--as-of") && i + 1 < argc) {
            if (pl_as_of_parse(argv[++i], &req_as_of))
                return cli_usage_error(cmd, "--as-of: expected MM-DD or start, got '%s'", argv[i]);
        } else if (!strcmp(argv[i], "--measure") && i + 1 < argc)
            parse_measure(cmd, argv[++i], &code);
        else
            return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    if (!year) return cli_usage_error(cmd, "--year is required");
    struct store *st = NULL;
    char err[SG_ERRLEN];
    if (open_store(ctx, &st, 0)) return CLI_FAIL;
    struct pl_tiers t = {(double)ctx->cfg->risk_high_pct / 100.0,
                         (double)ctx->cfg->risk_medium_pct / 100.0};
    if (t.medium > t.high) {
        fprintf(stderr, "stargap predict: risk_medium_pct is above risk_high_pct\n");
        store_close(st);
        return CLI_FAIL;
    }
    int as_of = 0, from_data = 0;
    if (pl_scoring_as_of(st, (int)year, req_as_of, &as_of, &from_data, err, sizeof err)) {
        fprintf(stderr, "stargap predict: %s\n", err);
        store_close(st);
        return CLI_FAIL;
    }
    char asof_txt[16];
    pl_as_of_text(as_of, asof_txt, sizeof asof_txt);
    warn_as_of_mismatch(st, code, asof_txt);
    struct pl_score_result res[FEATURES_N_MEASURES];
    size_t n = 0;
    int rc = pl_predict(st, &cli_actor, (int)year, code, &t, res, &n, err, sizeof err);
    store_close(st);
    printf("measurement year %ld observed as of %s (%s), features from %ld\n", year, asof_txt,
           from_data ? "its latest numerator_date" : "--as-of", year - 1);
    printf("%-9s %-14s %9s %8s %8s %8s %9s %8s\n", "measure", "model", "open_gaps", "high",
           "medium", "low", "mean_p", "seconds");
    for (size_t i = 0; i < n; i++) {
        const struct pl_score_result *r = &res[i];
        if (r->skipped) {
            printf("%-9s (no trained model)\n", r->measure);
            continue;
        }
        printf("%-9s %-14s %9zu %8zu %8zu %8zu %9.4f %8.2f\n", r->measure, r->model_version,
               r->open_gaps, r->by_tier[0], r->by_tier[1], r->by_tier[2], r->mean_probability,
               r->seconds);
    }
    if (rc) {
        fprintf(stderr, "stargap predict: %s\n", err);
        return CLI_FAIL;
    }
    return CLI_OK;
}
