/* h_members.c: members. POST /members turns a raw member ID into its member_hash at once (HMAC
 * with the service key) and never logs, stores or returns the raw ID; the reads of member-level
 * data are audited through the store's actor argument. */
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/jsonw.h"
#include "core/hash.h"
#include "core/memberid.h"

static const struct api_param page_params[] = {
    {"limit", AP_INT, 1, STORE_MAX_LIMIT, NULL},
    {"offset", AP_INT, 0, 1000000000, NULL},
};

static int tri_field(const struct http_request *req, struct http_response *res, json_t *body,
                     const char *name, int *out)
{
    json_t *v = json_object_get(body, name);
    *out = -1;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        http_error(req, res, 400, "invalid_input", "%s: expected a boolean", name);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

void api_h_member_create(struct http_request *req, struct http_response *res)
{
    static const char *const allowed[] = {"member_id", "contract_id", "birth_year", "sex",
                                          "dual_eligible", "lis", "disabled", NULL};
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q)) return;
    json_t *body = api_body(req, res, allowed);
    if (!body) return;
    const char *member_id, *contract, *sex = NULL;
    long birth_year = 0;
    struct store_member m, out;
    memset(&m, 0, sizeof m);
    if (api_get_str(req, res, body, "member_id", 1, SG_MEMBERID_MAX_ID, &member_id) < 0 ||
        api_get_str(req, res, body, "contract_id", 1, STORE_CONTRACT_LEN - 1, &contract) < 0 ||
        api_get_int(req, res, body, "birth_year", 0, 1900, 2100, &birth_year) < 0 ||
        api_get_str(req, res, body, "sex", 0, 1, &sex) < 0 ||
        tri_field(req, res, body, "dual_eligible", &m.dual_eligible) ||
        tri_field(req, res, body, "lis", &m.lis) || tri_field(req, res, body, "disabled", &m.disabled))
        goto done;
    m.sex = STORE_SEX_UNKNOWN;
    if (sex && store_sex_parse(sex, &m.sex) != SG_OK) {
        http_error(req, res, 400, "invalid_input", "sex: must be one of F, M, U");
        goto done;
    }
    const struct api_app *app = APP(req);
    char err[SG_ERRLEN] = "";
    int rc = sg_memberid_hash(app->member, member_id, m.member_hash, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err); /* the message never contains the ID */
        goto done;
    }
    /* the raw ID is no longer needed: wipe jansson's copy before anything else happens */
    json_t *idv = json_object_get(body, "member_id");
    memset((char *)json_string_value(idv), 0, json_string_length(idv));
    http_copy(m.contract_id, sizeof m.contract_id, contract);
    m.birth_year = (int)birth_year;
    m.active = 1;
    struct store_actor a = ACTOR(req);
    int created = 0;
    rc = store_member_get_or_create(app->st, &a, &m, &out, &created, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        goto done;
    }
    json_t *doc = api_enc_member(&out);
    if (doc) json_object_set_new(doc, "created", json_boolean(created));
    http_json(res, created ? 201 : 200, doc);
done:
    json_decref(body);
}

/* A member read is member-level data: it is recorded as an audit event. */
void api_h_member_get(struct http_request *req, struct http_response *res)
{
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q) || api_path_hex64(req, res, 0)) return;
    struct store_member m;
    char err[SG_ERRLEN] = "";
    int rc = store_member_get(APP(req)->st, req->params[0], &m, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "member not found" : err);
        return;
    }
    struct store_actor a = ACTOR(req);
    struct store_audit_event ev = {.event_type = "data_access", .entity_type = "member",
                                   .entity_id = m.member_hash, .action = "read", .changes = NULL};
    rc = store_audit_create(APP(req)->st, &a, &ev, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        return;
    }
    http_json(res, 200, api_enc_member(&m));
}

/* The member history page as JSON (or its store error) into res; frees l. */
static void history_answer(struct http_request *req, struct http_response *res, int rc,
                           const char *err, const struct store_page *pg,
                           struct store_history_list *l);

/* A history read started on the connection thread (HTTP_DEFERRABLE route): read and audit row
 * join the store's group commit without a thread waiting for them; the page is sent once the
 * group has committed (history_finish, on a connection thread). */
struct history_ctx {
    struct store_actor a;
    struct store_page pg;
    struct store_history_list l;
    int rc;
    char err[SG_ERRLEN];
    struct http_deferral *d;
};

static void history_done(void *arg, int rc, const char *err)
{
    struct history_ctx *c = arg;
    c->rc = rc;
    snprintf(c->err, sizeof c->err, "%s", err);
    http_deferral_done(c->d);
}

static void history_finish(struct http_request *req, struct http_response *res, void *ctx)
{
    struct history_ctx *c = ctx;
    if (res) history_answer(req, res, c->rc, c->err, &c->pg, &c->l);
    else store_history_list_free(&c->l);
    free(c);
}

void api_h_member_history(struct http_request *req, struct http_response *res)
{
    struct api_qv q[2];
    if (api_query(req, res, page_params, 2, q) || api_path_hex64(req, res, 0)) return;
    struct store_page pg = {.limit = q[0].set ? q[0].i : 50, .offset = q[1].set ? q[1].i : 0};
    struct store_actor a = ACTOR(req);
    struct store_history_list l = {0};
    char err[SG_ERRLEN] = "";
    if (req->can_defer) {
        struct history_ctx *c = calloc(1, sizeof *c);
        if (c) {
            c->a = a;
            c->pg = pg;
            c->d = http_defer(req, history_finish, c);
            int rc = store_member_history_submit(APP(req)->st, &c->a, req->params[0], &c->pg,
                                                 &c->l, history_done, c, err, sizeof err);
            if (rc == SG_OK) return;
            http_defer_cancel(c->d);
            free(c);
            if (rc != SG_EUNSUPPORTED) {
                history_answer(req, res, rc, err, &pg, &l);
                return;
            }
        }
        http_requeue(req); /* no asynchronous path (or no memory for one): a queue worker waits */
        return;
    }
    int rc = store_member_history(APP(req)->st, &a, req->params[0], &pg, &l, err, sizeof err);
    history_answer(req, res, rc, err, &pg, &l);
}

static void history_answer(struct http_request *req, struct http_response *res, int rc,
                           const char *err, const struct store_page *pg,
                           struct store_history_list *l)
{
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "member not found" : err);
        store_history_list_free(l);
        return;
    }
    struct sg_buf b;
    struct jw w;
    sg_buf_init(&b, 64u << 20);
    jw_init(&w, &b);
    jw_obj(&w);
    jw_key(&w, "member_hash"); jw_str(&w, req->params[0]);
    jw_key(&w, "items");
    jw_arr(&w);
    for (size_t i = 0; i < l->n; i++) jw_history_item(&w, &l->items[i]);
    jw_arr_end(&w);
    jw_key(&w, "total"); jw_int(&w, l->total);
    jw_key(&w, "limit"); jw_int(&w, pg->limit);
    jw_key(&w, "offset"); jw_int(&w, pg->offset);
    jw_key(&w, "has_more"); jw_bool(&w, l->has_more);
    jw_obj_end(&w);
    api_send_buf(req, res, 200, &b, w.err);
    store_history_list_free(l);
}

void api_h_member_bundles(struct http_request *req, struct http_response *res)
{
    struct api_qv q[1];
    if (api_query(req, res, NULL, 0, q) || api_path_hex64(req, res, 0)) return;
    struct store_member m;
    char err[SG_ERRLEN] = "";
    int rc = store_member_get(APP(req)->st, req->params[0], &m, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, rc == SG_ENOTFOUND ? "member not found" : err);
        return;
    }
    struct store_actor a = ACTOR(req);
    struct store_intervention_list l = {0};
    rc = store_intervention_get_bundles(APP(req)->st, &a, req->params[0], &l, err, sizeof err);
    if (rc) {
        api_store_error(req, res, rc, err);
        store_intervention_list_free(&l);
        return;
    }
    json_t *items = json_array();
    for (size_t i = 0; items && i < l.n; i++) json_array_append_new(items, api_enc_intervention(&l.items[i]));
    http_json(res, 200, json_pack("{s:s,s:o,s:I}", "member_hash", req->params[0], "items",
                                  items ? items : json_array(), "total", (json_int_t)l.n));
    store_intervention_list_free(&l);
}
