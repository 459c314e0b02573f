/* contract_batch.inc.c: the prediction batch's values survive the trip exactly on both backends
 * (PostgreSQL sends them in COPY's binary format: raw doubles, microsecond timestamps, UUID
 * bytes, jsonb with its version byte), and the ids batch_create generates ascend in the order it
 * inserts (member order), which keeps the primary-key inserts at the index's right edge; and
 * get_pending's total (kept in iv_pending_counts by trigger since migration 0004) follows every
 * kind of intervention change. Included by test_store_contract.c (uses its fixture and helpers). */

/* JSON texts equal as values (jsonb normalizes spacing and key order). */
static void assert_json_same(const char *got, const char *want)
{
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    json_t *a = json_loads(got, 0, NULL), *b = json_loads(want, 0, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static void test_prediction_batch_values(void **state)
{
    struct fx *f = *state;
    for (int i = 1; i <= 3; i++) add_member(f, i, "H3333");
    /* Members interleaved so that the backend's member order differs from the row order. */
    struct store_prediction rows[7] = {
        pred(2, "BCS", 2025, 0.25, "vals", "1999-12-31T23:59:59.999999Z"), /* before 2000: negative */
        pred(1, "COL", 2025, 0.5, "vals", "2024-02-29T12:34:56.5Z"),       /* leap day, short fraction */
        pred(3, "CBP", 2025, 0.75, "vals", "2100-12-31T23:59:59Z"),
        pred(1, "BCS", 2025, 0.0, "vals", NULL),                           /* now */
        pred(2, "COL", 2025, 1.0, "vals", "1970-01-01T00:00:00Z"),
        pred(1, "CBP", 2025, 1.0 / 3.0, "vals", "2025-06-30T23:59:59.000001Z"),
        pred(3, "BCS", 2025, 0.1 + 0.2, "vals", "2000-01-01T00:00:00Z"),   /* the epoch of PostgreSQL */
    };
    rows[0].risk_score = NAN; /* NULL */
    rows[1].risk_score = 1e308;
    rows[2].risk_score = 5e-324; /* smallest subnormal */
    rows[3].risk_score = -123.456;
    rows[4].risk_score = -0.0;
    rows[5].risk_score = 0.1 + 0.2;
    rows[6].risk_score = -1.7976931348623157e308;
    rows[0].shap_values = NULL;
    rows[0].top_features = NULL;
    rows[1].shap_values = "{\"na\\u00efve\":\"\\u65e5\\u672c\",\"q\":\"tab\\t\\\"quote\\\" back\\\\\"}";
    rows[1].top_features = "[\"\xc3\xa9t\xc3\xa9\",\"\xf0\x9f\x98\x80\"]"; /* raw UTF-8: e-acute, emoji */
    rows[2].shap_values = "{\"nested\":{\"a\":[1,2.5,-3e-7]},\"empty\":{}}";
    rows[2].top_features = "[]";
    snprintf(rows[1].recommendation, sizeof rows[1].recommendation, "line1\nline2\ttab\\back \xe2\x82\xac");
    snprintf(rows[2].recommendation, sizeof rows[2].recommendation, "\\N"); /* COPY text's NULL marker */
    const char *want_date[7] = {"1999-12-31T23:59:59.999999Z", "2024-02-29T12:34:56.500000Z",
                                "2100-12-31T23:59:59.000000Z", NULL, "1970-01-01T00:00:00.000000Z",
                                "2025-06-30T23:59:59.000001Z", "2000-01-01T00:00:00.000000Z"};
    OK(store_prediction_batch_create(f->st, &ACTOR, rows, 7, f->err, sizeof f->err));

    for (int i = 0; i < 7; i++) {
        struct store_prediction got;
        OK(store_prediction_get(f->st, rows[i].prediction_id, &got, f->err, sizeof f->err));
        assert_string_equal(got.member_hash, rows[i].member_hash);
        assert_string_equal(got.measure_code, rows[i].measure_code);
        assert_int_equal(got.measurement_year, 2025);
        assert_true(got.gap_probability == rows[i].gap_probability); /* bit-exact doubles */
        assert_int_equal(got.risk_tier, rows[i].risk_tier);
        if (isnan(rows[i].risk_score)) assert_true(isnan(got.risk_score));
        else assert_true(got.risk_score == rows[i].risk_score);
        if (want_date[i]) assert_string_equal(got.prediction_date, want_date[i]);
        else assert_string_equal(got.prediction_date, rows[i].prediction_date); /* filled in: now */
        assert_json_same(got.shap_values, rows[i].shap_values);
        assert_json_same(got.top_features, rows[i].top_features);
        assert_string_equal(got.recommendation, rows[i].recommendation);
        assert_string_equal(got.model_version, "vals");
        store_prediction_fini(&got);
    }
    struct store_member m;
    OK(store_member_get(f->st, rows[1].member_hash, &m, f->err, sizeof f->err));
    assert_int_equal(m.total_predictions, 3);

    /* Generated ids: version 7, RFC 9562 variant, ascending in the order of the unique key
     * (member_hash, measure_code; the year and model version are the same here), ties by row. */
    int idx[7] = {0, 1, 2, 3, 4, 5, 6};
    for (int a = 1; a < 7; a++) /* insertion sort by that key: independent of store.c */
        for (int b = a; b > 0; b--) {
            int c = strcmp(rows[idx[b - 1]].member_hash, rows[idx[b]].member_hash);
            if (!c) c = strcmp(rows[idx[b - 1]].measure_code, rows[idx[b]].measure_code);
            if (c <= 0) break;
            int t = idx[b];
            idx[b] = idx[b - 1];
            idx[b - 1] = t;
        }
    for (int k = 0; k < 7; k++) {
        const char *id = rows[idx[k]].prediction_id;
        assert_true(sg_is_uuid(id));
        assert_int_equal(id[14], '7');
        assert_non_null(strchr("89ab", id[19]));
        if (k) assert_true(strcmp(rows[idx[k - 1]].prediction_id, id) < 0);
    }
    assert_chain_ok(f);
}

/* get_pending's total on or before `date`, read with a one-row page (so that PostgreSQL takes
 * the total from iv_pending_counts rather than from a short page), checked against the number
 * of pending interventions found by walking the whole list. */
static long long pending_total(struct fx *f, const char *date)
{
    struct store_intervention_list l;
    struct store_page one = {1, 0}, all = {100, 0};
    OK(store_intervention_get_pending(f->st, date, &one, &l, f->err, sizeof f->err));
    long long total = l.total;
    store_intervention_list_free(&l);
    OK(store_intervention_get_pending(f->st, date, &all, &l, f->err, sizeof f->err));
    assert_int_equal((long long)l.n, total);
    store_intervention_list_free(&l);
    return total;
}

static void test_pending_total(void **state)
{
    struct fx *f = *state;
    struct store_gap g[12];
    make_gaps(f, g);
    /* A, B on 03-01; C on 05-15; D on 08-01; E unscheduled (not pending). */
    static const char *dates[5] = {"2025-03-01", "2025-03-01", "2025-05-15", "2025-08-01", ""};
    struct store_intervention iv[5], out;
    for (int i = 0; i < 5; i++) {
        memset(&iv[i], 0, sizeof iv[i]);
        iv[i].estimated_cost = iv[i].estimated_value = iv[i].roi = NAN;
        memcpy(iv[i].gap_id, g[i].gap_id, STORE_ID_LEN);
        memcpy(iv[i].member_hash, g[i].member_hash, STORE_HASH_LEN);
        snprintf(iv[i].intervention_type, sizeof iv[i].intervention_type, "outreach_call");
        snprintf(iv[i].scheduled_date, sizeof iv[i].scheduled_date, "%s", dates[i]);
        OK(store_intervention_create(f->st, &ACTOR, &iv[i], f->err, sizeof f->err));
    }
    assert_int_equal(pending_total(f, "2025-02-28"), 0);
    assert_int_equal(pending_total(f, "2025-03-01"), 2); /* A, B */
    assert_int_equal(pending_total(f, "2025-12-31"), 4); /* A, B, C, D */

    struct store_iv_update u = {.set_status = 1, .status = STORE_IV_IN_PROGRESS};
    OK(store_intervention_update(f->st, &ACTOR, iv[1].intervention_id, &u, &out, f->err, sizeof f->err));
    assert_int_equal(pending_total(f, "2025-03-01"), 2); /* B in progress: still pending */
    u = (struct store_iv_update){.set_status = 1, .status = STORE_IV_CANCELLED};
    OK(store_intervention_update(f->st, &ACTOR, iv[0].intervention_id, &u, &out, f->err, sizeof f->err));
    assert_int_equal(pending_total(f, "2025-03-01"), 1); /* A cancelled */
    u = (struct store_iv_update){.set_scheduled_date = 1};
    snprintf(u.scheduled_date, sizeof u.scheduled_date, "2025-02-15");
    OK(store_intervention_update(f->st, &ACTOR, iv[2].intervention_id, &u, &out, f->err, sizeof f->err));
    assert_int_equal(pending_total(f, "2025-02-20"), 1); /* C moved earlier */
    assert_int_equal(pending_total(f, "2025-06-01"), 2); /* B, C */
    snprintf(u.scheduled_date, sizeof u.scheduled_date, "2025-03-10");
    OK(store_intervention_update(f->st, &ACTOR, iv[4].intervention_id, &u, &out, f->err, sizeof f->err));
    assert_int_equal(pending_total(f, "2025-06-01"), 3); /* E scheduled */
    u.scheduled_date[0] = '\0';
    OK(store_intervention_update(f->st, &ACTOR, iv[3].intervention_id, &u, &out, f->err, sizeof f->err));
    assert_int_equal(pending_total(f, "2025-12-31"), 3); /* D unscheduled: B, C, E */
    int closed = 0;
    OK(store_intervention_complete(f->st, &ACTOR, iv[1].intervention_id, STORE_OUTCOME_SUCCESS, &out,
                                   &closed, f->err, sizeof f->err));
    assert_int_equal(pending_total(f, "2025-12-31"), 2); /* B completed: C, E */
    assert_int_equal(pending_total(f, "2025-02-15"), 1); /* C alone */
    assert_chain_ok(f);
}
