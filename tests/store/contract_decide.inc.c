/* contract_decide.inc.c: contract cases of the issue-7 operations (latest-prediction scan, gap
 * scan, gap refresh), included by test_store_contract.c so both backends run them. Expected
 * values are worked out from the rows each case writes. */

struct latest_state {
    int n;
    char seen[8][2][STORE_CODE_LEN + STORE_HASH_LEN];
    double gp[8];
};

static int latest_cb(void *ctx, const struct store_prediction *p)
{
    struct latest_state *s = ctx;
    if (s->n < 8) {
        snprintf(s->seen[s->n][0], sizeof s->seen[0][0], "%s", p->member_hash);
        snprintf(s->seen[s->n][1], sizeof s->seen[0][1], "%s", p->measure_code);
        s->gp[s->n] = p->gap_probability;
    }
    assert_null(p->shap_values);
    s->n++;
    return 0;
}

static void test_prediction_scan_latest(void **state)
{
    struct fx *f = *state;
    add_member(f, 1, "H0001");
    add_member(f, 2, "H0001");
    /* member 1 BCS: two models, the newer date wins; member 1 COL; member 2 BCS in 2025 only */
    struct store_prediction rows[4] = {
        pred(1, "BCS", 2024, 0.30, "m-v1", "2026-01-01T00:00:00.000000Z"),
        pred(1, "BCS", 2024, 0.60, "m-v2", "2026-02-01T00:00:00.000000Z"),
        pred(1, "COL", 2024, 0.10, "m-v1", "2026-01-01T00:00:00.000000Z"),
        pred(2, "BCS", 2025, 0.90, "m-v1", "2026-01-01T00:00:00.000000Z"),
    };
    OK(store_prediction_batch_create(f->st, &ACTOR, rows, 4, f->err, sizeof f->err));
    struct latest_state s;
    memset(&s, 0, sizeof s);
    OK(store_prediction_scan_latest(f->st, 2024, latest_cb, &s, f->err, sizeof f->err));
    assert_int_equal(s.n, 2);
    assert_string_equal(s.seen[0][1], "BCS");
    assert_true(fabs(s.gp[0] - 0.60) < 1e-12);
    assert_string_equal(s.seen[1][1], "COL");
    assert_true(fabs(s.gp[1] - 0.10) < 1e-12);
    memset(&s, 0, sizeof s);
    OK(store_prediction_scan_latest(f->st, 2023, latest_cb, &s, f->err, sizeof f->err));
    assert_int_equal(s.n, 0);
    ASSERT_ERR(store_prediction_scan_latest(f->st, 1999, latest_cb, &s, f->err, sizeof f->err),
               SG_EINVAL, "year");
}

struct gapscan_state {
    int n, open, closed;
    double gp_sum;
};

static int gapscan_cb(void *ctx, const struct store_gap *g)
{
    struct gapscan_state *s = ctx;
    s->n++;
    if (g->status == STORE_GAP_IDENTIFIED || g->status == STORE_GAP_ASSIGNED) s->open++;
    if (g->status == STORE_GAP_CLOSED) s->closed++;
    s->gp_sum += g->gap_probability;
    return 0;
}

static struct store_gap rgap(int member, const char *contract, const char *code, double gp,
                             double value)
{
    struct store_gap g = gap(member, code, 2024, gp, 10.0 * gp);
    snprintf(g.contract_id, sizeof g.contract_id, "%s", contract);
    snprintf(g.intervention_type, sizeof g.intervention_type, "screening_order");
    g.estimated_cost = 40;
    g.estimated_value = value;
    return g;
}

static void test_gap_refresh(void **state)
{
    struct fx *f = *state;
    for (int i = 1; i <= 4; i++)
        add_member(f, i, i <= 3 ? "H0001" : "H0002");
    struct store_refresh_counts k;
    /* run 1: three open gaps in H0001, one in H0002 */
    struct store_gap r1[3] = {rgap(1, "H0001", "BCS", 0.5, 7), rgap(2, "H0001", "BCS", 0.4, 6),
                              rgap(3, "H0001", "COL", 0.3, 5)};
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", r1, 3, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 3);
    assert_int_equal(k.updated + k.kept + k.closed, 0);
    /* generated ids: version 7, RFC 9562 variant, ascending in row order, and stored as given */
    for (int i = 0; i < 3; i++) {
        assert_true(sg_is_uuid(r1[i].gap_id));
        assert_int_equal(r1[i].gap_id[14], '7');
        assert_non_null(strchr("89ab", r1[i].gap_id[19]));
        if (i) assert_true(strcmp(r1[i - 1].gap_id, r1[i].gap_id) < 0);
        struct store_gap got;
        OK(store_gap_get(f->st, r1[i].gap_id, &got, f->err, sizeof f->err));
        assert_string_equal(got.member_hash, r1[i].member_hash);
    }
    struct store_gap r2[1] = {rgap(4, "H0002", "BCS", 0.9, 1)};
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0002", r2, 1, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 1);
    /* member 2's BCS gap is assigned, member 3's COL gap completed (history) */
    struct store_gap_list l;
    OK(store_gap_get_by_member(f->st, NULL, r1[1].member_hash, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 1);
    OK(store_gap_update_status(f->st, &ACTOR, l.items[0].gap_id, STORE_GAP_ASSIGNED, NULL, f->err,
                               sizeof f->err));
    store_gap_list_free(&l);
    OK(store_gap_get_by_member(f->st, NULL, r1[2].member_hash, &l, f->err, sizeof f->err));
    OK(store_gap_update_status(f->st, &ACTOR, l.items[0].gap_id, STORE_GAP_ASSIGNED, NULL, f->err,
                               sizeof f->err));
    OK(store_gap_update_status(f->st, &ACTOR, l.items[0].gap_id, STORE_GAP_COMPLETED, NULL, f->err,
                               sizeof f->err));
    store_gap_list_free(&l);
    /* run 2 for H0001: member 1 became compliant (not in the rows), member 2 still open with a
     * new probability, member 3's completed gap offered again (kept), a new gap for member 1 COL */
    struct store_gap r3[3] = {rgap(2, "H0001", "BCS", 0.8, 9), rgap(3, "H0001", "COL", 0.2, 2),
                              rgap(1, "H0001", "COL", 0.7, 3)};
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", r3, 3, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 1);
    assert_int_equal(k.updated, 1);
    assert_int_equal(k.kept, 1);
    assert_int_equal(k.closed, 1);
    OK(store_gap_get_by_member(f->st, NULL, r1[1].member_hash, &l, f->err, sizeof f->err));
    assert_int_equal(l.items[0].status, STORE_GAP_ASSIGNED); /* status untouched */
    assert_true(fabs(l.items[0].gap_probability - 0.8) < 1e-12);
    assert_true(fabs(l.items[0].estimated_value - 9) < 1e-12);
    store_gap_list_free(&l);
    OK(store_gap_get_by_member(f->st, NULL, r1[2].member_hash, &l, f->err, sizeof f->err));
    assert_int_equal(l.items[0].status, STORE_GAP_COMPLETED);
    assert_true(fabs(l.items[0].gap_probability - 0.3) < 1e-12); /* history not rewritten */
    store_gap_list_free(&l);
    OK(store_gap_get_by_member(f->st, NULL, r1[0].member_hash, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 2); /* newest year first, then measure: BCS closed, COL open */
    assert_string_equal(l.items[0].measure_code, "BCS");
    assert_int_equal(l.items[0].status, STORE_GAP_CLOSED);
    assert_true(l.items[0].closed_date[0] != '\0');
    assert_int_equal(l.items[1].status, STORE_GAP_IDENTIFIED);
    store_gap_list_free(&l);
    /* the other contract was out of scope: its gap is still open */
    struct gapscan_state s;
    memset(&s, 0, sizeof s);
    OK(store_gap_scan(f->st, 2024, "H0002", gapscan_cb, &s, f->err, sizeof f->err));
    assert_int_equal(s.n, 1);
    assert_int_equal(s.open, 1);
    memset(&s, 0, sizeof s);
    OK(store_gap_scan(f->st, 2024, NULL, gapscan_cb, &s, f->err, sizeof f->err));
    assert_int_equal(s.n, 5);
    assert_int_equal(s.open, 3); /* m1 COL, m2 BCS (assigned), m4 BCS */
    assert_int_equal(s.closed, 1);
    /* the same rows again: idempotent (nothing inserted or closed) */
    struct store_gap r4[3] = {rgap(2, "H0001", "BCS", 0.8, 9), rgap(3, "H0001", "COL", 0.2, 2),
                              rgap(1, "H0001", "COL", 0.7, 3)};
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", r4, 3, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 0);
    assert_int_equal(k.closed, 0);
    assert_int_equal(k.updated, 2);
    assert_int_equal(k.kept, 1);
    /* the gap_counts totals follow: identified+assigned of H0001 in 2024 = 2 */
    struct store_gap_filter gf = {.contract_id = "H0001",
                                  .measurement_year = 2024,
                                  .has_status = 1,
                                  .status = STORE_GAP_CLOSED,
                                  .min_priority = NAN,
                                  .page = {10, 0}};
    struct store_gap_list gl;
    OK(store_gap_get_with_filters(f->st, &gf, &gl, f->err, sizeof f->err));
    assert_int_equal(gl.total, 1);
    store_gap_list_free(&gl);
    /* one audit row per refresh */
    struct store_audit_list al;
    struct store_page pg = {100, 0};
    OK(store_audit_get_trail(f->st, "gap", NULL, &pg, &al, f->err, sizeof f->err));
    int refreshes = 0;
    for (size_t i = 0; i < al.n; i++)
        refreshes += !strcmp(al.items[i].action, "refresh");
    assert_int_equal(refreshes, 4);
    store_audit_list_free(&al);
}

static void test_gap_refresh_atomic(void **state)
{
    struct fx *f = *state;
    add_member(f, 1, "H0001");
    struct store_refresh_counts k;
    /* the first refresh of a scope (no open gap yet) refused for an unknown member: nothing */
    struct store_gap first[2] = {rgap(1, "H0001", "CBP", 0.5, 7), rgap(9, "H0001", "CBP", 0.5, 7)};
    ASSERT_ERR(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", first, 2, &k, f->err,
                                       sizeof f->err),
               SG_EINVAL, "rows");
    struct store_gap r1[1] = {rgap(1, "H0001", "BCS", 0.5, 7)};
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", r1, 1, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 1);
    /* a bad second row: nothing of the batch is written, the first gap is not closed */
    struct store_gap bad[2] = {rgap(1, "H0001", "COL", 0.5, 7), rgap(1, "H0001", "BCS", 1.5, 7)};
    ASSERT_ERR(
        store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", bad, 2, &k, f->err, sizeof f->err),
        SG_EINVAL, "rows[1].gap_probability");
    struct store_gap unknown[1] = {rgap(9, "H0001", "COL", 0.5, 7)}; /* member 9 does not exist */
    ASSERT_ERR(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", unknown, 1, &k, f->err,
                                       sizeof f->err),
               SG_EINVAL, "rows");
    struct store_gap other[1] = {rgap(1, "H0002", "COL", 0.5, 7)};
    ASSERT_ERR(
        store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", other, 1, &k, f->err, sizeof f->err),
        SG_EINVAL, "rows[0].contract_id");
    struct gapscan_state s;
    memset(&s, 0, sizeof s);
    OK(store_gap_scan(f->st, 2024, NULL, gapscan_cb, &s, f->err, sizeof f->err));
    assert_int_equal(s.n, 1);
    assert_int_equal(s.open, 1);
    /* an empty refresh closes every open gap of the scope */
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", NULL, 0, &k, f->err, sizeof f->err));
    assert_int_equal(k.closed, 1);
    /* no open gap in the scope now, but the closed BCS gap's key is offered again: it is kept
     * (history), the new COL gap inserted */
    struct store_gap again[2] = {rgap(1, "H0001", "BCS", 0.6, 8), rgap(1, "H0001", "COL", 0.5, 7)};
    OK(store_gap_refresh_batch(f->st, &ACTOR, 2024, "H0001", again, 2, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 1);
    assert_int_equal(k.kept, 1);
    assert_int_equal(k.updated + k.closed, 0);
    memset(&s, 0, sizeof s);
    OK(store_gap_scan(f->st, 2024, NULL, gapscan_cb, &s, f->err, sizeof f->err));
    assert_int_equal(s.n, 2);
    assert_int_equal(s.open, 1);
    assert_int_equal(s.closed, 1);
    assert_true(fabs(s.gp_sum - 1.0) < 1e-12); /* closed BCS still 0.5, new COL 0.5 */
}
