/* encode.c: store rows to JSON (the response shapes documented in docs/API.md). NULL columns
 * (NAN reals, empty strings) become JSON null; JSON columns are embedded as JSON values. */
#include <string.h>

#include "api/api_internal.h"
#include "api/jsonw.h"

json_t *api_real(double v) { return isnan(v) ? json_null() : json_real(v); }

json_t *api_strn(const char *s) { return (s && *s) ? json_string(s) : json_null(); }

json_t *api_json_text(const char *text)
{
    if (!text || !*text) return json_null();
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

static json_t *tri(int v) { return v < 0 ? json_null() : json_boolean(v); }

json_t *api_enc_member(const struct store_member *m)
{
    return json_pack("{s:s,s:s,s:o,s:o,s:I,s:b,s:o,s:s,s:o,s:o,s:o}", "member_hash", m->member_hash,
                     "contract_id", m->contract_id, "first_seen", api_strn(m->first_seen),
                     "last_updated", api_strn(m->last_updated), "total_predictions",
                     (json_int_t)m->total_predictions, "active", m->active, "birth_year",
                     m->birth_year ? json_integer(m->birth_year) : json_null(), "sex",
                     store_sex_name(m->sex) ? store_sex_name(m->sex) : "U", "dual_eligible",
                     tri(m->dual_eligible), "lis", tri(m->lis), "disabled", tri(m->disabled));
}

json_t *api_enc_gap(const struct store_gap *g)
{
    return json_pack("{s:s,s:s,s:s,s:s,s:i,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:o}",
                     "gap_id", g->gap_id, "member_hash", g->member_hash, "contract_id",
                     g->contract_id, "measure_code", g->measure_code, "measurement_year",
                     g->measurement_year, "gap_probability", api_real(g->gap_probability),
                     "priority_score", api_real(g->priority_score), "intervention_type",
                     api_strn(g->intervention_type), "estimated_cost", api_real(g->estimated_cost),
                     "estimated_value", api_real(g->estimated_value), "status",
                     store_gap_status_name(g->status), "assigned_date", api_strn(g->assigned_date),
                     "completed_date", api_strn(g->completed_date), "closed_date",
                     api_strn(g->closed_date), "created_at", api_strn(g->created_at), "updated_at",
                     api_strn(g->updated_at));
}

json_t *api_enc_intervention(const struct store_intervention *iv)
{
    json_t *codes = json_array();
    for (int i = 0; codes && i < iv->n_measure_codes; i++)
        json_array_append_new(codes, json_string(iv->measure_codes[i]));
    const char *outcome = store_outcome_name(iv->outcome);
    return json_pack("{s:s,s:o,s:s,s:o,s:s,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:o}",
                     "intervention_id", iv->intervention_id, "gap_id", api_strn(iv->gap_id),
                     "member_hash", iv->member_hash, "measure_codes", codes ? codes : json_null(),
                     "intervention_type", iv->intervention_type, "description",
                     api_strn(iv->description), "estimated_cost", api_real(iv->estimated_cost),
                     "estimated_value", api_real(iv->estimated_value), "roi", api_real(iv->roi),
                     "status", store_iv_status_name(iv->status), "scheduled_date",
                     api_strn(iv->scheduled_date), "completed_date", api_strn(iv->completed_date),
                     "outcome", api_strn(outcome), "created_at", api_strn(iv->created_at),
                     "updated_at", api_strn(iv->updated_at));
}

json_t *api_enc_snapshot(const struct store_snapshot *s)
{
    return json_pack("{s:s,s:o,s:i,s:s,s:I,s:I,s:o,s:o,s:o,s:o,s:o}", "snapshot_id", s->snapshot_id,
                     "contract_id", api_strn(s->contract_id), "measurement_year",
                     s->measurement_year, "snapshot_date", s->snapshot_date, "total_members",
                     (json_int_t)s->total_members, "total_gaps", (json_int_t)s->total_gaps,
                     "gaps_by_measure", api_json_text(s->gaps_by_measure), "gaps_by_tier",
                     api_json_text(s->gaps_by_tier), "star_rating_current",
                     api_real(s->star_rating_current), "star_rating_projected",
                     api_real(s->star_rating_projected), "estimated_value",
                     api_real(s->estimated_value));
}

json_t *api_enc_star_rating(const struct store_star_rating *r)
{
    return json_pack("{s:s,s:s,s:i,s:i,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "rating_id",
                     r->rating_id, "contract_id", r->contract_id, "star_year", r->star_year,
                     "measurement_year", r->measurement_year, "calculation_date",
                     r->calculation_date, "part_c", api_real(r->part_c), "part_d",
                     api_real(r->part_d), "overall", api_real(r->overall), "measure_stars",
                     api_json_text(r->measure_stars), "measure_scores",
                     api_json_text(r->measure_scores), "reward_factor", api_real(r->reward_factor),
                     "cai", api_real(r->cai), "details", api_json_text(r->details));
}

json_t *api_enc_simulation(const struct store_simulation *s)
{
    return json_pack("{s:s,s:o,s:i,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:o}", "simulation_id",
                     s->simulation_id, "contract_id", api_strn(s->contract_id), "measurement_year",
                     s->measurement_year, "simulation_date", s->simulation_date, "strategy",
                     s->strategy, "closure_rate", api_real(s->closure_rate), "baseline_stars",
                     api_real(s->baseline_stars), "projected_stars", api_real(s->projected_stars),
                     "revenue_impact", api_real(s->revenue_impact), "investment_required",
                     api_real(s->investment_required), "roi", api_real(s->roi), "gaps_closed",
                     (json_int_t)s->gaps_closed, "members_impacted",
                     (json_int_t)s->members_impacted, "scenario_details",
                     api_json_text(s->scenario_details));
}

json_t *api_enc_measure(const struct store_measure *m)
{
    char part[2] = {m->part, '\0'};
    return json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:i,s:b}", "star_year", m->star_year,
                     "code", m->code, "cms_id", m->cms_id, "name", m->name, "part", part, "domain",
                     m->domain, "weighting_category", store_weight_cat_name(m->weighting_category),
                     "weight", api_real(m->weight), "direction", store_direction_name(m->direction),
                     "display_precision", m->display_precision, "member_level", m->member_level);
}

json_t *api_enc_audit(const struct store_audit *a)
{
    return json_pack("{s:I,s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:s,s:s,s:s}", "audit_id",
                     (json_int_t)a->audit_id, "event_type", a->event_type, "entity_type",
                     a->entity_type, "entity_id", api_strn(a->entity_id), "action", a->action,
                     "user_id", a->user_id, "changes", api_json_text(a->changes), "ip_address",
                     api_strn(a->ip_address), "timestamp", a->timestamp, "prev_hash", a->prev_hash,
                     "hash", a->hash);
}

json_t *api_enc_api_log(const struct store_api_log *l)
{
    return json_pack("{s:I,s:s,s:s,s:s,s:o,s:i,s:o,s:o,s:s}", "log_id", (json_int_t)l->log_id,
                     "request_id", l->request_id, "endpoint", l->endpoint, "method", l->method,
                     "api_key_hash", api_strn(l->api_key_hash), "status_code", l->status_code,
                     "response_time_ms", api_real(l->response_time_ms), "error_message",
                     api_strn(l->error_message), "timestamp", l->timestamp);
}

json_t *api_enc_history_item(const struct store_history_item *h)
{
    return json_pack("{s:s,s:o,s:s,s:o,s:s,s:s,s:o}", "kind", store_history_kind_name(h->kind), "id",
                     api_strn(h->id), "measure_code", h->measure_code, "measurement_year",
                     h->measurement_year ? json_integer(h->measurement_year) : json_null(), "at",
                     h->at, "status", h->status, "value", api_real(h->value));
}

json_t *api_page_doc(json_t *items, long long total, long limit, long offset, int has_more)
{
    if (!items) return NULL;
    return json_pack("{s:o,s:I,s:i,s:i,s:b}", "items", items, "total", (json_int_t)total, "limit",
                     (int)limit, "offset", (int)offset, "has_more", has_more);
}

void api_send_buf(const struct http_request *req, struct http_response *res, int status,
                  struct sg_buf *b, int jw_err)
{
    char *text = jw_err == SG_OK ? sg_buf_take(b) : NULL;
    sg_buf_fini(b);
    if (!text) {
        http_error(req, res, 500, "internal_error", "internal error");
        return;
    }
    http_text(res, status, NULL, text);
}
