/* h_decide.c: the issue-7 endpoints (optimizer, simulations, portfolio summary, priority list,
 * ROI, measure performance) and the Star Ratings endpoint of issue 4. Each handler validates its
 * input naming the field, loads the measurement year through decide/ (the same wiring the CLI
 * uses, with the Star Ratings engine as the rater), calls the portfolio module and encodes the
 * result; writes (simulations, planned interventions, star ratings) go through the store, which
 * audits them in the same transaction, and happen only after every check passed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "core/fileio.h"
#include "decide/decide.h"
#include "portfolio/plan.h"
#include "stars/stars.h"

/* Loads year/contract; on failure answers 400 (input: year, contract, star_year) or 500. */
static struct dc_portfolio *load(struct http_request *req, struct http_response *res, int year,
                                 int star_year, const char *contract)
{
    char err[SG_ERRLEN] = "";
    struct dc_portfolio *p = NULL;
    int rc = dc_load(APP(req)->st, dc_data_dir(APP(req)->cfg), year, star_year, contract, &p, err,
                     sizeof err);
    if (rc == SG_EINVAL || rc == SG_ERANGE || rc == SG_EPARSE)
        http_error(req, res, 400, "invalid_input", "%s", err);
    else if (rc)
        http_error_from_err(req, res, rc, err);
    return rc ? NULL : p;
}

/* The query of the portfolio reads that take only the year, a contract and the star year. */
static const struct api_param year_params[] = {
    {"year", AP_INT, 2000, 2100, NULL},
    {"contract", AP_CONTRACT, 0, 0, NULL},
    {"star_year", AP_INT, 2000, 2103, NULL},
};

/* The year/contract/star_year query of the portfolio reads: `year` is required; loads the year
 * (NULL after answering the error). iy, ic, is index q for year, contract and star_year. */
static struct dc_portfolio *load_query(struct http_request *req, struct http_response *res,
                                       const struct api_qv *q, int iy, int ic, int is)
{
    if (!q[iy].set) {
        http_error(req, res, 400, "invalid_input", "year: is required");
        return NULL;
    }
    return load(req, res, (int)q[iy].i, q[is].set ? (int)q[is].i : 0, q[ic].s);
}

static void decide_error(struct http_request *req, struct http_response *res, int rc,
                         const char *err)
{
    if (rc == SG_EINVAL || rc == SG_ERANGE)
        http_error(req, res, 400, "invalid_input", "%s", err);
    else
        api_store_error(req, res, rc, err);
}

/* Audit row for a computation that writes nothing else (who asked for what). */
static int audit_compute(struct http_request *req, const char *entity, const char *contract,
                         const char *action, const char *changes, char *err, size_t errlen)
{
    struct store_actor a = ACTOR(req);
    struct store_audit_event ev = {"data_access", entity, contract, action, changes};
    return store_audit_create(APP(req)->st, &a, &ev, err, errlen);
}

/* ---- POST /api/v1/portfolio/optimize ---- */

void api_h_portfolio_optimize(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {"year",    "contract", "budget",    "objective", "max",
                                          "bundles", "create",   "star_year", "limit",     NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    json_t *body = api_body(req, res, allowed);
    if (!body) return;
    long year = 0, star_year = 0, max = 0, limit = 100;
    double budget = 0;
    const char *contract = NULL, *objective = "stars";
    struct dc_portfolio *p = NULL;
    struct pf_candidates cand;
    struct pf_opt_result r;
    memset(&cand, 0, sizeof cand);
    memset(&r, 0, sizeof r);
    char err[SG_ERRLEN] = "";
    if (api_get_int(req, res, body, "year", 1, 2000, 2100, &year) < 0 ||
        api_get_str(req, res, body, "contract", 1, STORE_CONTRACT_LEN - 1, &contract) < 0 ||
        api_get_real(req, res, body, "budget", 1, -INFINITY, INFINITY, &budget) < 0 ||
        api_get_str(req, res, body, "objective", 0, 16, &objective) < 0 ||
        api_get_int(req, res, body, "max", 0, 0, 100000000, &max) < 0 ||
        api_get_int(req, res, body, "star_year", 0, 2000, 2103, &star_year) < 0 ||
        api_get_int(req, res, body, "limit", 0, 0, 100000, &limit) < 0)
        goto done;
    if (!objective) objective = "stars";
    json_t *jb = json_object_get(body, "bundles"), *jc = json_object_get(body, "create");
    if ((jb && !json_is_boolean(jb)) || (jc && !json_is_boolean(jc))) {
        http_error(req, res, 400, "invalid_input", "%s: expected true or false",
                   jb && !json_is_boolean(jb) ? "bundles" : "create");
        goto done;
    }
    int bundles = !jb || json_is_true(jb), create = jc && json_is_true(jc);
    struct pf_opt_params prm;
    memset(&prm, 0, sizeof prm);
    prm.budget = budget;
    prm.max_count = max;
    if (!(budget > 0) || !isfinite(budget)) {
        http_error(req, res, 400, "invalid_input", "budget: must be a positive amount");
        goto done;
    }
    if (pf_objective_parse(objective, &prm.objective, err, sizeof err)) {
        http_error(req, res, 400, "invalid_input", "%s", err);
        goto done;
    }
    if (!(p = load(req, res, (int)year, (int)star_year, contract))) goto done;
    struct dc_contract *c = &p->c[0];
    if (!c->n_gaps) {
        http_error(req, res, 422, "no_open_gaps", "contract: %s has no open gaps in %ld",
                   c->contract_id, year);
        goto done;
    }
    struct pf_marginal mv[PF_MAX_MEASURES];
    int rc = pf_candidates_build(&c->prob, bundles, &cand, err, sizeof err);
    if (!rc) rc = pf_marginal_values(&c->prob, mv, err, sizeof err);
    if (!rc) pf_candidates_value(&c->prob, mv, &cand);
    if (!rc) rc = pf_optimize(&c->prob, &cand, &prm, &r, err, sizeof err);
    if (rc) {
        decide_error(req, res, rc, err);
        goto done;
    }
    struct store_actor a = ACTOR(req);
    long created = 0, already = 0;
    for (size_t i = 0; create && i < r.plan.n_chosen && !rc; i++) {
        rc = dc_create_intervention(p, APP(req)->st, &a, 0, &cand, r.plan.chosen[i], err,
                                    sizeof err);
        if (rc == SG_ECONFLICT) {
            already++;
            rc = SG_OK;
        } else if (!rc) {
            created++;
        }
    }
    char changes[256];
    snprintf(changes, sizeof changes,
             "{\"year\":%ld,\"budget\":%.2f,\"objective\":\"%s\",\"chosen\":%zu,\"created\":%ld}",
             year, budget, prm.objective == PF_OBJECTIVE_STARS ? "stars" : "revenue",
             r.plan.n_chosen, created);
    if (!rc)
        rc = audit_compute(req, "portfolio", c->contract_id, "optimize", changes, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        goto done;
    }
    char *text = dc_opt_json(p, 0, &cand, &r, limit);
    json_error_t je;
    json_t *doc = text ? json_loads(text, 0, &je) : NULL;
    free(text);
    if (!doc) {
        http_error(req, res, 500, "internal", "encoding failed");
        goto done;
    }
    json_object_set_new(doc, "budget", json_real(budget));
    json_object_set_new(doc, "objective", json_string(objective));
    json_object_set_new(doc, "interventions_created", json_integer(created));
    json_object_set_new(doc, "interventions_already_planned", json_integer(already));
    http_json(res, 200, doc);
done:
    pf_opt_result_free(&r);
    pf_candidates_free(&cand);
    dc_free(p);
    json_decref(body);
}

/* ---- POST /api/v1/analytics/simulate ---- */

void api_h_analytics_simulate(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {"year",      "contract", "strategy", "closure_rates",
                                          "budget",    "runs",     "seed",     "objective",
                                          "star_year", NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    json_t *body = api_body(req, res, allowed);
    if (!body) return;
    long year = 0, star_year = 0, runs = 10000, seed = 1;
    double budget = 0;
    const char *contract = NULL, *strategy = NULL, *objective = "stars";
    struct dc_portfolio *p = NULL;
    struct pf_candidates cand;
    struct pf_sim_result r;
    struct store_simulation row;
    memset(&cand, 0, sizeof cand);
    memset(&r, 0, sizeof r);
    memset(&row, 0, sizeof row);
    char err[SG_ERRLEN] = "";
    int has_budget = 0;
    if (api_get_int(req, res, body, "year", 1, 2000, 2100, &year) < 0 ||
        api_get_str(req, res, body, "contract", 1, STORE_CONTRACT_LEN - 1, &contract) < 0 ||
        api_get_str(req, res, body, "strategy", 0, 64, &strategy) < 0 ||
        (has_budget = api_get_real(req, res, body, "budget", 0, -INFINITY, INFINITY, &budget)) <
            0 ||
        api_get_int(req, res, body, "runs", 0, 0, 1000000, &runs) < 0 ||
        api_get_int(req, res, body, "seed", 0, 0, 2147483647L, &seed) < 0 ||
        api_get_str(req, res, body, "objective", 0, 16, &objective) < 0 ||
        api_get_int(req, res, body, "star_year", 0, 2000, 2103, &star_year) < 0)
        goto done;
    if (!objective) objective = "stars";
    json_t *cr = json_object_get(body, "closure_rates");
    if (!strategy == !cr) {
        http_error(req, res, 400, "invalid_input",
                   "strategy: give exactly one of strategy and closure_rates");
        goto done;
    }
    struct pf_scenario sc;
    memset(&sc, 0, sizeof sc);
    if (strategy) {
        if (pf_strategy_parse(strategy, &sc.strategy, err, sizeof err) ||
            sc.strategy == PF_STRATEGY_CLOSURE || sc.strategy == PF_STRATEGY_INTERVENTIONS) {
            http_error(req, res, 400, "invalid_input", "%s",
                       err[0] ? err : "strategy: use closure_rates for closure rates");
            goto done;
        }
    } else {
        sc.strategy = PF_STRATEGY_CLOSURE;
        if (!json_is_object(cr) || !json_object_size(cr)) {
            http_error(req, res, 400, "invalid_input",
                       "closure_rates: expected an object {\"CODE\": rate in [0,1], ...}");
            goto done;
        }
    }
    if (has_budget && !(budget > 0 && isfinite(budget))) {
        http_error(req, res, 400, "invalid_input", "budget: must be a positive amount");
        goto done;
    }
    if ((sc.strategy == PF_STRATEGY_BALANCED || sc.strategy == PF_STRATEGY_OPTIMIZER) &&
        !has_budget) {
        http_error(req, res, 400, "invalid_input", "budget: required for strategy %s", strategy);
        goto done;
    }
    if (pf_objective_parse(objective, &sc.objective, err, sizeof err)) {
        http_error(req, res, 400, "invalid_input", "%s", err);
        goto done;
    }
    sc.budget = has_budget ? budget : 0;
    sc.runs = runs;
    sc.seed = (uint64_t)seed;
    if (!(p = load(req, res, (int)year, (int)star_year, contract))) goto done;
    struct dc_contract *c = &p->c[0];
    double rates[PF_MAX_MEASURES], mean = 0;
    for (size_t m = 0; m < PF_MAX_MEASURES; m++)
        rates[m] = NAN;
    if (cr) {
        const char *k;
        json_t *v;
        int n = 0;
        json_object_foreach(cr, k, v)
        {
            size_t m = 0;
            while (m < c->n_measures && strcmp(c->measures[m].code, k))
                m++;
            if (m == c->n_measures) {
                http_error(req, res, 400, "invalid_input",
                           "closure_rates.%s: not a rated measure of contract %s", k,
                           c->contract_id);
                goto done;
            }
            if (!json_is_number(v) || !(json_number_value(v) >= 0 && json_number_value(v) <= 1)) {
                http_error(req, res, 400, "invalid_input",
                           "closure_rate[%s]: expected a number in [0,1]", k);
                goto done;
            }
            rates[m] = json_number_value(v);
            mean += rates[m];
            n++;
        }
        mean /= n;
        sc.closure_rate = rates;
    }
    int rc = SG_OK;
    if (c->n_gaps) {
        struct pf_marginal mv[PF_MAX_MEASURES];
        rc = pf_candidates_build(&c->prob, 1, &cand, err, sizeof err);
        if (!rc) rc = pf_marginal_values(&c->prob, mv, err, sizeof err);
        if (!rc) pf_candidates_value(&c->prob, mv, &cand);
    }
    if (!rc) rc = pf_simulate(&c->prob, c->n_gaps ? &cand : NULL, &sc, &r, err, sizeof err);
    if (rc) {
        decide_error(req, res, rc, err);
        goto done;
    }
    double crate = cr ? mean : (c->n_gaps ? fmin(1.0, r.gaps_closed / (double)c->n_gaps) : 0.0);
    rc = dc_sim_row(p, 0, &r, strategy ? strategy : "closure", crate, &row, err, sizeof err);
    struct store_actor a = ACTOR(req);
    if (!rc) rc = store_simulation_create(APP(req)->st, &a, &row, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        goto done;
    }
    json_error_t je;
    json_t *doc = json_loads(row.scenario_details, 0, &je);
    if (!doc) {
        http_error(req, res, 500, "internal", "encoding failed");
        goto done;
    }
    json_object_set_new(doc, "simulation_id", json_string(row.simulation_id));
    json_object_set_new(doc, "simulation_date", json_string(row.simulation_date));
    http_json(res, 201, doc);
done:
    store_simulation_fini(&row);
    pf_sim_result_free(&r);
    pf_candidates_free(&cand);
    dc_free(p);
    json_decref(body);
}

/* ---- GET /api/v1/portfolio/summary ---- */

static json_t *ratings_doc(const struct pf_ratings *r)
{
    return json_pack("{s:o,s:o,s:o}", "part_c", r->part_c > 0 ? json_real(r->part_c) : json_null(),
                     "part_d", r->part_d > 0 ? json_real(r->part_d) : json_null(), "overall",
                     r->overall > 0 ? json_real(r->overall) : json_null());
}

void api_h_portfolio_summary(struct http_request *req, struct http_response *res)
{
    struct api_qv q[3];
    if (api_query(req, res, year_params, 3, q)) return;
    struct dc_portfolio *p = load_query(req, res, q, 0, 1, 2);
    if (!p) return;
    char err[SG_ERRLEN] = "";
    json_t *items = json_array();
    long members = 0, gaps = 0;
    double value = 0, revenue = 0;
    for (size_t k = 0; k < p->n; k++) {
        struct dc_contract *c = &p->c[k];
        struct pf_snapshot s;
        memset(&s, 0, sizeof s);
        if (c->members && c->n_gaps) {
            struct pf_marginal mv[PF_MAX_MEASURES];
            double *v = calloc(c->n_gaps, sizeof *v);
            int rc = v ? pf_marginal_values(&c->prob, mv, err, sizeof err) : SG_ENOMEM;
            if (!rc) rc = pf_gap_values(&c->prob, mv, v, NULL, err, sizeof err);
            if (!rc) rc = pf_snapshot_compute(&c->prob, v, &s, err, sizeof err);
            free(v);
            if (rc) {
                json_decref(items);
                decide_error(req, res, rc, err);
                dc_free(p);
                return;
            }
        }
        json_t *bym = json_object();
        for (size_t m = 0; m < c->n_measures; m++)
            json_object_set_new(bym, c->measures[m].code, json_integer(s.gaps_by_measure[m]));
        struct pf_revenue rv;
        pf_econ_revenue(&p->cfg.econ, s.current.overall, c->members, &rv);
        json_array_append_new(
            items,
            json_pack("{s:s,s:I,s:I,s:I,s:o,s:{s:I,s:I,s:I},s:o,s:o,s:o,s:o,s:i}", "contract_id",
                      c->contract_id, "members", (json_int_t)c->members, "members_with_gaps",
                      (json_int_t)s.members_with_gaps, "open_gaps", (json_int_t)s.total_gaps,
                      "gaps_by_measure", bym, "gaps_by_tier", "high",
                      (json_int_t)s.gaps_by_tier[PF_TIER_HIGH], "medium",
                      (json_int_t)s.gaps_by_tier[PF_TIER_MEDIUM], "low",
                      (json_int_t)s.gaps_by_tier[PF_TIER_LOW], "stars_current",
                      ratings_doc(&s.current), "stars_projected", ratings_doc(&s.projected),
                      "estimated_value", api_real(s.estimated_value), "annual_revenue_current",
                      api_real(rv.annual), "other_measures_from_stored_rating", c->other_measures));
        members += c->members;
        gaps += s.total_gaps;
        value += s.estimated_value;
        revenue += rv.annual;
    }
    http_json(res, 200,
              json_pack("{s:i,s:i,s:I,s:I,s:o,s:o,s:o}", "measurement_year", p->year, "star_year",
                        p->star_year, "members", (json_int_t)members, "open_gaps", (json_int_t)gaps,
                        "estimated_value", api_real(value), "annual_revenue_current",
                        api_real(revenue), "contracts", items));
    dc_free(p);
}

/* ---- GET /api/v1/portfolio/priority-list ---- */

struct ranked {
    const char *hash;
    const char *contract;
    double value;
    long gaps;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->value != y->value) return x->value > y->value ? -1 : 1;
    return strcmp(x->hash, y->hash);
}

void api_h_priority_list(struct http_request *req, struct http_response *res)
{
    static const struct api_param ps[] = {
        {"year", AP_INT, 2000, 2100, NULL},          {"contract", AP_CONTRACT, 0, 0, NULL},
        {"limit", AP_INT, 1, STORE_MAX_LIMIT, NULL}, {"min_gaps", AP_INT, 1, 64, NULL},
        {"star_year", AP_INT, 2000, 2103, NULL},
    };
    struct api_qv q[5];
    if (api_query(req, res, ps, 5, q)) return;
    long limit = q[2].set ? q[2].i : 50, min_gaps = q[3].set ? q[3].i : 1;
    struct dc_portfolio *p = load_query(req, res, q, 0, 1, 4);
    if (!p) return;
    char err[SG_ERRLEN] = "";
    struct ranked *all = calloc((size_t)limit * p->n + 1, sizeof *all);
    size_t nall = 0;
    int rc = all ? SG_OK : SG_ENOMEM;
    for (size_t k = 0; k < p->n && !rc; k++) {
        struct dc_contract *c = &p->c[k];
        if (!c->n_gaps) continue;
        struct pf_marginal mv[PF_MAX_MEASURES];
        double *v = calloc(c->n_gaps, sizeof *v), *tot = calloc((size_t)limit, sizeof *tot);
        uint32_t *mem = calloc((size_t)limit, sizeof *mem);
        long *ng = calloc((size_t)limit, sizeof *ng);
        rc = v && tot && mem && ng ? pf_marginal_values(&c->prob, mv, err, sizeof err) : SG_ENOMEM;
        if (!rc) rc = pf_gap_values(&c->prob, mv, v, NULL, err, sizeof err);
        long n = rc ? 0
                    : pf_rank_members(&c->prob, v, min_gaps, (size_t)limit, mem, tot, ng, err,
                                      sizeof err);
        if (n < 0) rc = (int)n;
        for (long i = 0; i < n; i++) {
            all[nall].hash = p->hashes[c->dense[mem[i]]];
            all[nall].contract = c->contract_id;
            all[nall].value = tot[i];
            all[nall++].gaps = ng[i];
        }
        free(v);
        free(tot);
        free(mem);
        free(ng);
    }
    if (rc) {
        free(all);
        dc_free(p);
        if (rc == SG_ENOMEM)
            http_error(req, res, 500, "internal", "out of memory");
        else
            decide_error(req, res, rc, err);
        return;
    }
    qsort(all, nall, sizeof *all, cmp_ranked);
    json_t *items = json_array();
    for (size_t i = 0; i < nall && (long)i < limit; i++)
        json_array_append_new(
            items, json_pack("{s:i,s:s,s:s,s:o,s:I}", "rank", (int)i + 1, "member_hash",
                             all[i].hash, "contract_id", all[i].contract, "total_value",
                             api_real(all[i].value), "open_gaps", (json_int_t)all[i].gaps));
    http_json(res, 200,
              json_pack("{s:i,s:I,s:I,s:o}", "measurement_year", p->year, "limit",
                        (json_int_t)limit, "min_gaps", (json_int_t)min_gaps, "items", items));
    free(all);
    dc_free(p);
}

/* ---- GET /api/v1/analytics/roi ---- */

void api_h_analytics_roi(struct http_request *req, struct http_response *res)
{
    struct api_qv q[3];
    if (api_query(req, res, year_params, 3, q)) return;
    struct dc_portfolio *p = load_query(req, res, q, 0, 1, 2);
    if (!p) return;
    char err[SG_ERRLEN] = "";
    json_t *items = json_array();
    for (size_t k = 0; k < p->n; k++) {
        struct dc_contract *c = &p->c[k];
        int stars[PF_MAX_MEASURES];
        for (size_t m = 0; m < c->n_measures; m++)
            stars[m] = pf_star_for_count(&c->measures[m], c->measures[m].compliant);
        struct pf_ratings now;
        memset(&now, 0, sizeof now);
        if (c->prob.rater.rate(c->prob.rater.ctx, stars, c->n_measures, &now))
            memset(&now, 0, sizeof now);
        json_t *levels = json_array();
        for (int h = 6; h <= 10; h++) { /* 3.0 .. 5.0 stars */
            struct pf_revenue rv;
            pf_econ_revenue(&p->cfg.econ, h / 2.0, c->members, &rv);
            json_array_append_new(levels, json_pack("{s:f,s:o,s:o,s:o,s:o}", "rating", h / 2.0,
                                                    "bonus_pct", api_real(rv.bonus_pct),
                                                    "rebate_pct", api_real(rv.rebate_pct),
                                                    "payment_pmpm", api_real(rv.payment_pmpm),
                                                    "annual", api_real(rv.annual)));
        }
        struct store_sim_filter f = {
            .measurement_year = p->year, .contract_id = c->contract_id, .page = {20, 0}};
        struct store_simulation_list sl = {0};
        json_t *sims = json_array();
        if (!store_simulation_get_recent(APP(req)->st, &f, &sl, err, sizeof err))
            for (size_t i = 0; i < sl.n; i++) {
                const struct store_simulation *s = &sl.items[i];
                json_array_append_new(
                    sims,
                    json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:I}", "simulation_id",
                              s->simulation_id, "simulation_date", s->simulation_date, "strategy",
                              s->strategy, "baseline_stars", api_real(s->baseline_stars),
                              "projected_stars", api_real(s->projected_stars), "revenue_impact",
                              api_real(s->revenue_impact), "investment",
                              api_real(s->investment_required), "roi", api_real(s->roi),
                              "gaps_closed", (json_int_t)s->gaps_closed));
            }
        store_simulation_list_free(&sl);
        struct pf_revenue cur;
        pf_econ_revenue(&p->cfg.econ, now.overall, c->members, &cur);
        json_array_append_new(items,
                              json_pack("{s:s,s:I,s:o,s:o,s:o,s:o}", "contract_id", c->contract_id,
                                        "members", (json_int_t)c->members, "overall_current",
                                        now.overall > 0 ? json_real(now.overall) : json_null(),
                                        "annual_revenue_current", api_real(cur.annual),
                                        "revenue_by_rating", levels, "simulations", sims));
    }
    http_json(res, 200,
              json_pack("{s:i,s:i,s:o}", "measurement_year", p->year, "star_year", p->star_year,
                        "contracts", items));
    dc_free(p);
}

/* ---- GET /api/v1/measures/{code}/performance ---- */

void api_h_measure_performance(struct http_request *req, struct http_response *res)
{
    struct api_qv q[3];
    if (api_query(req, res, year_params, 3, q)) return;
    const char *code = req->params[0];
    struct dc_portfolio *p = load_query(req, res, q, 0, 1, 2);
    if (!p) return;
    json_t *items = json_array();
    size_t found = 0;
    for (size_t k = 0; k < p->n; k++) {
        const struct dc_contract *c = &p->c[k];
        for (size_t m = 0; m < c->n_measures; m++) {
            const struct pf_measure *pm = &c->measures[m];
            if (strcmp(pm->code, code)) continue;
            found++;
            long need[6];
            pf_star_thresholds(pm, pm->cut, need);
            int star = pf_star_for_count(pm, pm->compliant);
            long open = 0;
            for (size_t g = 0; g < c->n_gaps; g++)
                open += c->gaps[g].measure == m;
            json_t *cuts = json_array();
            for (int t = 0; t < 4; t++)
                json_array_append_new(cuts, json_real(pm->cut[t]));
            long numerator = pm->lower_is_better ? pm->denominator - pm->compliant : pm->compliant;
            json_array_append_new(
                items,
                json_pack("{s:s,s:I,s:I,s:o,s:i,s:o,s:o,s:o,s:I,s:o}", "contract_id",
                          c->contract_id, "numerator", (json_int_t)numerator, "denominator",
                          (json_int_t)pm->denominator, "rate", api_real(pf_rate(pm, pm->compliant)),
                          "star", star, "next_star",
                          star < 5 ? json_integer(star + 1) : json_null(), "closures_to_next_star",
                          star < 5 && need[star + 1] <= pm->denominator
                              ? json_integer(need[star + 1] - pm->compliant)
                              : json_null(),
                          "cut_points", cuts, "open_gaps", (json_int_t)open, "weight",
                          api_real(pm->weight)));
        }
    }
    if (!found) {
        json_decref(items);
        http_error(req, res, 404, "not_found",
                   "code: %s is not a rated measure with data in %d (star year %d)", code, p->year,
                   p->star_year);
        dc_free(p);
        return;
    }
    http_json(res, 200,
              json_pack("{s:s,s:i,s:i,s:o}", "measure_code", code, "measurement_year", p->year,
                        "star_year", p->star_year, "contracts", items));
    dc_free(p);
}

/* ---- POST /api/v1/analytics/star-rating (issue 4) ---- */

static const char *const source_name[] = {"none", "given", "score", "data_issue", "prior_year"};

void api_h_star_rating(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {"star_year",
                                          "measurement_year",
                                          "contract_id",
                                          "contract_type",
                                          "offers_part_d",
                                          "measures",
                                          "adjustment_categories",
                                          "disaster_percentage",
                                          NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    json_t *body = api_body(req, res, allowed);
    if (!body) return;
    long star_year = 0, my = 0;
    double disaster = 0;
    const char *contract = NULL, *type = "ccp";
    char err[SG_ERRLEN] = "";
    struct stars_params *prm = calloc(1, sizeof *prm);
    struct stars_cut *cuts = calloc(2 * STARS_MAX_MEASURES, sizeof *cuts);
    struct stars_contract_input *in = calloc(1, sizeof *in);
    struct stars_result *r = calloc(1, sizeof *r);
    struct store_star_rating row;
    memset(&row, 0, sizeof row);
    if (!prm || !cuts || !in || !r) {
        http_error(req, res, 500, "internal", "out of memory");
        goto done;
    }
    if (api_get_int(req, res, body, "star_year", 1, 2000, 2103, &star_year) < 0 ||
        api_get_int(req, res, body, "measurement_year", 0, 2000, 2100, &my) < 0 ||
        api_get_str(req, res, body, "contract_id", 1, STORE_CONTRACT_LEN - 1, &contract) < 0 ||
        api_get_str(req, res, body, "contract_type", 0, 16, &type) < 0 ||
        api_get_real(req, res, body, "disaster_percentage", 0, 0, 100, &disaster) < 0)
        goto done;
    if (!type) type = "ccp";
    int cls = stars_class_parse(type);
    if (cls < 0) {
        http_error(req, res, 400, "invalid_input",
                   "contract_type: unknown '%s' (cost, ccp, ccp_snp, isnp, msa, pffs, pdp)", type);
        goto done;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/stars/%ld.txt", dc_data_dir(APP(req)->cfg), star_year);
    char *text = NULL;
    size_t len = 0;
    if (sg_read_file(path, 1 << 20, &text, &len, err, sizeof err) ||
        stars_params_parse(text, len, path, prm, err, sizeof err)) {
        free(text);
        http_error(req, res, 400, "invalid_input", "star_year: no parameters for star year %ld",
                   star_year);
        goto done;
    }
    free(text);
    snprintf(path, sizeof path, "%s/stars/cuts/%ld.csv", dc_data_dir(APP(req)->cfg), star_year);
    int have_cuts = dc_cuts_load(prm, path, cuts, err, sizeof err) == SG_OK;
    in->cls = (enum stars_class)cls;
    in->disaster_pct = disaster;
    json_t *jd = json_object_get(body, "offers_part_d");
    if (jd && !json_is_boolean(jd)) {
        http_error(req, res, 400, "invalid_input", "offers_part_d: expected true or false");
        goto done;
    }
    in->offers_part_d = !jd || json_is_true(jd);
    json_t *ms = json_object_get(body, "measures");
    if (!json_is_object(ms) || !json_object_size(ms)) {
        http_error(req, res, 400, "invalid_input",
                   "measures: expected an object {\"CODE\": {\"score\": x} or {\"star\": n}, ...}");
        goto done;
    }
    const char *k;
    json_t *v;
    json_object_foreach(ms, k, v)
    {
        int j = stars_find_code(prm, k);
        if (j < 0) {
            http_error(req, res, 400, "invalid_input", "measures.%s: not a %ld measure", k,
                       star_year);
            goto done;
        }
        json_t *s = json_is_object(v) ? json_object_get(v, "score") : NULL;
        json_t *t = json_is_object(v) ? json_object_get(v, "star") : NULL;
        if (!json_is_object(v) || (!s && !t) || json_object_size(v) != (size_t)(!!s + !!t)) {
            http_error(req, res, 400, "invalid_input",
                       "measures.%s: expected {\"score\": x} and/or {\"star\": n}", k);
            goto done;
        }
        if (t && (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > 5)) {
            http_error(req, res, 400, "invalid_input", "measures.%s.star: expected an integer 1..5",
                       k);
            goto done;
        }
        if (s && !json_is_number(s)) {
            http_error(req, res, 400, "invalid_input", "measures.%s.score: expected a number", k);
            goto done;
        }
        if (s && !t && !have_cuts) {
            http_error(
                req, res, 400, "invalid_input",
                "measures.%s.score: star year %ld has no published cut points here; give a star", k,
                star_year);
            goto done;
        }
        if (t) in->m[j].star = (int)json_integer_value(t);
        if (s) {
            in->m[j].has_score = 1;
            in->m[j].score = json_number_value(s);
        }
    }
    json_t *fac = json_object_get(body, "adjustment_categories");
    if (fac && !json_is_object(fac)) {
        http_error(req, res, 400, "invalid_input",
                   "adjustment_categories: expected an object {\"part_c\": n, ...}");
        goto done;
    }
    json_object_foreach(fac, k, v)
    {
        int t = stars_rating_type_parse(k);
        if (t < 0 || !json_is_integer(v)) {
            http_error(req, res, 400, "invalid_input", "adjustment_categories.%s: %s", k,
                       t < 0 ? "unknown rating type (part_c, part_d_mapd, part_d_pdp, overall)"
                             : "expected an integer");
            goto done;
        }
        in->fac[t] = (int)json_integer_value(v);
    }
    int rc = stars_rate(prm, in, have_cuts ? cuts : NULL, NULL, r, err, sizeof err);
    if (rc) {
        http_error(req, res, 400, "invalid_input", "%s", err);
        goto done;
    }
    json_t *jm = json_object(), *stars_o = json_object(), *scores_o = json_object();
    for (size_t j = 0; j < prm->nmeasures; j++) {
        const struct stars_measure_result *x = &r->m[j];
        if (x->source == STARS_SRC_NONE && !x->star) continue;
        const char *code = prm->measures[j].code;
        json_object_set_new(jm, code,
                            json_pack("{s:i,s:s,s:o,s:o,s:o,s:o}", "star", x->star, "source",
                                      source_name[x->source], "score", api_real(x->score), "weight",
                                      api_real(x->weight), "next_star",
                                      x->next_star ? json_integer(x->next_star) : json_null(),
                                      "distance_to_next",
                                      x->next_star ? api_real(x->distance) : json_null()));
        if (x->star) json_object_set_new(stars_o, code, json_integer(x->star));
        if (isfinite(x->score)) json_object_set_new(scores_o, code, json_real(x->score));
    }
#define SUMMARY(s)                                                                                 \
    json_pack("{s:b,s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:i}", "rated", (s).rated, "rating",               \
              (s).rated ? json_real((s).rating) : json_null(), "raw", api_real((s).raw), "mean",   \
              api_real((s).mean), "variance", api_real((s).variance), "reward",                    \
              api_real((s).reward), "cai", api_real((s).cai), "measures", (s).n, "required",       \
              (s).n_required)
    json_t *doc =
        json_pack("{s:s,s:i,s:o,s:o,s:o,s:o,s:s,s:b,s:b}", "contract_id", contract, "star_year",
                  (int)star_year, "part_c", SUMMARY(r->part_c), "part_d", SUMMARY(r->part_d),
                  "overall", SUMMARY(r->overall), "measures", jm, "explanation", r->explanation,
                  "hold_harmless", r->hold_harmless, "disaster_affected", r->disaster_affected);
    snprintf(row.contract_id, sizeof row.contract_id, "%s", contract);
    row.star_year = (int)star_year;
    row.measurement_year = my ? (int)my : (int)star_year - 2;
    row.part_c = r->part_c.rated ? r->part_c.rating : NAN;
    row.part_d = r->part_d.rated ? r->part_d.rating : NAN;
    row.overall = r->overall.rated ? r->overall.rating : NAN;
    row.reward_factor = r->overall.rated ? r->overall.reward : NAN;
    row.cai = r->overall.rated ? r->overall.cai : NAN;
    row.measure_stars = json_dumps(stars_o, JSON_SORT_KEYS | JSON_COMPACT);
    row.measure_scores =
        json_dumps(scores_o, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_t *det = json_pack("{s:s,s:s}", "explanation", r->explanation, "contract_type", type);
    row.details = json_dumps(det, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(det);
    json_decref(stars_o);
    json_decref(scores_o);
    struct store_actor a = ACTOR(req);
    rc = row.measure_stars && row.measure_scores && row.details
             ? store_star_rating_create(APP(req)->st, &a, &row, err, sizeof err)
             : SG_ENOMEM;
    if (rc) {
        json_decref(doc);
        api_store_error(req, res, rc, err);
        goto done;
    }
    json_object_set_new(doc, "rating_id", json_string(row.rating_id));
    http_json(res, 201, doc);
done:
    store_star_rating_fini(&row);
    free(prm);
    free(cuts);
    free(in);
    free(r);
    json_decref(body);
}
