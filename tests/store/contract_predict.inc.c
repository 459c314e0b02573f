/* contract_predict.inc.c: contract cases of the issue-6 operations (member/result/feature merges,
 * bulk scans, models), included by test_store_contract.c so both backends run them. Expected
 * values are worked out from the rows each case writes. */

static long long audit_total(struct fx *f, const char *entity)
{
    struct store_audit_list l;
    struct store_page pg = {1, 0};
    OK(store_audit_get_trail(f->st, entity, NULL, &pg, &l, f->err, sizeof f->err));
    long long t = l.total;
    store_audit_list_free(&l);
    return t;
}

struct scan_state {
    int n;
    char last[STORE_HASH_LEN];
    int ordered;
};

static int scan_member_cb(void *ctx, const struct store_member *m)
{
    struct scan_state *s = ctx;
    if (s->n && strcmp(s->last, m->member_hash) >= 0) s->ordered = 0;
    memcpy(s->last, m->member_hash, STORE_HASH_LEN);
    s->n++;
    return 0;
}

static struct store_member mmember(int i, const char *contract, int dual)
{
    struct store_member m = {.active = 1,
                             .birth_year = 1950 + i,
                             .sex = STORE_SEX_FEMALE,
                             .dual_eligible = dual,
                             .lis = 0,
                             .disabled = 0};
    member_hash_of(i, m.member_hash);
    snprintf(m.contract_id, sizeof m.contract_id, "%s", contract);
    return m;
}

static void test_member_merge(void **state)
{
    struct fx *f = *state;
    struct store_member rows[3] = {mmember(1, "H1", 0), mmember(2, "H1", 1), mmember(3, "H2", 0)};
    struct store_merge_counts k;
    OK(store_member_upsert_batch(f->st, &ACTOR, rows, 3, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 3);
    assert_int_equal(k.updated + k.unchanged, 0);
    long long audits = audit_total(f, "member");
    /* the same rows again: nothing written, not even an audit row */
    OK(store_member_upsert_batch(f->st, &ACTOR, rows, 3, &k, f->err, sizeof f->err));
    assert_int_equal(k.unchanged, 3);
    assert_int_equal(k.inserted + k.updated, 0);
    assert_int_equal(audit_total(f, "member"), audits);
    /* one attribute changed: one update */
    rows[1].dual_eligible = 0;
    OK(store_member_upsert_batch(f->st, &ACTOR, rows, 3, &k, f->err, sizeof f->err));
    assert_int_equal(k.updated, 1);
    assert_int_equal(k.unchanged, 2);
    assert_int_equal(audit_total(f, "member"), audits + 1);
    struct store_member got;
    OK(store_member_get(f->st, rows[1].member_hash, &got, f->err, sizeof f->err));
    assert_int_equal(got.dual_eligible, 0);
    assert_int_equal(got.birth_year, 1952);
    rows[2].active = 0; /* enrollment ended */
    OK(store_member_upsert_batch(f->st, &ACTOR, rows, 3, &k, f->err, sizeof f->err));
    assert_int_equal(k.updated, 1);
    OK(store_member_get(f->st, rows[2].member_hash, &got, f->err, sizeof f->err));
    assert_int_equal(got.active, 0);
    /* scan: every member, in member_hash order */
    struct scan_state sc = {0, "", 1};
    OK(store_member_scan(f->st, scan_member_cb, &sc, f->err, sizeof f->err));
    assert_int_equal(sc.n, 3);
    assert_int_equal(sc.ordered, 1);
    /* bad input names the row and field; a failed batch writes nothing */
    struct store_member bad[2] = {mmember(4, "H1", 0), mmember(5, "h1", 0)};
    ASSERT_ERR(store_member_upsert_batch(f->st, &ACTOR, bad, 2, &k, f->err, sizeof f->err),
               SG_EINVAL, "rows[1].contract_id");
    ASSERT_ERR(store_member_get(f->st, bad[0].member_hash, &got, f->err, sizeof f->err),
               SG_ENOTFOUND, NULL);
}

static struct store_measure_result mresult(int member, const char *code, int year, int den, int ex,
                                           int num)
{
    struct store_measure_result r = {.measurement_year = year,
                                     .initial_population = 1,
                                     .denominator = den,
                                     .denominator_exclusion = ex,
                                     .numerator = num};
    member_hash_of(member, r.member_hash);
    snprintf(r.measure_code, sizeof r.measure_code, "%s", code);
    snprintf(r.source, sizeof r.source, "csv");
    return r;
}

static int count_results_cb(void *ctx, const struct store_measure_result *r)
{
    int *c = ctx;
    c[0]++;
    c[1] += r->numerator;
    return 0;
}

static void test_measure_result_merge(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 3; i++)
        add_member(f, i, "H1");
    struct store_measure_result r[4] = {
        mresult(0, "BCS", 2024, 1, 0, 1), mresult(1, "BCS", 2024, 1, 0, 0),
        mresult(2, "COL", 2024, 1, 1, 0), mresult(0, "BCS", 2025, 1, 0, 0)};
    struct store_merge_counts k;
    OK(store_measure_result_merge_batch(f->st, &ACTOR, r, 4, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 4);
    long long audits = audit_total(f, "measure_result");
    OK(store_measure_result_merge_batch(f->st, &ACTOR, r, 4, &k, f->err, sizeof f->err));
    assert_int_equal(k.unchanged, 4);
    assert_int_equal(k.inserted + k.updated, 0);
    assert_int_equal(audit_total(f, "measure_result"), audits);
    r[1].numerator = 1;
    OK(store_measure_result_merge_batch(f->st, &ACTOR, r, 4, &k, f->err, sizeof f->err));
    assert_int_equal(k.updated, 1);
    assert_int_equal(k.unchanged, 3);
    int c[2] = {0, 0};
    OK(store_measure_result_scan(f->st, 2024, count_results_cb, c, f->err, sizeof f->err));
    assert_int_equal(c[0], 3); /* three 2024 rows */
    assert_int_equal(c[1], 2); /* m0 and (now) m1 met BCS */
    int years[8];
    size_t ny;
    OK(store_measure_result_years(f->st, years, 8, &ny, f->err, sizeof f->err));
    assert_int_equal(ny, 2);
    assert_int_equal(years[0], 2024);
    assert_int_equal(years[1], 2025);
    struct store_measure_result bad[2] = {mresult(0, "CBP", 2024, 1, 0, 0),
                                          mresult(1, "CBP", 2024, 0, 0, 1)};
    ASSERT_ERR(store_measure_result_merge_batch(f->st, &ACTOR, bad, 2, &k, f->err, sizeof f->err),
               SG_EINVAL, "rows[1].numerator");
    bad[1] = mresult(60, "CBP", 2024, 1, 0, 0); /* no such member */
    ASSERT_ERR(store_measure_result_merge_batch(f->st, &ACTOR, bad, 2, &k, f->err, sizeof f->err),
               SG_EINVAL, NULL);
    bad[1] = mresult(1, "XYZ", 2024, 1, 0, 0);
    ASSERT_ERR(store_measure_result_merge_batch(f->st, &ACTOR, bad, 2, &k, f->err, sizeof f->err),
               SG_EINVAL, "rows[1].measure_code");
    bad[1] = mresult(0, "CBP", 2024, 1, 0, 1); /* the key of rows[0] again */
    ASSERT_ERR(store_measure_result_merge_batch(f->st, &ACTOR, bad, 2, &k, f->err, sizeof f->err),
               SG_EINVAL, "rows[1]: duplicate key");
    c[0] = c[1] = 0;
    OK(store_measure_result_scan(f->st, 2024, count_results_cb, c, f->err, sizeof f->err));
    assert_int_equal(c[0], 3); /* the CBP row of the failed batches is not there */
}

static int feature_scan_cb(void *ctx, const char *hash, int year, const char *features)
{
    int *n = ctx;
    (void)hash;
    json_t *j = json_loads(features, 0, NULL);
    assert_non_null(j);
    assert_int_equal(year, 2024);
    n[0]++;
    n[1] += (int)json_number_value(json_object_get(j, "ed_visits"));
    json_decref(j);
    return 0;
}

static void test_member_features(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 2; i++)
        add_member(f, i, "H1");
    struct store_member_feature r[2] = {{.measurement_year = 2024}, {.measurement_year = 2024}};
    member_hash_of(0, r[0].member_hash);
    member_hash_of(1, r[1].member_hash);
    r[0].features = "{\"ed_visits\":2,\"risk_score\":1.25}";
    r[1].features = "{\"ed_visits\":5}";
    snprintf(r[0].source, sizeof r[0].source, "csv");
    snprintf(r[1].source, sizeof r[1].source, "csv");
    struct store_merge_counts k;
    OK(store_member_feature_merge_batch(f->st, &ACTOR, r, 2, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 2);
    OK(store_member_feature_merge_batch(f->st, &ACTOR, r, 2, &k, f->err, sizeof f->err));
    assert_int_equal(k.unchanged, 2);
    r[1].features = "{\"ed_visits\":6}";
    OK(store_member_feature_merge_batch(f->st, &ACTOR, r, 2, &k, f->err, sizeof f->err));
    assert_int_equal(k.updated, 1);
    assert_int_equal(k.unchanged, 1);
    struct store_member_feature got;
    OK(store_member_feature_get(f->st, r[0].member_hash, 2024, &got, f->err, sizeof f->err));
    json_t *j = json_loads(got.features, 0, NULL);
    assert_non_null(j);
    assert_true(fabs(json_number_value(json_object_get(j, "risk_score")) - 1.25) < 1e-12);
    json_decref(j);
    store_member_feature_fini(&got);
    ASSERT_ERR(store_member_feature_get(f->st, r[0].member_hash, 2023, &got, f->err, sizeof f->err),
               SG_ENOTFOUND, NULL);
    int n[2] = {0, 0};
    OK(store_member_feature_scan(f->st, 2024, feature_scan_cb, n, f->err, sizeof f->err));
    assert_int_equal(n[0], 2);
    assert_int_equal(n[1], 8); /* 2 + 6 */
    r[1].features = "[1,2]";
    ASSERT_ERR(store_member_feature_merge_batch(f->st, &ACTOR, r, 2, &k, f->err, sizeof f->err),
               SG_EINVAL, "rows[1].features");
    r[1].features = "{\"ed_visits\":\"many\"}";
    ASSERT_ERR(store_member_feature_merge_batch(f->st, &ACTOR, r, 2, &k, f->err, sizeof f->err),
               SG_EINVAL, "rows[1].features.ed_visits");
    r[1].features = "{\"bad name\":1}";
    ASSERT_ERR(store_member_feature_merge_batch(f->st, &ACTOR, r, 2, &k, f->err, sizeof f->err),
               SG_EINVAL, "rows[1].features");
    r[1] = r[0]; /* the same (member, year) twice in one batch */
    ASSERT_ERR(store_member_feature_merge_batch(f->st, &ACTOR, r, 2, &k, f->err, sizeof f->err),
               SG_EINVAL, "rows[1]: duplicate key");
    struct store_member dm[3] = {mmember(0, "H1", 0), mmember(1, "H1", 0), mmember(0, "H2", 0)};
    ASSERT_ERR(store_member_upsert_batch(f->st, &ACTOR, dm, 3, &k, f->err, sizeof f->err),
               SG_EINVAL, "rows[2]: duplicate key");
    OK(store_member_upsert_batch(f->st, &ACTOR, dm, 2, &k, f->err, sizeof f->err));
    assert_int_equal(k.unchanged + k.updated, 2); /* both exist already */
}

/* store_import_batch: members, results and features in one transaction. A foreign-key failure
 * in the last part (a feature row of a member that neither exists nor is in the batch) must
 * leave the batch's new member and its result unwritten. */
static void test_import_batch(void **state)
{
    struct fx *f = *state;
    struct store_member m[2] = {mmember(0, "H1", 0), mmember(1, "H1", 1)};
    struct store_measure_result r[3] = {mresult(0, "BCS", 2025, 1, 0, 1),
                                        mresult(1, "BCS", 2025, 1, 0, 0),
                                        mresult(1, "COL", 2025, 0, 0, 0)};
    struct store_member_feature fe[2] = {{.measurement_year = 2025}, {.measurement_year = 2025}};
    member_hash_of(0, fe[0].member_hash);
    member_hash_of(1, fe[1].member_hash);
    fe[0].features = "{\"fhir_encounters\":3}";
    fe[1].features = "{\"fhir_encounters\":0}";
    snprintf(fe[0].source, sizeof fe[0].source, "fhir");
    snprintf(fe[1].source, sizeof fe[1].source, "fhir");
    struct store_merge_counts k[3];
    OK(store_import_batch(f->st, &ACTOR, m, 2, r, 3, fe, 2, k, f->err, sizeof f->err));
    assert_int_equal(k[0].inserted, 2);
    assert_int_equal(k[1].inserted, 3);
    assert_int_equal(k[2].inserted, 2);
    long long a0 = audit_total(f, "member") + audit_total(f, "measure_result") +
                   audit_total(f, "member_feature");
    assert_int_equal(a0, 3); /* one merge audit row per part */
    OK(store_import_batch(f->st, &ACTOR, m, 2, r, 3, fe, 2, k, f->err, sizeof f->err));
    for (int i = 0; i < 3; i++)
        assert_int_equal(k[i].inserted + k[i].updated, 0);
    assert_int_equal(k[0].unchanged, 2);
    assert_int_equal(k[1].unchanged, 3);
    assert_int_equal(k[2].unchanged, 2);
    assert_int_equal(audit_total(f, "member") + audit_total(f, "measure_result") +
                         audit_total(f, "member_feature"),
                     a0);
    /* results only (no members, no features) is allowed */
    OK(store_import_batch(f->st, &ACTOR, NULL, 0, &r[1], 1, NULL, 0, k, f->err, sizeof f->err));
    assert_int_equal(k[1].unchanged, 1);

    /* atomicity: member 2 and its result are new, the second feature row names member 61 */
    struct store_member m2 = mmember(2, "H1", 0);
    struct store_measure_result r2 = mresult(2, "BCS", 2025, 1, 0, 0);
    struct store_member_feature fe2[2] = {{.measurement_year = 2025}, {.measurement_year = 2025}};
    member_hash_of(2, fe2[0].member_hash);
    member_hash_of(61, fe2[1].member_hash);
    fe2[0].features = fe2[1].features = "{\"fhir_encounters\":1}";
    snprintf(fe2[0].source, sizeof fe2[0].source, "fhir");
    snprintf(fe2[1].source, sizeof fe2[1].source, "fhir");
    assert_int_not_equal(
        store_import_batch(f->st, &ACTOR, &m2, 1, &r2, 1, fe2, 2, k, f->err, sizeof f->err), SG_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(k[i].inserted + k[i].updated + k[i].unchanged, 0);
    struct store_member got;
    ASSERT_ERR(store_member_get(f->st, m2.member_hash, &got, f->err, sizeof f->err), SG_ENOTFOUND,
               NULL);
    int c[2] = {0, 0};
    OK(store_measure_result_scan(f->st, 2025, count_results_cb, c, f->err, sizeof f->err));
    assert_int_equal(c[0], 3); /* member 2's BCS row was rolled back */
    struct store_member_feature gf;
    ASSERT_ERR(store_member_feature_get(f->st, fe2[0].member_hash, 2025, &gf, f->err, sizeof f->err),
               SG_ENOTFOUND, NULL);
    assert_int_equal(audit_total(f, "member") + audit_total(f, "measure_result") +
                         audit_total(f, "member_feature"),
                     a0);

    /* validation names the part and row; nothing at all is refused */
    fe2[1].features = "[1]";
    ASSERT_ERR(store_import_batch(f->st, &ACTOR, &m2, 1, &r2, 1, fe2, 2, k, f->err, sizeof f->err),
               SG_EINVAL, "features[1].features");
    r2.numerator = 1;
    r2.denominator = 0;
    ASSERT_ERR(store_import_batch(f->st, &ACTOR, &m2, 1, &r2, 1, NULL, 0, k, f->err, sizeof f->err),
               SG_EINVAL, "results[0].numerator");
    ASSERT_ERR(store_import_batch(f->st, &ACTOR, NULL, 0, NULL, 0, NULL, 0, k, f->err, sizeof f->err),
               SG_EINVAL, NULL);
}

/* A merge into keys that do not exist yet may take a faster path than the upsert (PostgreSQL:
 * COPY straight into the table); a merge that meets existing keys, or fails, must not show it.
 * On a fresh database: a failing first batch (foreign key) writes nothing; a batch whose keys
 * partly exist gets the upsert's counts and values; a failing import batch whose members and
 * results are all new leaves none of them. Expected counts worked out by hand from the rows. */
static void test_merge_new_keys(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 3; i++)
        add_member(f, i, "H1");
    struct store_merge_counts k;
    struct store_measure_result bad[3] = {mresult(0, "BCS", 2024, 1, 0, 1),
                                          mresult(1, "BCS", 2024, 1, 0, 0),
                                          mresult(62, "BCS", 2024, 1, 0, 0)}; /* no member 62 */
    assert_int_not_equal(
        store_measure_result_merge_batch(f->st, &ACTOR, bad, 3, &k, f->err, sizeof f->err), SG_OK);
    assert_int_equal(k.inserted + k.updated + k.unchanged, 0);
    int c[2] = {0, 0};
    OK(store_measure_result_scan(f->st, 2024, count_results_cb, c, f->err, sizeof f->err));
    assert_int_equal(c[0], 0);
    assert_int_equal(audit_total(f, "measure_result"), 0);

    /* all new: 2 inserted */
    OK(store_measure_result_merge_batch(f->st, &ACTOR, bad, 2, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 2);
    assert_int_equal(k.updated + k.unchanged, 0);
    /* partly existing: m0 BCS unchanged, m1 BCS now met (updated), m2 COL and m0 COL new */
    struct store_measure_result mix[4] = {
        mresult(0, "BCS", 2024, 1, 0, 1), mresult(1, "BCS", 2024, 1, 0, 1),
        mresult(2, "COL", 2024, 1, 0, 0), mresult(0, "COL", 2024, 1, 1, 0)};
    OK(store_measure_result_merge_batch(f->st, &ACTOR, mix, 4, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 2);
    assert_int_equal(k.updated, 1);
    assert_int_equal(k.unchanged, 1);
    c[0] = c[1] = 0;
    OK(store_measure_result_scan(f->st, 2024, count_results_cb, c, f->err, sizeof f->err));
    assert_int_equal(c[0], 4); /* m0 BCS, m1 BCS, m2 COL, m0 COL */
    assert_int_equal(c[1], 2); /* m0 and m1 met BCS */
    /* new keys again after keys existed: still merged */
    struct store_measure_result next = mresult(2, "BCS", 2025, 1, 0, 0);
    OK(store_measure_result_merge_batch(f->st, &ACTOR, &next, 1, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 1);

    /* features: a failing first batch writes nothing, then the same partly-existing rules */
    struct store_member_feature fe[3] = {{.measurement_year = 2024},
                                         {.measurement_year = 2024},
                                         {.measurement_year = 2024}};
    member_hash_of(0, fe[0].member_hash);
    member_hash_of(1, fe[1].member_hash);
    member_hash_of(63, fe[2].member_hash); /* no member 63 */
    for (int i = 0; i < 3; i++) {
        fe[i].features = "{\"ed_visits\":1}";
        snprintf(fe[i].source, sizeof fe[i].source, "csv");
    }
    assert_int_not_equal(
        store_member_feature_merge_batch(f->st, &ACTOR, fe, 3, &k, f->err, sizeof f->err), SG_OK);
    struct store_member_feature got;
    ASSERT_ERR(store_member_feature_get(f->st, fe[0].member_hash, 2024, &got, f->err, sizeof f->err),
               SG_ENOTFOUND, NULL);
    OK(store_member_feature_merge_batch(f->st, &ACTOR, fe, 1, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 1);
    fe[0].features = "{\"ed_visits\":4}";
    OK(store_member_feature_merge_batch(f->st, &ACTOR, fe, 2, &k, f->err, sizeof f->err));
    assert_int_equal(k.inserted, 1);
    assert_int_equal(k.updated, 1);
    int n[2] = {0, 0};
    OK(store_member_feature_scan(f->st, 2024, feature_scan_cb, n, f->err, sizeof f->err));
    assert_int_equal(n[0], 2);
    assert_int_equal(n[1], 5); /* 4 + 1 */
}

/* The same atomicity as test_import_batch's, on a fresh database where every part is new. */
static void test_import_batch_new_keys(void **state)
{
    struct fx *f = *state;
    struct store_member m[2] = {mmember(0, "H1", 0), mmember(1, "H1", 1)};
    struct store_measure_result r[2] = {mresult(0, "BCS", 2025, 1, 0, 1),
                                        mresult(1, "BCS", 2025, 1, 0, 0)};
    struct store_member_feature fe[2] = {{.measurement_year = 2025}, {.measurement_year = 2025}};
    member_hash_of(0, fe[0].member_hash);
    member_hash_of(64, fe[1].member_hash); /* neither exists nor is in the batch */
    fe[0].features = fe[1].features = "{\"fhir_encounters\":2}";
    snprintf(fe[0].source, sizeof fe[0].source, "fhir");
    snprintf(fe[1].source, sizeof fe[1].source, "fhir");
    struct store_merge_counts k[3];
    assert_int_not_equal(
        store_import_batch(f->st, &ACTOR, m, 2, r, 2, fe, 2, k, f->err, sizeof f->err), SG_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(k[i].inserted + k[i].updated + k[i].unchanged, 0);
    struct store_member gm;
    ASSERT_ERR(store_member_get(f->st, m[0].member_hash, &gm, f->err, sizeof f->err), SG_ENOTFOUND,
               NULL);
    int c[2] = {0, 0};
    OK(store_measure_result_scan(f->st, 2025, count_results_cb, c, f->err, sizeof f->err));
    assert_int_equal(c[0], 0);
    assert_int_equal(audit_total(f, "member") + audit_total(f, "measure_result") +
                         audit_total(f, "member_feature"),
                     0);
    /* without the bad row the same batch goes in whole */
    OK(store_import_batch(f->st, &ACTOR, m, 2, r, 2, fe, 1, k, f->err, sizeof f->err));
    assert_int_equal(k[0].inserted, 2);
    assert_int_equal(k[1].inserted, 2);
    assert_int_equal(k[2].inserted, 1);
    OK(store_member_get(f->st, m[1].member_hash, &gm, f->err, sizeof f->err));
    assert_int_equal(gm.dual_eligible, 1);
}

static struct store_model mmodel(const char *code, const char *learner)
{
    struct store_model m = {.trained_year = 2024};
    snprintf(m.measure_code, sizeof m.measure_code, "%s", code);
    snprintf(m.learner, sizeof m.learner, "%s", learner);
    memset(m.fingerprint, 'a', 64);
    m.fingerprint[64] = '\0';
    m.hyperparams = "{\"seed\":1}";
    m.metrics = "{\"auc\":0.75}";
    m.model_text = "stargap-model 1\n";
    return m;
}

static void test_models(void **state)
{
    struct fx *f = *state;
    struct store_model a = mmodel("BCS", "logreg"), b = mmodel("BCS", "gbdt"),
                       c = mmodel("COL", "gbdt");
    OK(store_model_create(f->st, &ACTOR, &a, f->err, sizeof f->err));
    OK(store_model_create(f->st, &ACTOR, &b, f->err, sizeof f->err));
    OK(store_model_create(f->st, &ACTOR, &c, f->err, sizeof f->err));
    assert_int_equal(a.version, 1);
    assert_int_equal(b.version, 2);
    assert_int_equal(c.version, 1);
    assert_int_equal(audit_total(f, "model"), 3);
    struct store_model got;
    OK(store_model_get_latest(f->st, "BCS", &got, f->err, sizeof f->err));
    assert_int_equal(got.version, 2);
    assert_string_equal(got.learner, "gbdt");
    assert_string_equal(got.model_id, b.model_id);
    assert_string_equal(got.model_text, "stargap-model 1\n");
    json_t *j = json_loads(got.metrics, 0, NULL);
    assert_true(fabs(json_number_value(json_object_get(j, "auc")) - 0.75) < 1e-12);
    json_decref(j);
    store_model_fini(&got);
    OK(store_model_get(f->st, a.model_id, &got, f->err, sizeof f->err));
    assert_int_equal(got.version, 1);
    store_model_fini(&got);
    ASSERT_ERR(store_model_get_latest(f->st, "CBP", &got, f->err, sizeof f->err), SG_ENOTFOUND,
               NULL);
    struct store_model_list l;
    OK(store_model_list(f->st, NULL, &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 3);
    assert_string_equal(l.items[0].measure_code, "BCS");
    assert_int_equal(l.items[0].version, 2); /* newest first within a measure */
    assert_int_equal(l.items[1].version, 1);
    assert_string_equal(l.items[2].measure_code, "COL");
    assert_null(l.items[0].model_text);
    store_model_list_free(&l);
    OK(store_model_list(f->st, "PCR", &l, f->err, sizeof f->err));
    assert_int_equal(l.n, 0);
    store_model_list_free(&l);
    struct store_model bad = mmodel("BCS", "forest");
    ASSERT_ERR(store_model_create(f->st, &ACTOR, &bad, f->err, sizeof f->err), SG_EINVAL,
               "learner");
    bad = mmodel("BCS", "gbdt");
    bad.fingerprint[0] = 'X';
    ASSERT_ERR(store_model_create(f->st, &ACTOR, &bad, f->err, sizeof f->err), SG_EINVAL,
               "fingerprint");
    bad = mmodel("XYZ", "gbdt");
    ASSERT_ERR(store_model_create(f->st, &ACTOR, &bad, f->err, sizeof f->err), SG_EINVAL,
               "measure_code");
    bad = mmodel("BCS", "gbdt");
    bad.metrics = "[]";
    ASSERT_ERR(store_model_create(f->st, &ACTOR, &bad, f->err, sizeof f->err), SG_EINVAL,
               "metrics");
    OK(store_model_get_latest(f->st, "BCS", &got, f->err, sizeof f->err));
    assert_int_equal(got.version, 2); /* the failed creates left no version behind */
    store_model_fini(&got);
}
