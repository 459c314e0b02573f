/* http_predict.inc.c: black-box tests of the prediction endpoints (issue 6), included by
 * test_http_api.c and run last, against a portfolio generated, imported and trained through the
 * real binary (`stargap generate`, `import`, `train --year 2024 --measure COL`) into the test's
 * database, with a server of its own. Which members have an open, closed or no COL gap in 2025
 * is read from the generated measure_results.csv; member hashes are computed here with HMAC. */

struct col_members {
    char open[3][32]; /* COL 2025: denominator, not excluded, numerator 0 */
    char closed[32];  /* COL 2025: numerator 1 */
    char outside[32]; /* no COL 2025 denominator row */
    int n_open;
};

static void find_col_members(const char *dir, struct col_members *cm)
{
    char path[600], line[256];
    memset(cm, 0, sizeof cm[0]);
    snprintf(path, sizeof path, "%s/measure_results.csv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char inden[100000]; /* member number -> in COL 2025 denominator */
    memset(inden, 0, sizeof inden);
    while (fgets(line, sizeof line, f)) {
        char id[32], code[16];
        int y, ip, den, ex, num;
        if (sscanf(line, "%31[^,],%15[^,],%d,%d,%d,%d,%d", id, code, &y, &ip, &den, &ex, &num) != 7)
            continue;
        if (strcmp(code, "COL") || y != 2025 || !den) continue;
        inden[atoi(id + 1) % 100000] = 1;
        if (ex) continue;
        if (!num && cm->n_open < 3) snprintf(cm->open[cm->n_open++], sizeof cm->open[0], "%s", id);
        if (num && !cm->closed[0]) snprintf(cm->closed, sizeof cm->closed, "%s", id);
    }
    fclose(f);
    for (int i = 1; i < 100000 && !cm->outside[0]; i++)
        if (!inden[i]) snprintf(cm->outside, sizeof cm->outside, "M%08d", i);
    assert_int_equal(cm->n_open, 3);
    assert_true(cm->closed[0] && cm->outside[0]);
}

static void test_predict_endpoints(void **state)
{
    (void)state;
    char dir[400], out[8192];
    snprintf(dir, sizeof dir, "%s/gen", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    const char *gen[] = {
        STARGAP_BINARY, "generate", "--members", "1500",  "--contracts", "3", "--years",
        "2023-2025",    "--seed",   "5",         "--out", dir,           NULL};
    assert_int_equal(run_cmd(gen, out, sizeof out), 0);
    const char *imp[] = {STARGAP_BINARY, "--db", db_url, "import", "--quiet", dir, NULL};
    assert_int_equal(run_cmd(imp, out, sizeof out), 0);
    const char *tr[] = {STARGAP_BINARY, "--db",      db_url, "train", "--year",
                        "2024",         "--measure", "COL",  NULL};
    assert_int_equal(run_cmd(tr, out, sizeof out), 0);
    struct col_members cm;
    find_col_members(dir, &cm);

    int p2;
    pid_t pid = start_server(NULL, &p2);
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%d", p2);
    struct resp r;
    char body[8192], h[SG_HEX64_LEN];

    /* one member: created, then the stored row again */
    snprintf(body, sizeof body,
             "{\"member_id\":\"%s\",\"measurement_year\":2025,\"include_shap\":true}", cm.open[0]);
    http("POST", "/api/v1/predict/COL", key_writer, body, NULL, &r);
    expect_status(&r, 201, "predict");
    hmac_hex(cm.open[0], h);
    assert_string_equal(jstr(r.json, "member_hash"), h);
    assert_string_equal(jstr(r.json, "model_version"), "COL-v1");
    double p = json_real_value(json_object_get(r.json, "gap_probability"));
    assert_true(p > 0 && p < 1);
    assert_string_equal(jstr(r.json, "risk_tier"), p >= 0.7 ? "high" : p >= 0.4 ? "medium" : "low");
    assert_int_equal(json_array_size(json_object_get(r.json, "top_features")), 5);
    json_t *shap = json_object_get(r.json, "shap_values");
    double sum = json_number_value(json_object_get(shap, "base_value"));
    const char *fname;
    json_t *fv;
    json_object_foreach(json_object_get(shap, "values"), fname, fv) sum += json_number_value(fv);
    /* reals travel with 10 significant digits: compare the log-odds loosely */
    assert_true(fabs(sum - log(p / (1 - p))) < 1e-6);
    char pid_s[STORE_ID_LEN];
    snprintf(pid_s, sizeof pid_s, "%s", jstr(r.json, "prediction_id"));
    resp_free(&r);
    snprintf(body, sizeof body, "{\"member_hash\":\"%s\",\"measurement_year\":2025}", h);
    http("POST", "/api/v1/predict/COL", key_writer, body, NULL, &r);
    expect_status(&r, 200, "predict again");
    assert_string_equal(jstr(r.json, "prediction_id"), pid_s);
    assert_null(json_object_get(r.json, "shap_values"));
    assert_false(json_is_true(json_object_get(r.json, "created")));
    resp_free(&r);
    char path[200];
    snprintf(path, sizeof path, "/api/v1/predictions/%s", pid_s);
    http("GET", path, key_reader, NULL, NULL, &r);
    expect_status(&r, 200, "get prediction");
    assert_true(fabs(json_real_value(json_object_get(r.json, "gap_probability")) - p) < 1e-9);
    resp_free(&r);
    http("GET", "/api/v1/predictions/6f1c2d3e-0000-4000-8000-000000000000", key_reader, NULL, NULL,
         &r);
    expect_error(&r, 404, "not_found", NULL, "unknown prediction");
    resp_free(&r);
    http("GET", "/api/v1/predictions/not-a-uuid", key_reader, NULL, NULL, &r);
    expect_error(&r, 400, "invalid_input", NULL, "bad prediction id");
    resp_free(&r);

    /* error paths */
    snprintf(body, sizeof body, "{\"member_id\":\"%s\",\"measurement_year\":2025}", cm.open[1]);
    http("POST", "/api/v1/predict/COL", key_reader, body, NULL, &r);
    expect_error(&r, 403, NULL, NULL, "reader may not predict");
    resp_free(&r);
    http("POST", "/api/v1/predict/XYZ", key_writer, body, NULL, &r);
    expect_error(&r, 404, "not_found", "measure_code", "unknown measure");
    resp_free(&r);
    http("POST", "/api/v1/predict/BCS", key_writer, body, NULL, &r);
    expect_error(&r, 404, "model_not_found", "no trained model", "no model");
    resp_free(&r);
    snprintf(body, sizeof body, "{\"member_id\":\"%s\",\"measurement_year\":2025}", cm.closed);
    http("POST", "/api/v1/predict/COL", key_writer, body, NULL, &r);
    expect_error(&r, 422, "gap_closed", NULL, "closed gap");
    resp_free(&r);
    snprintf(body, sizeof body, "{\"member_id\":\"%s\",\"measurement_year\":2025}", cm.outside);
    http("POST", "/api/v1/predict/COL", key_writer, body, NULL, &r);
    expect_error(&r, 422, "not_in_denominator", "denominator", "outside the denominator");
    resp_free(&r);
    http("POST", "/api/v1/predict/COL", key_writer,
         "{\"member_id\":\"NO-SUCH-MEMBER\",\"measurement_year\":2025}", NULL, &r);
    expect_error(&r, 404, "not_found", NULL, "unknown member");
    resp_free(&r);
    snprintf(body, sizeof body,
             "{\"member_id\":\"%s\",\"member_hash\":\"%s\",\"measurement_year\":2025}", cm.open[1],
             h);
    http("POST", "/api/v1/predict/COL", key_writer, body, NULL, &r);
    expect_error(&r, 400, "invalid_input", "exactly one", "both member fields");
    resp_free(&r);
    snprintf(body, sizeof body, "{\"member_id\":\"%s\"}", cm.open[1]);
    http("POST", "/api/v1/predict/COL", key_writer, body, NULL, &r);
    expect_error(&r, 400, "invalid_input", "measurement_year", "year missing");
    resp_free(&r);
    snprintf(body, sizeof body, "{\"member_id\":\"%s\",\"measurement_year\":2025,\"bogus\":1}",
             cm.open[1]);
    http("POST", "/api/v1/predict/COL", key_writer, body, NULL, &r);
    expect_error(&r, 400, "invalid_input", "bogus", "unknown field");
    resp_free(&r);

    /* batch: two open gaps scored, a closed one and one outside listed as errors */
    snprintf(body, sizeof body,
             "{\"member_ids\":[\"%s\",\"%s\",\"%s\",\"%s\"],\"measurement_year\":2025}", cm.open[1],
             cm.open[2], cm.closed, cm.outside);
    http("POST", "/api/v1/predict/batch/COL", key_writer, body, NULL, &r);
    expect_status(&r, 200, "batch");
    assert_int_equal(jint(r.json, "requested"), 4);
    assert_int_equal(jint(r.json, "count"), 2);
    assert_int_equal(jint(r.json, "created"), 2);
    json_t *bt = json_object_get(r.json, "by_tier");
    assert_int_equal(jint(bt, "high") + jint(bt, "medium") + jint(bt, "low"), 2);
    json_t *errs = json_object_get(r.json, "errors");
    assert_int_equal(json_array_size(errs), 2);
    assert_int_equal(jint(json_array_get(errs, 0), "index"), 2);
    assert_string_equal(jstr(json_array_get(errs, 0), "code"), "gap_closed");
    assert_string_equal(jstr(json_array_get(errs, 1), "code"), "not_in_denominator");
    assert_true(json_is_number(json_object_get(r.json, "processing_time_ms")));
    resp_free(&r);
    struct sg_buf big;
    sg_buf_init(&big, 1 << 20);
    assert_int_equal(sg_buf_puts(&big, "{\"measurement_year\":2025,\"member_hashes\":["), 0);
    for (int i = 0; i < 1001; i++)
        assert_int_equal(sg_buf_printf(&big, "%s\"%s\"", i ? "," : "", h), 0);
    assert_int_equal(sg_buf_puts(&big, "]}"), 0);
    http("POST", "/api/v1/predict/batch/COL", key_writer, sg_buf_str(&big), NULL, &r);
    /* 1001 hashes exceed the 64 KiB body limit of this server (413) or the 1,000 cap (400) */
    assert_true(r.status == 400 || r.status == 413);
    resp_free(&r);
    sg_buf_fini(&big);

    /* portfolio: the COL gap is scored, the measures without a model are reported */
    snprintf(body, sizeof body, "{\"member_id\":\"%s\",\"measurement_year\":2025}", cm.open[0]);
    http("POST", "/api/v1/predict/portfolio", key_writer, body, NULL, &r);
    expect_status(&r, 200, "portfolio");
    assert_int_equal(jint(r.json, "total_gaps"), 1);
    json_t *preds = json_object_get(r.json, "predictions");
    assert_int_equal(json_array_size(preds), 1);
    json_t *p0 = json_array_get(preds, 0);
    assert_string_equal(jstr(p0, "prediction_id"), pid_s); /* the stored row */
    double w = json_number_value(json_object_get(p0, "star_weight"));
    assert_true(fabs(json_number_value(json_object_get(r.json, "priority_score")) - p * w) < 1e-8);
    resp_free(&r);
    snprintf(body, sizeof body, "{\"member_id\":\"%s\",\"measurement_year\":2030}", cm.open[0]);
    http("POST", "/api/v1/predict/portfolio", key_writer, body, NULL, &r);
    expect_error(&r, 422, "not_in_denominator", NULL, "no denominator in 2030");
    resp_free(&r);
    assert_int_equal(stop_server(pid), 0);
}
