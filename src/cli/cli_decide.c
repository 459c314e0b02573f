/* cli_decide.c: `stargap gaps`, `optimize`, `simulate` and `snapshot` (issue 7). Each parses its
 * flags, loads the measurement year through decide/ (store + Star Ratings engine + portfolio
 * configuration), calls the portfolio module and persists through decide/ as well, so the API
 * endpoints and these commands write the same rows. Bad input exits 2 (usage) or 1 with a message
 * naming the field; nothing is persisted then. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "db/migrate.h"
#include "db/store.h"
#include "decide/decide.h"
#include "portfolio/plan.h"

static const struct store_actor dc_cli_actor = {.user_id = "cli", .ip_address = ""};

const char cli_gaps_usage[] =
    "usage: stargap gaps [--db URL] --year Y [--contract C] [--star-year S] [--create-bundles]\n"
    "Creates or refreshes a gap_analysis row for every open gap of measurement year Y (in the\n"
    "denominator, not excluded, numerator not met): gap probability from the latest prediction,\n"
    "intervention type, cost, estimated value and priority from the portfolio module with the\n"
    "Star Ratings engine of star year S (default Y+2) and its published cut points\n"
    "(data/stars/cuts/S.csv). Re-running updates open gaps, closes gaps that are no longer open\n"
    "and leaves assigned/completed history alone. --create-bundles records each bundle (one\n"
    "encounter closing several gaps of a member) as a planned intervention, once.\n";

const char cli_optimize_usage[] =
    "usage: stargap optimize [--db URL] --year Y --budget AMOUNT [--contract C]\n"
    "                        [--objective stars|revenue] [--max N] [--no-bundles] [--create]\n"
    "                        [--star-year S] [--json]\n"
    "Chooses interventions under the budget to maximize E[overall rating] (stars) or E[revenue]\n"
    "per contract, and compares with the naive orders (highest probability, highest weight).\n"
    "--create records the chosen interventions as planned (run `stargap gaps` first).\n";

const char cli_simulate_usage[] =
    "usage: stargap simulate [--db URL] --year Y (--strategy NAME | --closure CODE=RATE,...)\n"
    "                        [--budget AMOUNT] [--runs N] [--seed S] [--contract C]\n"
    "                        [--star-year S] [--objective stars|revenue] [--json]\n"
    "Strategies: triple_weighted, balanced, optimizer. Projects rates, stars, Part C/D and\n"
    "overall ratings, the exact and Monte Carlo distributions of the overall, the cut-point\n"
    "range, revenue impact, investment and ROI; one simulations row per contract.\n";

const char cli_snapshot_usage[] =
    "usage: stargap snapshot [--db URL] --year Y [--contract C] [--star-year S]\n"
    "Writes a portfolio snapshot per contract and one for the whole portfolio: members, open\n"
    "gaps by measure and tier, current and projected stars, estimated value.\n";

struct dopts {
    long year, star_year, max, runs, seed;
    const char *contract, *objective, *strategy, *closure;
    double budget;
    int has_budget, no_bundles, create, json, create_bundles;
};

static int parse(const char *cmd, int argc, char **argv, struct dopts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--year") && v) {
            if (cli_parse_long(v, &o->year) || o->year < 2000 || o->year > 2100)
                return cli_usage_error(cmd, "--year: '%s' is not a year 2000..2100", v);
        } else if (!strcmp(a, "--star-year") && v) {
            if (cli_parse_long(v, &o->star_year) || o->star_year < 2000 || o->star_year > 2103)
                return cli_usage_error(cmd, "--star-year: '%s' is not a year", v);
        } else if (!strcmp(a, "--contract") && v) {
            o->contract = v;
        } else if (!strcmp(a, "--budget") && v) {
            char *end;
            o->budget = strtod(v, &end);
            if (end == v || *end || !isfinite(o->budget) || o->budget <= 0)
                return cli_usage_error(cmd, "--budget: '%s' must be a positive amount", v);
            o->has_budget = 1;
        } else if (!strcmp(a, "--max") && v) {
            if (cli_parse_long(v, &o->max) || o->max < 1)
                return cli_usage_error(cmd, "--max: '%s' must be a positive integer", v);
        } else if (!strcmp(a, "--runs") && v) {
            if (cli_parse_long(v, &o->runs) || o->runs > 1000000)
                return cli_usage_error(cmd, "--runs: '%s' must be 0..1000000", v);
        } else if (!strcmp(a, "--seed") && v) {
            if (cli_parse_long(v, &o->seed))
                return cli_usage_error(cmd, "--seed: '%s' is not a number", v);
        } else if (!strcmp(a, "--objective") && v) {
            o->objective = v;
        } else if (!strcmp(a, "--strategy") && v) {
            o->strategy = v;
        } else if (!strcmp(a, "--closure") && v) {
            o->closure = v;
        } else if (!strcmp(a, "--no-bundles")) {
            o->no_bundles = 1;
            continue;
        } else if (!strcmp(a, "--create")) {
            o->create = 1;
            continue;
        } else if (!strcmp(a, "--create-bundles")) {
            o->create_bundles = 1;
            continue;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        } else {
            return cli_usage_error(cmd, "unexpected argument '%s'", a);
        }
        i++;
    }
    if (!o->year) return cli_usage_error(cmd, "--year is required");
    return CLI_OK;
}

static int open_and_load(struct cli_ctx *ctx, const char *cmd, const struct dopts *o,
                         struct store **st, struct dc_portfolio **p)
{
    char err[SG_ERRLEN];
    *st = NULL;
    *p = NULL;
    if (store_open(ctx->cfg->db, ctx->cfg, st, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap %s: %s\n", cmd, err);
        return CLI_FAIL;
    }
    if (dc_load(*st, cli_data_dir(ctx->cfg), (int)o->year, (int)o->star_year, o->contract, p, err,
                sizeof err) != SG_OK) {
        fprintf(stderr, "stargap %s: %s\n", cmd, err);
        store_close(*st);
        *st = NULL;
        return CLI_FAIL;
    }
    return CLI_OK;
}

static void print_unscored(const struct dc_portfolio *p)
{
    long n = 0;
    for (size_t k = 0; k < p->n; k++)
        n += p->c[k].unscored;
    if (n)
        fprintf(stderr,
                "stargap: note: %ld open gaps have no prediction for %d (run `stargap predict`); "
                "they are valued as certain to stay open\n",
                n, p->year);
}

int cli_gaps_run(struct cli_ctx *ctx, int argc, char **argv)
{
    struct dopts o;
    int rc = parse(argv[0], argc, argv, &o);
    if (rc) return rc;
    struct store *st;
    struct dc_portfolio *p;
    if ((rc = open_and_load(ctx, argv[0], &o, &st, &p))) return rc;
    print_unscored(p);
    char err[SG_ERRLEN];
    struct dc_gaps_summary s;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int e = dc_gaps_refresh(p, st, &dc_cli_actor, o.create_bundles, &s, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (e) {
        fprintf(stderr, "stargap gaps: %s\n", err);
        rc = CLI_FAIL;
    } else {
        printf("measurement year %d, star year %d, %zu contract(s)\n", p->year, p->star_year, p->n);
        printf("open gaps %lld (unscored %lld): inserted %lld, refreshed %lld, history kept %lld, "
               "closed %lld\n",
               s.open_gaps, s.unscored, s.counts.inserted, s.counts.updated, s.counts.kept,
               s.counts.closed);
        printf("bundles %lld: cost $%.2f instead of $%.2f as singles%s", s.bundles, s.bundle_cost,
               s.bundle_single_cost, o.create_bundles ? "" : "\n");
        if (o.create_bundles)
            printf("; %lld recorded as planned interventions\n", s.interventions_created);
        printf("sum of estimated values $%.2f (marginal, not attainable together)\n",
               s.estimated_value);
        printf("%.2f s\n",
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    }
    dc_free(p);
    store_close(st);
    return rc;
}

static void print_ratings(const char *what, const struct pf_ratings *r)
{
    printf("  %-28s Part C %-4.1f Part D %-4.1f overall %-4.1f (raw %.4f)\n", what, r->part_c,
           r->part_d, r->overall, r->overall_raw);
}

int cli_optimize_run(struct cli_ctx *ctx, int argc, char **argv)
{
    struct dopts o;
    int rc = parse(argv[0], argc, argv, &o);
    if (rc) return rc;
    if (!o.has_budget) return cli_usage_error(argv[0], "--budget is required");
    char err[SG_ERRLEN];
    struct pf_opt_params prm;
    memset(&prm, 0, sizeof prm);
    prm.budget = o.budget;
    prm.max_count = o.max;
    if (pf_objective_parse(o.objective ? o.objective : "stars", &prm.objective, err, sizeof err))
        return cli_usage_error(argv[0], "%s", err);
    struct store *st;
    struct dc_portfolio *p;
    if ((rc = open_and_load(ctx, argv[0], &o, &st, &p))) return rc;
    print_unscored(p);
    for (size_t k = 0; k < p->n && !rc; k++) {
        struct dc_contract *c = &p->c[k];
        struct pf_candidates cand;
        struct pf_opt_result r;
        memset(&cand, 0, sizeof cand);
        memset(&r, 0, sizeof r);
        if (!c->n_gaps) {
            printf("contract %s: no open gaps\n", c->contract_id);
            continue;
        }
        struct pf_marginal mv[PF_MAX_MEASURES];
        int e = pf_candidates_build(&c->prob, !o.no_bundles, &cand, err, sizeof err);
        if (!e) e = pf_marginal_values(&c->prob, mv, err, sizeof err);
        if (!e) pf_candidates_value(&c->prob, mv, &cand);
        if (!e) e = pf_optimize(&c->prob, &cand, &prm, &r, err, sizeof err);
        long created = 0;
        for (size_t i = 0; !e && o.create && i < r.plan.n_chosen; i++) {
            int ce = dc_create_intervention(p, st, &dc_cli_actor, k, &cand, r.plan.chosen[i], err,
                                            sizeof err);
            if (ce == SG_ECONFLICT) continue;
            if (ce)
                e = ce;
            else
                created++;
        }
        if (e) {
            fprintf(stderr, "stargap optimize: contract %s: %s\n", c->contract_id, err);
            rc = CLI_FAIL;
        } else if (o.json) {
            char *j = dc_opt_json(p, k, &cand, &r, 1000);
            if (j) printf("%s\n", j);
            free(j);
        } else {
            printf("contract %s (%ld members, %zu open gaps, %zu candidates), objective %s, budget "
                   "$%.2f\n",
                   c->contract_id, c->members, c->n_gaps, cand.n,
                   prm.objective == PF_OBJECTIVE_STARS ? "stars" : "revenue", o.budget);
            printf("  %-16s %8s %12s %10s %14s %8s %8s\n", "plan", "chosen", "spend", "E[overall]",
                   "revenue gain", "ROI", "P(>=4)");
            const struct pf_plan_summary *ps[3] = {&r.plan, &r.by_probability, &r.by_weight};
            const char *nm[3] = {"optimizer", "by probability", "by weight"};
            printf("  %-16s %8d %12.2f %10.4f %14.2f %8s %8.4f\n", "none", 0, 0.0,
                   r.baseline.exp_overall, 0.0, "-", r.baseline.p_overall_ge4);
            for (int i = 0; i < 3; i++)
                printf("  %-16s %8zu %12.2f %10.4f %14.2f %8.2f %8.4f\n", nm[i], ps[i]->n_chosen,
                       ps[i]->spend, ps[i]->out.exp_overall, ps[i]->revenue_gain, ps[i]->roi,
                       ps[i]->out.p_overall_ge4);
            printf("  %-8s %7s %9s %9s %6s %8s\n", "measure", "den", "rate_now", "E[rate]", "star",
                   "E[star]");
            for (size_t m = 0; m < c->n_measures; m++) {
                const struct pf_measure *pm = &c->measures[m];
                printf("  %-8s %7ld %9.2f %9.2f %6d %8.3f\n", pm->code, pm->denominator,
                       pf_rate(pm, pm->compliant), r.plan.out.m[m].exp_rate,
                       r.plan.out.m[m].star_at_exp, r.plan.out.m[m].exp_star);
            }
            if (o.create) printf("  %ld planned interventions recorded\n", created);
        }
        pf_opt_result_free(&r);
        pf_candidates_free(&cand);
    }
    dc_free(p);
    store_close(st);
    return rc;
}

int cli_simulate_run(struct cli_ctx *ctx, int argc, char **argv)
{
    struct dopts o;
    int rc = parse(argv[0], argc, argv, &o);
    if (rc) return rc;
    char err[SG_ERRLEN];
    if (!o.strategy == !o.closure)
        return cli_usage_error(argv[0], "give exactly one of --strategy and --closure");
    struct pf_scenario sc;
    memset(&sc, 0, sizeof sc);
    if (o.strategy) {
        if (pf_strategy_parse(o.strategy, &sc.strategy, err, sizeof err))
            return cli_usage_error(argv[0], "%s", err);
        if (sc.strategy == PF_STRATEGY_CLOSURE || sc.strategy == PF_STRATEGY_INTERVENTIONS)
            return cli_usage_error(argv[0], "strategy: use --closure for closure rates; "
                                            "interventions lists are an API feature");
        if ((sc.strategy == PF_STRATEGY_BALANCED || sc.strategy == PF_STRATEGY_OPTIMIZER) &&
            !o.has_budget)
            return cli_usage_error(argv[0], "budget: required for strategy %s", o.strategy);
    } else {
        sc.strategy = PF_STRATEGY_CLOSURE;
    }
    if (pf_objective_parse(o.objective ? o.objective : "stars", &sc.objective, err, sizeof err))
        return cli_usage_error(argv[0], "%s", err);
    sc.budget = o.has_budget ? o.budget : 0;
    sc.runs = o.runs ? o.runs : 10000;
    sc.seed = (uint64_t)o.seed;
    struct store *st;
    struct dc_portfolio *p;
    if ((rc = open_and_load(ctx, argv[0], &o, &st, &p))) return rc;
    print_unscored(p);
    /* validate every contract's closure spec first: a bad one persists nothing */
    double(*rates)[PF_MAX_MEASURES] = calloc(p->n, sizeof *rates);
    double *mean = calloc(p->n, sizeof *mean);
    struct pf_sim_result *res = calloc(p->n, sizeof *res);
    struct store_simulation *rows = calloc(p->n, sizeof *rows);
    if (!rates || !mean || !res || !rows) {
        fprintf(stderr, "stargap simulate: out of memory\n");
        rc = CLI_FAIL;
    }
    for (size_t k = 0; k < p->n && !rc && o.closure; k++)
        if (dc_parse_closure(&p->c[k], o.closure, rates[k], &mean[k], err, sizeof err)) {
            fprintf(stderr, "stargap simulate: %s\n", err);
            rc = CLI_FAIL;
        }
    for (size_t k = 0; k < p->n && !rc; k++) {
        struct dc_contract *c = &p->c[k];
        struct pf_candidates cand;
        memset(&cand, 0, sizeof cand);
        struct pf_scenario s = sc;
        s.closure_rate = rates[k];
        int e = SG_OK;
        if (c->n_gaps) {
            struct pf_marginal mv[PF_MAX_MEASURES];
            e = pf_candidates_build(&c->prob, 1, &cand, err, sizeof err);
            if (!e) e = pf_marginal_values(&c->prob, mv, err, sizeof err);
            if (!e) pf_candidates_value(&c->prob, mv, &cand);
        }
        if (!e) e = pf_simulate(&c->prob, c->n_gaps ? &cand : NULL, &s, &res[k], err, sizeof err);
        pf_candidates_free(&cand);
        if (!e) {
            double cr = o.closure ? mean[k]
                                  : (res[k].gaps_closed > 0 && c->n_gaps
                                         ? fmin(1.0, res[k].gaps_closed / (double)c->n_gaps)
                                         : 0.0);
            e = dc_sim_row(p, k, &res[k], o.strategy ? o.strategy : "closure", cr, &rows[k], err,
                           sizeof err);
        }
        if (e) {
            fprintf(stderr, "stargap simulate: contract %s: %s\n", c->contract_id, err);
            rc = CLI_FAIL;
        }
    }
    /* persist only when every contract simulated */
    for (size_t k = 0; k < p->n && !rc; k++) {
        if (store_simulation_create(st, &dc_cli_actor, &rows[k], err, sizeof err)) {
            fprintf(stderr, "stargap simulate: %s\n", err);
            rc = CLI_FAIL;
            break;
        }
        const struct pf_sim_result *r = &res[k];
        if (o.json) {
            printf("%s\n", rows[k].scenario_details);
            continue;
        }
        printf("contract %s: strategy %s, simulation %s\n", p->c[k].contract_id,
               pf_strategy_name(r->strategy), rows[k].simulation_id);
        printf("  %-8s %9s %9s %9s %5s %5s %5s %9s\n", "measure", "rate_now", "baseline",
               "projected", "star", "proj", "range", "P(proj)");
        for (size_t m = 0; m < r->n_measures; m++) {
            const struct pf_sim_measure *x = &r->m[m];
            printf("  %-8s %9.2f %9.2f %9.2f %5d %5d %2d-%-2d %9.4f\n", p->c[k].measures[m].code,
                   x->rate_now, x->rate_base, x->rate_proj, x->star_now, x->star_proj, x->star_hard,
                   x->star_easy, x->exact_p_star[x->star_proj]);
        }
        print_ratings("current rates", &r->now);
        print_ratings("baseline (no intervention)", &r->base);
        print_ratings("projected", &r->proj);
        print_ratings("projected, cuts tightened", &r->proj_hard);
        print_ratings("projected, cuts eased", &r->proj_easy);
        printf(
            "  P(overall >= 4): baseline %.4f, projected %.4f exact, %.4f Monte Carlo (%ld runs)\n",
            r->exact_base.p_overall_ge4, r->exact_proj.p_overall_ge4, r->mc_p_ge4, r->runs);
        printf(
            "  revenue impact $%.2f, investment $%.2f, ROI %.2f, gaps closed %.1f, members %ld\n",
            r->revenue_impact, r->investment, r->roi, r->gaps_closed, r->members_impacted);
    }
    for (size_t k = 0; p && k < p->n; k++) {
        if (res) pf_sim_result_free(&res[k]);
        if (rows) store_simulation_fini(&rows[k]);
    }
    free(rates);
    free(mean);
    free(res);
    free(rows);
    dc_free(p);
    store_close(st);
    return rc;
}

int cli_snapshot_run(struct cli_ctx *ctx, int argc, char **argv)
{
    struct dopts o;
    int rc = parse(argv[0], argc, argv, &o);
    if (rc) return rc;
    struct store *st;
    struct dc_portfolio *p;
    if ((rc = open_and_load(ctx, argv[0], &o, &st, &p))) return rc;
    print_unscored(p);
    char err[SG_ERRLEN];
    struct store_snapshot *rows = NULL;
    size_t n = 0;
    if (dc_snapshot(p, st, &dc_cli_actor, &rows, &n, err, sizeof err)) {
        fprintf(stderr, "stargap snapshot: %s\n", err);
        rc = CLI_FAIL;
    } else {
        printf("%-10s %9s %9s %8s %10s %16s\n", "contract", "members", "open_gaps", "stars",
               "projected", "estimated_value");
        for (size_t i = 0; i < n; i++)
            printf("%-10s %9ld %9ld %8.1f %10.1f %16.2f\n",
                   rows[i].contract_id[0] ? rows[i].contract_id : "(all)", rows[i].total_members,
                   rows[i].total_gaps, rows[i].star_rating_current, rows[i].star_rating_projected,
                   rows[i].estimated_value);
    }
    for (size_t i = 0; i < n; i++)
        store_snapshot_fini(&rows[i]);
    free(rows);
    dc_free(p);
    store_close(st);
    return rc;
}
