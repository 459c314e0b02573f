/* cli_run.c: `stargap run` (the whole pipeline over one input directory) and `stargap demo`
 * (generate a synthetic portfolio, run the pipeline on an embedded SQLite database, serve it).
 *
 * run: migrate -> import (CSV, pipeline/) -> train on the outcomes of Y-1 -> predict Y -> gaps and
 * bundles -> star ratings -> snapshot, each stage timed, with a line per stage (and the importer's
 * progress) on a terminal and a summary table at the end. Every stage is idempotent or versioned
 * (imports merge, training stores a new model version, predictions are per model version, the gap
 * refresh updates in place, ratings and snapshots are dated rows), so re-running is safe. */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/hash.h"
#include "core/memberid.h"
#include "db/migrate.h"
#include "db/store.h"
#include "decide/decide.h"
#include "model/features.h"
#include "pipeline/pipeline.h"

static const struct store_actor run_actor = {.user_id = "cli", .ip_address = ""};

const char cli_run_usage[] =
    "usage: stargap run [--db URL] --input DIR --year Y [--as-of MM-DD|start] [--star-year S]\n"
    "                   [--valuesets DIR] [--quiet]\n"
    "Runs the pipeline: import DIR (members.csv, measure_results.csv, member_features.csv)\n"
    "-> evaluate the eCQMs over FHIR data in DIR/fhir/CONTRACT/ (one directory of patient\n"
    "Bundles or NDJSON per contract, measurement period Y; results override the CSV's) -> train\n"
    "the gap models on the outcomes of Y-1 -> predict the open gaps of Y -> value and refresh\n"
    "the gaps and bundles -> star ratings per contract -> portfolio snapshot. Prints a line per\n"
    "stage and a summary table. Safe to re-run.\n"
    "Year Y is in progress, observed on its as-of day: --as-of, else the latest numerator_date\n"
    "of Y in the data (printed). The models learn, on Y-1, which gaps still open on that day of\n"
    "Y-1 stayed open to its end, and the projection adds to the rates as of the day the\n"
    "expected closures of the gaps open on it.\n";

const char cli_demo_usage[] =
    "usage: stargap demo [--members N] [--dir DIR] [--listen HOST:PORT]\n"
    "Generates a synthetic portfolio of N members (default 20000) in 3 contracts (measurement\n"
    "years 2021-2024), runs the pipeline for 2024 (star year 2026) on the SQLite database\n"
    "DIR/stargap.db (default DIR ./stargap-demo), creates an admin API key and serves the API on\n"
    "127.0.0.1:8080, printing the URL, the key and example requests. Ctrl-C stops the server.\n";

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU time of the whole process (every thread): on a shared machine the wall time of a stage
 * includes waiting for a core, its CPU time does not. */
static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

#define N_STAGES 8
static const char *const stage_name[N_STAGES] = {"import", "fhir",  "train",    "predict",
                                                 "gaps",   "stars", "snapshot", "total"};

struct run_report {
    double secs[N_STAGES];
    double cpu[N_STAGES]; /* process CPU seconds (all threads) */
    char what[N_STAGES][160];
};

static void stage_start(int tty, int i)
{
    if (tty) fprintf(stderr, "[%d/%d] %-9s ...\n", i + 1, N_STAGES - 1, stage_name[i]);
}

static void stage_line(int tty, int i, const struct run_report *r)
{
    if (tty)
        fprintf(stderr, "[%d/%d] %-9s %8.2f s  %s\n", i + 1, N_STAGES - 1, stage_name[i],
                r->secs[i], r->what[i]);
}

/* Evaluates the eCQMs over input/fhir/CONTRACT/ for each contract directory through `stargap
 * measure eval --db ... --contract CONTRACT` (src/cli/cli_measure.c), which writes
 * measure_results (source fhir) and creates missing members in that contract. Rejected patients
 * are reported by the evaluator on stderr and do not stop the run; *n gets the directories done. */
static int run_fhir(struct cli_ctx *ctx, const char *input, int year, const char *valuesets, int *n)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/fhir", input);
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return CLI_OK;
    struct dirent *e;
    char names[64][STORE_CONTRACT_LEN];
    int k = 0;
    while ((e = readdir(d)) && k < 64) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len >= STORE_CONTRACT_LEN) continue;
        memcpy(names[k++], e->d_name, len + 1);
    }
    closedir(d);
    char ps[16], pe[16];
    snprintf(ps, sizeof ps, "%04d-01-01", year);
    snprintf(pe, sizeof pe, "%04d-12-31", year);
    const char *saved = ctx->db_flag;
    ctx->db_flag = ctx->cfg->db; /* ask the evaluator to write measure_results */
    int rc = CLI_OK;
    for (int i = 0; i < k && rc == CLI_OK; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        char *argv[16];
        int argc = 0;
        argv[argc++] = "measure";
        argv[argc++] = "eval";
        argv[argc++] = "--measure";
        argv[argc++] = "all";
        argv[argc++] = "--period-start";
        argv[argc++] = ps;
        argv[argc++] = "--period-end";
        argv[argc++] = pe;
        argv[argc++] = "--format";
        argv[argc++] = "summary";
        argv[argc++] = "--contract";
        argv[argc++] = names[i];
        if (valuesets) {
            argv[argc++] = "--valuesets";
            argv[argc++] = (char *)valuesets;
        }
        argv[argc++] = path;
        argv[argc] = NULL;
        /* the evaluator's report goes to stdout; the run prints its own summary */
        fflush(stdout);
        int saved_out = dup(1), devnull = open("/dev/null", O_WRONLY);
        if (saved_out >= 0 && devnull >= 0) dup2(devnull, 1);
        int erc = cli_measure_run(ctx, argc, argv);
        fflush(stdout);
        if (saved_out >= 0) {
            dup2(saved_out, 1);
            close(saved_out);
        }
        if (devnull >= 0) close(devnull);
        if (erc == CLI_FAIL)
            fprintf(stderr, "stargap run: fhir %s: some patients were rejected (listed above)\n",
                    names[i]);
        else if (erc != CLI_OK) {
            fprintf(stderr, "stargap run: fhir %s: evaluation failed\n", names[i]);
            rc = CLI_FAIL;
        }
        (*n)++;
    }
    ctx->db_flag = saved;
    return rc;
}

/* The pipeline on an open store; prints the summary. Returns CLI_OK or CLI_FAIL. */
static int run_pipeline(struct cli_ctx *ctx, struct store *st, const char *input, int year,
                        int req_as_of, int star_year, const char *valuesets, int quiet)
{
    char err[SG_ERRLEN];
    struct run_report rep;
    memset(&rep, 0, sizeof rep);
    int tty = !quiet && isatty(2);
    double t_all = now_s(), t, c_all = cpu_s(), c;
    /* import */
    struct sg_memberid mid;
    if (sg_memberid_init(&mid, ctx->cfg, NULL, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap run: %s\n", err);
        return CLI_FAIL;
    }
    char rejects[4200];
    snprintf(rejects, sizeof rejects, "%s/rejects.csv", input);
    struct pl_import_opts io = {rejects, 0, tty ? stderr : NULL, cli_data_dir(ctx->cfg)};
    struct pl_import_summary is;
    stage_start(tty, 0);
    t = now_s();
    c = cpu_s();
    int rc = pl_import(st, &run_actor, &mid, input, &io, &is, err, sizeof err);
    sg_memberid_fini(&mid);
    rep.secs[0] = now_s() - t;
    rep.cpu[0] = cpu_s() - c;
    if (rc) {
        fprintf(stderr, "stargap run: import: %s\n", err);
        return CLI_FAIL;
    }
    snprintf(rep.what[0], sizeof rep.what[0],
             "%lld members, %lld results, %lld feature rows, %lld rejected", is.members.accepted,
             is.results.accepted, is.features.accepted,
             is.members.rejected + is.results.rejected + is.features.rejected);
    stage_line(tty, 0, &rep);
    /* FHIR: one directory per contract under input/fhir */
    stage_start(tty, 1);
    t = now_s();
    c = cpu_s();
    int nf = 0;
    if (run_fhir(ctx, input, year, valuesets, &nf) != CLI_OK) return CLI_FAIL;
    rep.secs[1] = now_s() - t;
    rep.cpu[1] = cpu_s() - c;
    if (nf)
        snprintf(rep.what[1], sizeof rep.what[1], "%d contract director%s of FHIR data evaluated",
                 nf, nf == 1 ? "y" : "ies");
    else
        snprintf(rep.what[1], sizeof rep.what[1], "no %s/fhir directory", input);
    stage_line(tty, 1, &rep);
    /* the as-of day of Y (timed with training), then train on Y-1: gaps open on that day */
    stage_start(tty, 2);
    t = now_s();
    c = cpu_s();
    int as_of = 0, from_data = 0;
    if (pl_scoring_as_of(st, year, req_as_of, &as_of, &from_data, err, sizeof err)) {
        fprintf(stderr, "stargap run: %s\n", err);
        return CLI_FAIL;
    }
    char asof_txt[16];
    pl_as_of_text(as_of, asof_txt, sizeof asof_txt);
    printf("year %d observed as of %s (%s)\n", year, asof_txt,
           from_data ? (as_of ? "the latest numerator_date of the year"
                              : "no numerator_date in the data: the unconditional model")
                     : "--as-of");
    if (as_of == 1231) printf("note: %d is complete (as of 12-31): its gaps are final\n", year);
    if (as_of == PL_AS_OF_START)
        printf("note: without numerator dates the open gaps of %d are projected as if observed on "
               "January 1; mid-year data needs numerator_date (docs/MODELS.md)\n",
               year);
    struct pl_train_result tr[FEATURES_N_MEASURES];
    size_t ntr = 0;
    rc = pl_train_as_of(st, &run_actor, year - 1, as_of, NULL, NULL, tr, &ntr, err, sizeof err);
    rep.secs[2] = now_s() - t;
    rep.cpu[2] = cpu_s() - c;
    if (rc) {
        fprintf(stderr, "stargap run: train %d: %s\n", year - 1, err);
        return CLI_FAIL;
    }
    int trained = 0;
    double auc = 0;
    for (size_t i = 0; i < ntr; i++)
        if (!tr[i].skipped) {
            trained++;
            auc += tr[i].test.auc;
        }
    snprintf(rep.what[2], sizeof rep.what[2],
             "%d of %zu measures trained on %d outcomes of gaps open on %s, mean held-out AUC "
             "%.3f",
             trained, ntr, year - 1, asof_txt, trained ? auc / trained : 0.0);
    stage_line(tty, 2, &rep);
    /* predict Y */
    struct pl_tiers tiers = {0.7, 0.4};
    struct pl_score_result sr[FEATURES_N_MEASURES];
    size_t nsr = 0;
    stage_start(tty, 3);
    t = now_s();
    c = cpu_s();
    rc = pl_predict(st, &run_actor, year, NULL, &tiers, sr, &nsr, err, sizeof err);
    rep.secs[3] = now_s() - t;
    rep.cpu[3] = cpu_s() - c;
    if (rc) {
        fprintf(stderr, "stargap run: predict %d: %s\n", year, err);
        return CLI_FAIL;
    }
    size_t scored = 0;
    for (size_t i = 0; i < nsr; i++)
        scored += sr[i].skipped ? 0 : sr[i].open_gaps;
    snprintf(rep.what[3], sizeof rep.what[3], "%zu open gaps of %d scored", scored, year);
    stage_line(tty, 3, &rep);
    /* gaps and bundles */
    struct dc_portfolio *p = NULL;
    struct dc_gaps_summary gs;
    stage_start(tty, 4);
    t = now_s();
    c = cpu_s();
    rc = dc_load(st, cli_data_dir(ctx->cfg), year, star_year, NULL, &p, err, sizeof err);
    if (!rc) rc = dc_gaps_refresh(p, st, &run_actor, 0, &gs, err, sizeof err);
    rep.secs[4] = now_s() - t;
    rep.cpu[4] = cpu_s() - c;
    if (rc) {
        fprintf(stderr, "stargap run: gaps: %s\n", err);
        dc_free(p);
        return CLI_FAIL;
    }
    snprintf(rep.what[4], sizeof rep.what[4],
             "%lld open gaps (%lld new, %lld refreshed, %lld closed), %lld bundles", gs.open_gaps,
             gs.counts.inserted, gs.counts.updated, gs.counts.closed, gs.bundles);
    stage_line(tty, 4, &rep);
    /* star ratings */
    struct store_star_rating *sr_rows = calloc(p->n, sizeof *sr_rows);
    stage_start(tty, 5);
    t = now_s();
    c = cpu_s();
    rc = sr_rows ? SG_OK : sg_errf(err, sizeof err, SG_ENOMEM, "out of memory");
    for (size_t k = 0; k < p->n && !rc; k++)
        rc = dc_star_rating(p, k, st, &run_actor, &sr_rows[k], err, sizeof err);
    rep.secs[5] = now_s() - t;
    rep.cpu[5] = cpu_s() - c;
    if (rc) {
        fprintf(stderr, "stargap run: stars: %s\n", err);
        goto out;
    }
    snprintf(rep.what[5], sizeof rep.what[5], "%zu contracts rated (star year %d)", p->n,
             p->star_year);
    stage_line(tty, 5, &rep);
    /* snapshot */
    struct store_snapshot *snap = NULL;
    size_t nsnap = 0;
    stage_start(tty, 6);
    t = now_s();
    c = cpu_s();
    rc = dc_snapshot(p, st, &run_actor, &snap, &nsnap, err, sizeof err);
    rep.secs[6] = now_s() - t;
    rep.cpu[6] = cpu_s() - c;
    if (rc) {
        fprintf(stderr, "stargap run: snapshot: %s\n", err);
        goto out;
    }
    snprintf(rep.what[6], sizeof rep.what[6], "%zu snapshot rows", nsnap);
    stage_line(tty, 6, &rep);
    rep.secs[7] = now_s() - t_all;
    rep.cpu[7] = cpu_s() - c_all;
    printf("\n%-9s %9s %9s  %s\n", "stage", "seconds", "cpu_s", "result");
    for (int i = 0; i < N_STAGES; i++)
        printf("%-9s %9.2f %9.2f  %s\n", stage_name[i], rep.secs[i], rep.cpu[i], rep.what[i]);
    printf("\n%-10s %9s %9s %7s %7s %7s %10s %16s\n", "contract", "members", "open_gaps", "part_c",
           "part_d", "overall", "projected", "estimated_value");
    for (size_t i = 0; i < nsnap; i++) {
        const struct store_star_rating *r = NULL;
        for (size_t k = 0; k < p->n; k++)
            if (!strcmp(sr_rows[k].contract_id, snap[i].contract_id)) r = &sr_rows[k];
        char pc[16] = "-", pd[16] = "-";
        if (r && !isnan(r->part_c)) snprintf(pc, sizeof pc, "%.1f", r->part_c);
        if (r && !isnan(r->part_d)) snprintf(pd, sizeof pd, "%.1f", r->part_d);
        printf("%-10s %9ld %9ld %7s %7s %7.1f %10.1f %16.2f\n",
               snap[i].contract_id[0] ? snap[i].contract_id : "(all)", snap[i].total_members,
               snap[i].total_gaps, pc, pd, r ? r->overall : snap[i].star_rating_current,
               snap[i].star_rating_projected, snap[i].estimated_value);
    }
    if (gs.unscored)
        printf("note: %lld open gaps had no prediction (no model for their measure) and were "
               "valued as certain to stay open\n",
               gs.unscored);
    for (size_t i = 0; i < nsnap; i++)
        store_snapshot_fini(&snap[i]);
    free(snap);
out:
    for (size_t k = 0; sr_rows && k < p->n; k++)
        store_star_rating_fini(&sr_rows[k]);
    free(sr_rows);
    dc_free(p);
    return rc ? CLI_FAIL : CLI_OK;
}

static int open_migrated(struct cli_ctx *ctx, const char *cmd, struct store **st)
{
    char err[SG_ERRLEN];
    int applied = 0;
    if (store_open(ctx->cfg->db, ctx->cfg, st, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap %s: %s\n", cmd, err);
        return CLI_FAIL;
    }
    if (migrate_up(*st, 0, &applied, err, sizeof err) != SG_OK ||
        pl_catalog_seed(*st, &run_actor, cli_data_dir(ctx->cfg), &applied, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap %s: migrate: %s\n", cmd, err);
        store_close(*st);
        *st = NULL;
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_run_run(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *cmd = argv[0], *input = NULL, *valuesets = NULL;
    long year = 0, star_year = 0;
    int quiet = 0, as_of = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--input") && i + 1 < argc)
            input = argv[++i];
        else if (!strcmp(argv[i], "--year") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], &year) || year < 2001 || year > 2100)
                return cli_usage_error(cmd, "--year: '%s' is not a year 2001..2100", argv[i]);
        } else if (!strcmp(argv[i], "--star-year") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], &star_year) || star_year < 2001 || star_year > 2103)
                return cli_usage_error(cmd, "--star-year: '%s' is not a year", argv[i]);
        } else if (!strcmp(argv[i], "--valuesets") && i + 1 < argc)
            valuesets = argv[++i];
        else if (!strcmp(argv[i], "--quiet"))
            quiet = 1;
        else if (!strcmp(argv[i], "--as-of") && i + 1 < argc) {
            if (pl_as_of_parse(argv[++i], &as_of))
                return cli_usage_error(cmd, "--as-of: expected MM-DD or start, got '%s'", argv[i]);
        } else
            return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    if (!input) return cli_usage_error(cmd, "--input DIR is required");
    if (!year) return cli_usage_error(cmd, "--year is required");
    struct stat sb;
    if (stat(input, &sb) || !S_ISDIR(sb.st_mode))
        return cli_usage_error(cmd, "--input: '%s' is not a directory", input);
    struct store *st;
    if (open_migrated(ctx, cmd, &st)) return CLI_FAIL;
    int rc = run_pipeline(ctx, st, input, (int)year, as_of, (int)star_year, valuesets, quiet);
    store_close(st);
    return rc;
}

int cli_demo_run(struct cli_ctx *ctx, int argc, char **argv)
{
    const char *cmd = argv[0], *dir = "stargap-demo", *listen = "127.0.0.1:8080";
    long members = 20000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--members") && i + 1 < argc) {
            if (cli_parse_long(argv[++i], &members) || members < 100 || members > 10000000)
                return cli_usage_error(cmd, "--members: '%s' must be 100..10000000", argv[i]);
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--listen") && i + 1 < argc)
            listen = argv[++i];
        else
            return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    char input[4200], db[4300], nbuf[32], err[SG_ERRLEN];
    if (mkdir(dir, 0700) && access(dir, W_OK)) {
        fprintf(stderr, "stargap demo: cannot create %s\n", dir);
        return CLI_FAIL;
    }
    snprintf(input, sizeof input, "%s/input", dir);
    snprintf(db, sizeof db, "sqlite:%s/stargap.db", dir);
    snprintf(nbuf, sizeof nbuf, "%ld", members);
    fprintf(stderr, "stargap demo: generating %ld members in 3 contracts into %s\n", members,
            input);
    char *gargv[] = {"generate",  "--members", nbuf,       "--contracts", "3",   "--years",
                     "2021-2024", "--seed",    "20260101", "--out",       input, NULL};
    double t0 = now_s();
    int rc = cli_generate_run(ctx, 11, gargv);
    if (rc) return rc;
    fprintf(stderr, "stargap demo: generated in %.1f s\n", now_s() - t0);
    if (sg_config_set(ctx->cfg, "db", db, "demo", err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap demo: %s\n", err);
        return CLI_FAIL;
    }
    struct store *st;
    if (open_migrated(ctx, cmd, &st)) return CLI_FAIL;
    rc = run_pipeline(ctx, st, input, 2024, -1, 2026, NULL, 0);
    if (rc) {
        store_close(st);
        return rc;
    }
    /* an admin key for this demo (only its hash is stored) */
    struct store_api_key k;
    memset(&k, 0, sizeof k);
    k.role = STORE_ROLE_ADMIN;
    snprintf(k.name, sizeof k.name, "demo-admin-%ld", (long)time(NULL));
    uint8_t raw[32];
    char key[4 + 64 + 1] = "sgk_";
    if (sg_random_bytes(raw, sizeof raw) != SG_OK) {
        store_close(st);
        fprintf(stderr, "stargap demo: no random bytes available\n");
        return CLI_FAIL;
    }
    sg_hex_encode(raw, sizeof raw, key + 4);
    if (sg_sha256_hex(key, strlen(key), k.key_hash) != SG_OK ||
        store_api_key_create(st, &run_actor, &k, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap demo: key: %s\n", err);
        store_close(st);
        return CLI_FAIL;
    }
    store_close(st);
    printf("\nThe demo API is starting on http://%s (database %s)\n", listen, db + 7);
    printf("Admin API key (shown once): %s\n\n", key);
    printf("Try:\n");
    printf(
        "  curl -s -H 'Authorization: Bearer %s' 'http://%s/api/v1/portfolio/summary?year=2024'\n",
        key, listen);
    printf("  curl -s -H 'Authorization: Bearer %s' "
           "'http://%s/api/v1/portfolio/priority-list?year=2024&limit=10&min_gaps=2'\n",
           key, listen);
    printf("  curl -s -H 'Authorization: Bearer %s' "
           "'http://%s/api/v1/measures/GSD/performance?year=2024&contract=H1000'\n",
           key, listen);
    printf("  curl -s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n"
           "       -d "
           "'{\"year\":2024,\"contract\":\"H1000\",\"budget\":50000,\"objective\":\"revenue\"}' "
           "http://%s/api/v1/portfolio/optimize\n",
           key, listen);
    printf(
        "  curl -s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n"
        "       -d "
        "'{\"year\":2024,\"contract\":\"H1000\",\"strategy\":\"triple_weighted\",\"runs\":5000}' "
        "http://%s/api/v1/analytics/simulate\n\n",
        key, listen);
    fflush(stdout);
    char lbuf[256];
    snprintf(lbuf, sizeof lbuf, "%s", listen);
    char *sargv[] = {"serve", "--listen", lbuf, NULL};
    return cli_serve_run(ctx, 3, sargv);
}
