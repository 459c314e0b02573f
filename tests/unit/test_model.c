/* test_model.c: unit tests for src/model and core/rng: the PRNG against reference outputs,
 * metrics against hand-worked values (AUC with ties, Brier, log loss, ECE), logistic regression
 * against its closed-form maximum-likelihood solution, a one-split GBDT against a hand-computed
 * Newton step, TreeSHAP against brute-force Shapley values over all feature subsets (random trees
 * and a trained model), training determinism and the bit-exact text round trip, explanations,
 * risk tiers, recommendations and the feature builder. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after the headers it needs (stdarg, stddef, setjmp) */

#include "core/buf.h"
#include "core/rng.h"
#include "model/features.h"
#include "model/gbdt.h"
#include "model/logreg.h"
#include "model/matrix.h"
#include "model/metrics.h"
#include "model/model.h"

/* xoshiro256** from state {1,2,3,4} and splitmix64 from 0: outputs of the authors' reference C
 * code (recomputed independently in Python for this test). */
static void test_rng_reference(void **state)
{
    (void)state;
    struct sg_rng r = {{1, 2, 3, 4}};
    assert_true(sg_rng_next(&r) == 11520ULL);
    assert_true(sg_rng_next(&r) == 0ULL);
    assert_true(sg_rng_next(&r) == 1509978240ULL);
    assert_true(sg_rng_next(&r) == 1215971899390074240ULL);
    uint64_t st = 0;
    assert_true(sg_splitmix64(&st) == 0xe220a8397b1dcdafULL);
    assert_true(sg_splitmix64(&st) == 0x6e789e6aa1b965f4ULL);
    assert_true(sg_splitmix64(&st) == 0x06c45d188009454fULL);
    /* uniform in [0,1), below in range, shuffle is a permutation */
    sg_rng_seed(&r, 42);
    uint32_t idx[100];
    for (uint32_t i = 0; i < 100; i++)
        idx[i] = i;
    sg_rng_shuffle(&r, idx, 100);
    int seen[100] = {0};
    for (int i = 0; i < 100; i++)
        seen[idx[i]]++;
    for (int i = 0; i < 100; i++)
        assert_int_equal(seen[i], 1);
    double mean = 0.0;
    for (int i = 0; i < 100000; i++) {
        double u = sg_rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        mean += u;
        assert_true(sg_rng_below(&r, 7) < 7);
    }
    assert_true(fabs(mean / 100000 - 0.5) < 0.01);
}

static void test_metrics_hand(void **state)
{
    (void)state;
    /* positives score {0.4, 0.8}, negatives {0.1, 0.4}: pairs 1 + 0.5 (tie) + 1 + 1 = 3.5 of 4 */
    double p[] = {0.1, 0.4, 0.4, 0.8};
    uint8_t y[] = {0, 1, 0, 1};
    double auc;
    assert_int_equal(metric_auc(p, y, 4, &auc), SG_OK);
    assert_true(fabs(auc - 0.875) < 1e-15);
    /* all tied: 0.5 */
    double q[] = {0.3, 0.3, 0.3};
    uint8_t z[] = {1, 0, 1};
    assert_int_equal(metric_auc(q, z, 3, &auc), SG_OK);
    assert_true(fabs(auc - 0.5) < 1e-15);
    uint8_t one[] = {1, 1, 1};
    assert_int_equal(metric_auc(q, one, 3, &auc), SG_OK);
    assert_true(isnan(auc));

    /* ECE, 10 bins: bin0 {0.05 | 0} -> 0.05*1/4; bin1 {0.15, 0.15 | 0, 1} -> 0.35*2/4;
     * bin9 {0.95 | 1} -> 0.05*1/4; total 0.2. Brier (0.0025+0.0225+0.7225+0.0025)/4 = 0.1875. */
    double r[] = {0.05, 0.15, 0.15, 0.95};
    uint8_t w[] = {0, 0, 1, 1};
    assert_true(fabs(metric_ece(r, w, 4, 10) - 0.2) < 1e-12);
    assert_true(fabs(metric_brier(r, w, 4) - 0.1875) < 1e-12);
    double ll = -(log(0.95) + log(0.85) + log(0.15) + log(0.95)) / 4.0;
    assert_true(fabs(metric_logloss(r, w, 4) - ll) < 1e-12);
}

/* One binary feature, no penalty: the MLE reproduces the two group log-odds exactly. */
static void test_logreg_closed_form(void **state)
{
    (void)state;
    struct model_matrix X;
    assert_int_equal(model_matrix_init(&X, 30, 1), SG_OK);
    uint8_t y[30];
    uint32_t rows[30];
    for (int i = 0; i < 30; i++) {
        rows[i] = (uint32_t)i;
        X.x[i] = i < 10 ? 0.0f : 1.0f;
        y[i] = i < 10 ? (i < 3) : (i < 25); /* x=0: 3/10 positive; x=1: 15/20 positive */
    }
    struct logreg_params prm;
    logreg_params_default(&prm);
    prm.l2 = 0.0;
    prm.tol = 1e-12;
    struct logreg m;
    char err[SG_ERRLEN];
    assert_int_equal(logreg_fit(&X, y, rows, 30, &prm, &m, err, sizeof err), SG_OK);
    float x0 = 0.0f, x1 = 1.0f;
    assert_true(fabs(logreg_margin(&m, &x0) - log(0.3 / 0.7)) < 1e-9);
    assert_true(fabs(logreg_margin(&m, &x1) - log(0.75 / 0.25)) < 1e-9);
    /* standardization: mean 2/3, sd sqrt(2/9) */
    assert_true(fabs(m.mean[0] - 2.0 / 3.0) < 1e-12);
    assert_true(fabs(m.sd[0] - sqrt(2.0 / 9.0)) < 1e-12);
    /* linear SHAP: phi = w (x - mean) / sd, base + phi = margin */
    double phi, base;
    logreg_shap(&m, &x1, &phi, &base);
    assert_true(fabs(base + phi - logreg_margin(&m, &x1)) < 1e-12);
    assert_true(fabs(phi - m.w[0] * (1.0 - 2.0 / 3.0) / sqrt(2.0 / 9.0)) < 1e-12);
    logreg_fini(&m);

    /* with an L2 penalty the standardized weight shrinks toward 0 but keeps its sign, and the
     * gradient of the penalized objective vanishes at the solution */
    prm.l2 = 5.0;
    assert_int_equal(logreg_fit(&X, y, rows, 30, &prm, &m, err, sizeof err), SG_OK);
    double gw = prm.l2 * m.w[0], gb = 0.0;
    for (int i = 0; i < 30; i++) {
        double z = (X.x[i] - m.mean[0]) / m.sd[0];
        double q = 1.0 / (1.0 + exp(-(m.b + m.w[0] * z)));
        gw += (q - y[i]) * z;
        gb += q - y[i];
    }
    assert_true(fabs(gw) < 1e-8 && fabs(gb) < 1e-8);
    assert_true(m.w[0] > 0.0);
    logreg_fini(&m);
    model_matrix_fini(&X);
}

/* One tree, one split, learning rate 1, lambda 0: x in {1, 2}, 10 rows each, 2/10 and 8/10
 * positive. Base log-odds 0, p = 0.5, g = 0.5 - y, h = 0.25: left G = 5 - 2 = 3, H = 2.5 ->
 * leaf -1.2; right G = -3 -> +1.2; threshold 2 (x < 2 goes left). */
static void test_gbdt_one_split(void **state)
{
    (void)state;
    struct model_matrix X;
    assert_int_equal(model_matrix_init(&X, 20, 1), SG_OK);
    uint8_t y[20];
    uint32_t rows[20];
    for (int i = 0; i < 20; i++) {
        rows[i] = (uint32_t)i;
        X.x[i] = i < 10 ? 1.0f : 2.0f;
        y[i] = i < 10 ? (i < 2) : (i < 18);
    }
    struct gbdt_params prm;
    gbdt_params_default(&prm);
    prm.max_trees = 1;
    prm.learning_rate = 1.0;
    prm.lambda = 0.0;
    prm.min_child_weight = 0.0;
    prm.max_depth = 1;
    struct gbdt g;
    char err[SG_ERRLEN];
    assert_int_equal(gbdt_fit(&X, y, rows, 20, NULL, 0, &prm, &g, err, sizeof err), SG_OK);
    assert_int_equal(g.n_trees, 1);
    assert_true(fabs(g.base) < 1e-15);
    const struct gbdt_tree *t = &g.trees[0];
    assert_int_equal(t->n_nodes, 3);
    assert_int_equal(t->nodes[0].feature, 0);
    assert_true(t->nodes[0].threshold == 2.0f);
    assert_true(fabs(t->nodes[1].value + 1.2) < 1e-12);
    assert_true(fabs(t->nodes[2].value - 1.2) < 1e-12);
    assert_true(t->nodes[0].cover == 20.0 && t->nodes[1].cover == 10.0);
    float a = 1.0f, b = 2.0f;
    assert_true(fabs(gbdt_margin(&g, &a) + 1.2) < 1e-12);
    double out[2];
    float ab[2] = {1.0f, 2.0f};
    gbdt_margin_batch(&g, ab, 2, out);
    assert_true(out[0] == gbdt_margin(&g, &a) && out[1] == gbdt_margin(&g, &b));
    /* SHAP of a one-split tree: base = mean of the leaves by cover = 0; phi = margin */
    double phi, base;
    assert_int_equal(gbdt_shap(&g, &b, &phi, &base), SG_OK);
    assert_true(fabs(base) < 1e-12 && fabs(phi - 1.2) < 1e-12);
    gbdt_free_members(&g);
    model_matrix_fini(&X);
}

/* ---- brute-force Shapley values of the path-dependent value function ---- */

static double v_subset(const struct gbdt_tree *t, uint32_t i, const float *x, unsigned S)
{
    const struct gbdt_node *n = &t->nodes[i];
    if (n->feature < 0) return n->value;
    uint32_t l = (uint32_t)n->left, r = l + 1;
    if ((S >> n->feature) & 1u) return v_subset(t, x[n->feature] < n->threshold ? l : r, x, S);
    return (t->nodes[l].cover * v_subset(t, l, x, S) + t->nodes[r].cover * v_subset(t, r, x, S)) /
           n->cover;
}

static double v_model(const struct gbdt *g, const float *x, unsigned S)
{
    double s = g->base;
    for (size_t t = 0; t < g->n_trees; t++)
        s += v_subset(&g->trees[t], 0, x, S);
    return s;
}

static void brute_shap(const struct gbdt *g, const float *x, double *phi)
{
    int p = (int)g->p;
    double fact[17] = {1};
    for (int k = 1; k <= 16; k++)
        fact[k] = fact[k - 1] * k;
    for (int j = 0; j < p; j++) {
        phi[j] = 0.0;
        for (unsigned S = 0; S < (1u << p); S++) {
            if ((S >> j) & 1u) continue;
            int s = __builtin_popcount(S);
            double w = fact[s] * fact[p - s - 1] / fact[p];
            phi[j] += w * (v_model(g, x, S | (1u << j)) - v_model(g, x, S));
        }
    }
}

/* Grows a random tree in nodes[] from node i; returns the next free index. */
static uint32_t random_tree(struct gbdt_node *nodes, uint32_t i, uint32_t next, int depth, int p,
                            struct sg_rng *r)
{
    if (depth == 0 || (depth < 4 && sg_rng_uniform(r) < 0.25)) {
        nodes[i].feature = -1;
        nodes[i].value = sg_rng_normal(r);
        nodes[i].cover = (double)(1 + sg_rng_below(r, 20));
        return next;
    }
    nodes[i].feature = (int32_t)sg_rng_below(r, (uint64_t)p);
    nodes[i].threshold = 0.5f + (float)sg_rng_below(r, 3);
    nodes[i].left = (int32_t)next;
    uint32_t l = next;
    next += 2;
    next = random_tree(nodes, l, next, depth - 1, p, r);
    next = random_tree(nodes, l + 1, next, depth - 1, p, r);
    nodes[i].cover = nodes[l].cover + nodes[l + 1].cover;
    return next;
}

static void check_shap_vs_brute(const struct gbdt *g, const float *x)
{
    double phi[16], bf[16], base;
    assert_int_equal(gbdt_shap(g, x, phi, &base), SG_OK);
    brute_shap(g, x, bf);
    double sum = 0.0;
    for (size_t j = 0; j < g->p; j++) {
        assert_true(fabs(phi[j] - bf[j]) < 1e-9);
        sum += phi[j];
    }
    assert_true(fabs(base - v_model(g, x, 0)) < 1e-9);
    assert_true(fabs(base + sum - gbdt_margin(g, x)) < 1e-9);
}

static void test_treeshap_random_trees(void **state)
{
    (void)state;
    struct sg_rng r;
    sg_rng_seed(&r, 7);
    for (int rep = 0; rep < 20; rep++) {
        struct gbdt g;
        memset(&g, 0, sizeof g);
        g.p = 5;
        g.base = sg_rng_normal(&r);
        g.n_trees = 3;
        g.trees = calloc(3, sizeof *g.trees);
        assert_non_null(g.trees);
        for (int t = 0; t < 3; t++) {
            struct gbdt_node *nodes = calloc(64, sizeof *nodes);
            assert_non_null(nodes);
            uint32_t nn = random_tree(nodes, 0, 1, 5, 5, &r); /* depth 5 with p = 5: repeats */
            g.trees[t].nodes = nodes;
            g.trees[t].n_nodes = nn;
        }
        char err[SG_ERRLEN];
        assert_int_equal(gbdt_prepare(&g, err, sizeof err), SG_OK);
        for (int k = 0; k < 10; k++) {
            float x[5];
            for (int j = 0; j < 5; j++)
                x[j] = (float)sg_rng_below(&r, 4);
            check_shap_vs_brute(&g, x);
            double b1[16];
            gbdt_margin_batch(&g, x, 1, b1);
            assert_true(b1[0] == gbdt_margin(&g, x));
        }
        gbdt_free_members(&g);
    }
}

/* Synthetic data: p features, logistic truth with an interaction and a nonlinearity. */
static void make_data(struct model_matrix *X, uint8_t *y, size_t n, size_t p, uint64_t seed)
{
    assert_int_equal(model_matrix_init(X, n, p), SG_OK);
    struct sg_rng r;
    sg_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        float *x = model_matrix_row(X, i);
        for (size_t j = 0; j < p; j++)
            x[j] = j % 2 ? (float)sg_rng_below(&r, 2) : (float)(sg_rng_normal(&r));
        double t = -0.3 + 1.2 * x[0] - 0.8 * x[1] + (p > 2 ? 0.6 * x[2] * x[2] - 0.6 : 0.0) +
                   (p > 3 ? 0.9 * x[1] * x[3] : 0.0);
        y[i] = (uint8_t)sg_rng_bernoulli(&r, 1.0 / (1.0 + exp(-t)));
    }
    char err[SG_ERRLEN];
    for (size_t j = 0; j < p; j++) {
        char nm[32];
        snprintf(nm, sizeof nm, "x%zu", j);
        assert_int_equal(model_matrix_set_name(X, j, nm, err, sizeof err), SG_OK);
    }
}

static void test_treeshap_trained(void **state)
{
    (void)state;
    struct model_matrix X;
    size_t n = 4000;
    uint8_t *y = malloc(n);
    make_data(&X, y, n, 6, 11);
    uint32_t *rows = malloc(n * sizeof *rows);
    for (size_t i = 0; i < n; i++)
        rows[i] = (uint32_t)i;
    struct gbdt_params prm;
    gbdt_params_default(&prm);
    prm.max_trees = 30;
    prm.max_depth = 4;
    prm.max_leaves = 12;
    struct gbdt g;
    char err[SG_ERRLEN];
    assert_int_equal(gbdt_fit(&X, y, rows, 3600, rows + 3600, 400, &prm, &g, err, sizeof err),
                     SG_OK);
    assert_true(g.n_trees >= 1);
    for (size_t i = 0; i < 25; i++)
        check_shap_vs_brute(&g, model_matrix_row(&X, i));
    gbdt_free_members(&g);
    /* trees of more than 64 nodes take the general path of gbdt_shap */
    prm.max_depth = 7;
    prm.max_leaves = 60;
    prm.min_child_weight = 1.0;
    prm.max_trees = 5;
    assert_int_equal(gbdt_fit(&X, y, rows, 3600, rows + 3600, 400, &prm, &g, err, sizeof err),
                     SG_OK);
    uint32_t most = 0;
    for (size_t t = 0; t < g.n_trees; t++)
        if (g.trees[t].n_nodes > most) most = g.trees[t].n_nodes;
    assert_true(most > 64);
    for (size_t i = 0; i < 25; i++)
        check_shap_vs_brute(&g, model_matrix_row(&X, i));
    gbdt_free_members(&g);
    free(rows);
    free(y);
    model_matrix_fini(&X);
}

static char *save_text(const struct model *m)
{
    struct sg_buf b;
    sg_buf_init(&b, (size_t)64 << 20);
    assert_int_equal(model_save(m, &b), SG_OK);
    return sg_buf_take(&b);
}

static void test_train_determinism_roundtrip(void **state)
{
    (void)state;
    struct model_matrix X;
    size_t n = 6000;
    uint8_t *y = malloc(n);
    make_data(&X, y, n, 6, 3);
    struct model_train_params prm;
    model_train_params_default(&prm);
    prm.seed = 99;
    prm.gb.max_trees = 60;
    struct model *a, *b;
    char err[SG_ERRLEN];
    assert_int_equal(model_train(&X, y, "CBP", 2025, &prm, &a, err, sizeof err), SG_OK);
    prm.gb.threads = 1; /* the thread count must not change the model */
    assert_int_equal(model_train(&X, y, "CBP", 2025, &prm, &b, err, sizeof err), SG_OK);
    char *ta = save_text(a), *tb = save_text(b);
    /* the saved params differ only in the thread count; compare everything else */
    char *pa = strstr(ta, "gbdt_params"), *pb = strstr(tb, "gbdt_params");
    assert_non_null(pa);
    char *ea = strchr(pa, '\n'), *eb = strchr(pb, '\n');
    assert_memory_equal(ta, tb, (size_t)(pa - ta));
    assert_string_equal(ea, eb);
    /* the nonlinearity makes the trees win cross-validation */
    assert_true(a->cv_auc_gbdt > a->cv_auc_logreg);
    assert_int_equal(a->kind, MODEL_GBDT);
    assert_true(a->test.auc > 0.7 && a->test.auc < 1.0);
    assert_true(a->test.ece < 0.1);

    struct sg_buf sb;
    sg_buf_init(&sb, 1024);
    assert_int_equal(model_summary(a, &sb), SG_OK);
    assert_non_null(strstr(sg_buf_str(&sb), "CBP 2025: gbdt ("));
    assert_non_null(strstr(sg_buf_str(&sb), "held out n=1200"));
    sg_buf_fini(&sb);

    /* bit-exact round trip: load then save gives the same text and the same predictions */
    struct model *c;
    assert_int_equal(model_load(ta, strlen(ta), &c, err, sizeof err), SG_OK);
    char *tc = save_text(c);
    assert_string_equal(ta, tc);
    for (size_t i = 0; i < 200; i++) {
        const float *x = model_matrix_row(&X, i);
        assert_true(model_predict(a, x) == model_predict(c, x));
        double pa1[1];
        model_predict_batch(c, x, 1, pa1);
        assert_true(pa1[0] == model_predict(a, x));
    }
    /* explanation: additivity, ordering, tier, recommendation */
    double phi[6];
    struct model_explanation ex;
    assert_int_equal(model_explain(c, model_matrix_row(&X, 5), phi, &ex), SG_OK);
    double s = ex.base;
    for (int j = 0; j < 6; j++)
        s += phi[j];
    assert_true(fabs(s - ex.margin) < 1e-9);
    assert_int_equal(ex.n_top, 5);
    for (size_t k = 1; k < ex.n_top; k++)
        assert_true(fabs(ex.top[k - 1].impact) >= fabs(ex.top[k].impact));
    struct sg_buf rb;
    sg_buf_init(&rb, 4096);
    assert_int_equal(model_recommendation("CBP", &ex, &rb), SG_OK);
    assert_non_null(strstr(sg_buf_str(&rb), "140/90"));
    sg_buf_fini(&rb);

    /* forced logistic regression round-trips as well */
    prm.force_kind = MODEL_LOGREG;
    struct model *d, *e;
    assert_int_equal(model_train(&X, y, "CBP", 2025, &prm, &d, err, sizeof err), SG_OK);
    char *td = save_text(d);
    assert_int_equal(model_load(td, strlen(td), &e, err, sizeof err), SG_OK);
    char *te = save_text(e);
    assert_string_equal(td, te);
    assert_int_equal(model_explain(e, model_matrix_row(&X, 9), phi, &ex), SG_OK);
    s = ex.base;
    for (int j = 0; j < 6; j++)
        s += phi[j];
    assert_true(fabs(s - ex.margin) < 1e-12);

    /* malformed and unsupported texts */
    struct model *f;
    const char *v2 = "stargap-model 2\n";
    assert_int_equal(model_load(v2, strlen(v2), &f, err, sizeof err), SG_EUNSUPPORTED);
    assert_null(f);
    assert_int_equal(model_load(ta, strlen(ta) / 2, &f, err, sizeof err), SG_EPARSE);
    assert_non_null(strstr(err, "line"));

    free(ta);
    free(tb);
    free(tc);
    free(td);
    free(te);
    model_free(a);
    model_free(b);
    model_free(c);
    model_free(d);
    model_free(e);
    free(y);
    model_matrix_fini(&X);
}

/* Corrupted model texts (random byte changes, deterministic) must load or fail cleanly, never
 * crash; whatever loads must score and explain (run under the sanitizers in CI). */
static void test_load_corrupted(void **state)
{
    (void)state;
    struct model_matrix X;
    size_t n = 3000;
    uint8_t *y = malloc(n);
    make_data(&X, y, n, 4, 17);
    struct model_train_params prm;
    model_train_params_default(&prm);
    prm.force_kind = MODEL_GBDT;
    prm.gb.max_trees = 8;
    prm.gb.max_leaves = 6;
    struct model *m;
    char err[SG_ERRLEN];
    assert_int_equal(model_train(&X, y, "EED", 2025, &prm, &m, err, sizeof err), SG_OK);
    char *t = save_text(m);
    size_t len = strlen(t);
    char *c = malloc(len + 1);
    struct sg_rng r;
    sg_rng_seed(&r, 2024);
    static const char alphabet[] = "0123456789-.xpa \nfe";
    int loaded = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(c, t, len + 1);
        int edits = 1 + (int)sg_rng_below(&r, 3);
        for (int e = 0; e < edits; e++)
            c[sg_rng_below(&r, len)] = alphabet[sg_rng_below(&r, sizeof alphabet - 1)];
        struct model *q;
        int rc = model_load(c, len, &q, err, sizeof err);
        if (rc == SG_OK) {
            loaded++;
            double phi[4];
            struct model_explanation ex;
            (void)model_predict(q, model_matrix_row(&X, 0));
            assert_int_equal(model_explain(q, model_matrix_row(&X, 1), phi, &ex), SG_OK);
            model_free(q);
        } else {
            assert_null(q);
            assert_true(rc == SG_EPARSE || rc == SG_EUNSUPPORTED);
        }
    }
    assert_true(loaded > 0 && loaded < 3000);
    free(c);
    free(t);
    model_free(m);
    free(y);
    model_matrix_fini(&X);
}

/* Histograms of large nodes are split into fixed chunks: 1 and 2 threads give the same trees. */
static void test_gbdt_threads_identical(void **state)
{
    (void)state;
    struct model_matrix X;
    size_t n = 150000;
    uint8_t *y = malloc(n);
    make_data(&X, y, n, 4, 5);
    uint32_t *rows = malloc(n * sizeof *rows);
    for (size_t i = 0; i < n; i++)
        rows[i] = (uint32_t)i;
    struct gbdt_params prm;
    gbdt_params_default(&prm);
    prm.max_trees = 5;
    struct gbdt g1, g2;
    char err[SG_ERRLEN];
    prm.threads = 1;
    assert_int_equal(gbdt_fit(&X, y, rows, n, NULL, 0, &prm, &g1, err, sizeof err), SG_OK);
    prm.threads = 2;
    assert_int_equal(gbdt_fit(&X, y, rows, n, NULL, 0, &prm, &g2, err, sizeof err), SG_OK);
    assert_int_equal(g1.n_trees, g2.n_trees);
    for (size_t t = 0; t < g1.n_trees; t++) {
        assert_int_equal(g1.trees[t].n_nodes, g2.trees[t].n_nodes);
        assert_memory_equal(g1.trees[t].nodes, g2.trees[t].nodes,
                            g1.trees[t].n_nodes * sizeof(struct gbdt_node));
    }
    gbdt_free_members(&g1);
    gbdt_free_members(&g2);
    free(rows);
    free(y);
    model_matrix_fini(&X);
}

/* A heavily over-penalized logistic regression predicts nearly the base rate for everyone: its
 * validation ECE is large, so Platt scaling must be applied, and the explanation must stay
 * additive on the calibrated log-odds scale. */
static void test_calibration_applied(void **state)
{
    (void)state;
    struct model_matrix X;
    size_t n = 8000;
    uint8_t *y = malloc(n);
    make_data(&X, y, n, 4, 21);
    struct model_train_params prm;
    model_train_params_default(&prm);
    prm.force_kind = MODEL_LOGREG;
    prm.lr.l2 = 1000.0;
    struct model *m;
    char err[SG_ERRLEN];
    assert_int_equal(model_train(&X, y, "COL", 2025, &prm, &m, err, sizeof err), SG_OK);
    assert_true(m->valid_ece_raw > prm.ece_max);
    assert_int_equal(m->calibrated, 1);
    assert_true(m->platt_a > 1.0); /* shrunken log-odds are stretched back */
    assert_true(m->test.ece < m->valid_ece_raw);
    assert_true(isnan(m->cv_auc_logreg) && isnan(m->cv_auc_gbdt)); /* choice skipped */
    double phi[4];
    struct model_explanation ex;
    const float *x = model_matrix_row(&X, 3);
    assert_int_equal(model_explain(m, x, phi, &ex), SG_OK);
    double s = ex.base;
    for (int j = 0; j < 4; j++)
        s += phi[j];
    assert_true(fabs(s - ex.margin) < 1e-9);
    assert_true(fabs(ex.probability - 1.0 / (1.0 + exp(-ex.margin))) < 1e-15);
    assert_int_equal(ex.n_top, 4); /* fewer features than MODEL_TOP_K */
    model_free(m);
    free(y);
    model_matrix_fini(&X);
}

/* The recommendation names the measure's action and the drivers that raise the risk. */
static void test_recommendation_text(void **state)
{
    (void)state;
    struct model_explanation ex = {.probability = 0.8, .margin = 1.386, .base = 0.0, .n_top = 3};
    ex.top[0] = (struct model_top_feature){"prior_KED_met", 0.0, 1.1};
    ex.top[1] = (struct model_top_feature){"dual", 1.0, 0.4};
    ex.top[2] = (struct model_top_feature){"pcp_visits", 6.0, -0.3};
    struct sg_buf b;
    sg_buf_init(&b, 4096);
    assert_int_equal(model_recommendation("KED", &ex, &b), SG_OK);
    const char *t = sg_buf_str(&b);
    assert_non_null(strstr(t, "eGFR"));
    assert_non_null(strstr(t, "uACR"));
    assert_non_null(strstr(t, "KED was not met last year"));
    assert_non_null(strstr(t, "dual eligible"));
    assert_null(strstr(t, "pcp_visits")); /* lowers the risk: not a driver */
    assert_non_null(strstr(t, "also open last year"));
    sg_buf_fini(&b);
    sg_buf_init(&b, 4096);
    ex.probability = 0.2;
    ex.top[0].impact = -1.0;
    ex.top[1].impact = -0.2;
    assert_int_equal(model_recommendation("XYZ", &ex, &b), SG_OK);
    assert_non_null(strstr(sg_buf_str(&b), "Close the XYZ gap"));
    assert_non_null(strstr(sg_buf_str(&b), "No single factor"));
    sg_buf_fini(&b);
}

static void test_tier_and_inputs(void **state)
{
    (void)state;
    assert_string_equal(model_risk_tier(0.7, 0.7, 0.4), "high");
    assert_string_equal(model_risk_tier(0.6999, 0.7, 0.4), "medium");
    assert_string_equal(model_risk_tier(0.4, 0.7, 0.4), "medium");
    assert_string_equal(model_risk_tier(0.39, 0.7, 0.4), "low");
    assert_string_equal(model_risk_tier(0.5, 0.9, 0.6), "low");

    struct model_matrix X;
    uint8_t y[100] = {0};
    assert_int_equal(model_matrix_init(&X, 100, 2), SG_OK);
    for (int i = 0; i < 100; i++)
        y[i] = i % 3 == 0;
    X.x[7] = NAN;
    struct model_train_params prm;
    model_train_params_default(&prm);
    struct model *m;
    char err[SG_ERRLEN];
    assert_int_equal(model_train(&X, y, "BCS", 2025, &prm, &m, err, sizeof err), SG_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err, "row 3"));
    X.x[7] = 0.0f;
    prm.cv_folds = 1;
    assert_int_equal(model_train(&X, y, "BCS", 2025, &prm, &m, err, sizeof err), SG_EINVAL);
    assert_non_null(strstr(err, "cv_folds"));
    model_matrix_fini(&X);
}

static void test_features(void **state)
{
    (void)state;
    const char *extra[] = {"ed_visits", "pcp_visits"};
    struct model_matrix X;
    char err[SG_ERRLEN];
    assert_int_equal(model_matrix_init(&X, 1, FEATURES_N_BASE + 2), SG_OK);
    assert_int_equal(features_set_names(&X, extra, 2, err, sizeof err), SG_OK);
    assert_string_equal(X.names[0], "age");
    assert_string_equal(X.names[6], "prior_BCS_elig");
    assert_string_equal(X.names[7], "prior_BCS_met");
    assert_string_equal(X.names[6 + 2 * 10 + 1], "prior_PDC-STA_met");
    assert_string_equal(X.names[FEATURES_N_BASE - 1], "contract_prior_rate");
    assert_string_equal(X.names[FEATURES_N_BASE + 1], "pcp_visits");
    const char *dup[] = {"age"};
    struct model_matrix X2;
    assert_int_equal(model_matrix_init(&X2, 1, FEATURES_N_BASE + 1), SG_OK);
    assert_int_equal(features_set_names(&X2, dup, 1, err, sizeof err), SG_EINVAL);
    model_matrix_fini(&X2);

    struct features_member mem = {.birth_year = 1955,
                                  .female = 1,
                                  .dual = 1,
                                  .lis = 1,
                                  .disability = 0,
                                  .enrolled_prior_year = 1};
    mem.prior[0] = FEATURES_MET;   /* BCS */
    mem.prior[2] = FEATURES_OPEN;  /* CBP */
    mem.prior[10] = FEATURES_OPEN; /* PDC-STA */
    double ex[2] = {3.0, NAN};
    float *r = model_matrix_row(&X, 0);
    features_build_row(&mem, 2025, 0.8, ex, 2, r);
    assert_true(r[0] == 70.0f && r[1] == 1.0f && r[2] == 1.0f && r[3] == 1.0f && r[4] == 0.0f);
    assert_true(r[5] == 1.0f);
    assert_true(r[6] == 1.0f && r[7] == 1.0f);   /* BCS eligible, met */
    assert_true(r[8] == 0.0f && r[9] == 0.0f);   /* COL not eligible */
    assert_true(r[10] == 1.0f && r[11] == 0.0f); /* CBP open */
    assert_true(r[26] == 1.0f && r[27] == 0.0f); /* PDC-STA open */
    assert_true(r[28] == 1.0f && r[29] == 2.0f); /* 1 met, 2 open */
    assert_true(r[30] == 0.8f);
    assert_true(r[31] == 3.0f && r[32] == 0.0f); /* missing imported value -> 0 */
    model_matrix_fini(&X);

    assert_int_equal(features_measure_index("PDC-RASA"), 9);
    assert_int_equal(features_measure_index("XYZ"), -1);
    assert_int_equal(features_label(1, 0, 0), 1);
    assert_int_equal(features_label(1, 0, 1), 0);
    assert_int_equal(features_label(1, 1, 0), -1);
    assert_int_equal(features_label(0, 0, 0), -1);
    assert_int_equal(features_prior_status(1, 0, 1), FEATURES_MET);
    assert_int_equal(features_prior_status(1, 0, 0), FEATURES_OPEN);
    assert_int_equal(features_prior_status(1, 1, 0), FEATURES_NOT_ELIGIBLE);
    assert_int_equal(features_prior_status(0, 0, 0), FEATURES_NOT_ELIGIBLE);

    /* contract rates: contract 0 has 40 eligible (30 met), contract 1 has 10 (all met): the
     * small one gets the overall rate 40/50 */
    uint32_t con[60];
    uint8_t st[60];
    for (int i = 0; i < 60; i++) {
        con[i] = i < 45 ? 0 : 1;
        st[i] = i < 30   ? FEATURES_MET
                : i < 40 ? FEATURES_OPEN
                : i < 45 ? FEATURES_NOT_ELIGIBLE
                : i < 55 ? FEATURES_MET
                         : FEATURES_NOT_ELIGIBLE;
    }
    double rate[2];
    assert_int_equal(features_contract_rates(con, st, 60, 2, rate), SG_OK);
    assert_true(fabs(rate[0] - 0.75) < 1e-15);
    assert_true(fabs(rate[1] - 0.8) < 1e-15);

    /* the one-call builder gives the same rows as building them one by one */
    struct features_member ms[60];
    double xs[60];
    for (int i = 0; i < 60; i++) {
        ms[i] = (struct features_member){
            .birth_year = 1940 + i % 30, .female = i % 2, .enrolled_prior_year = 1};
        ms[i].prior[2] = st[i]; /* CBP */
        xs[i] = i % 7 ? (double)i : NAN;
    }
    const char *one[] = {"pcp_visits"};
    uint32_t pick[3] = {59, 0, 44};
    struct model_matrix M;
    assert_int_equal(
        features_build_matrix(ms, con, 60, 2, xs, one, 1, 2, 2025, pick, 3, &M, err, sizeof err),
        SG_OK);
    assert_int_equal(M.n, 3);
    float expect[FEATURES_N_BASE + 1];
    for (int q = 0; q < 3; q++) {
        features_build_row(&ms[pick[q]], 2025, rate[con[pick[q]]], &xs[pick[q]], 1, expect);
        assert_memory_equal(model_matrix_row(&M, (size_t)q), expect, sizeof expect);
    }
    assert_true(model_matrix_row(&M, 1)[FEATURES_N_BASE - 1] == 0.75f);
    assert_true(model_matrix_row(&M, 0)[FEATURES_N_BASE - 1] == 0.8f);
    assert_string_equal(M.names[FEATURES_N_BASE], "pcp_visits");
    model_matrix_fini(&M);
    uint32_t bad[1] = {60};
    assert_int_equal(
        features_build_matrix(ms, con, 60, 2, xs, one, 1, 2, 2025, bad, 1, &M, err, sizeof err),
        SG_EINVAL);
    assert_non_null(strstr(err, "row 0"));
    assert_int_equal(
        features_build_matrix(ms, con, 60, 2, xs, one, 1, 11, 2025, pick, 1, &M, err, sizeof err),
        SG_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_reference),
        cmocka_unit_test(test_metrics_hand),
        cmocka_unit_test(test_logreg_closed_form),
        cmocka_unit_test(test_gbdt_one_split),
        cmocka_unit_test(test_treeshap_random_trees),
        cmocka_unit_test(test_treeshap_trained),
        cmocka_unit_test(test_train_determinism_roundtrip),
        cmocka_unit_test(test_gbdt_threads_identical),
        cmocka_unit_test(test_load_corrupted),
        cmocka_unit_test(test_calibration_applied),
        cmocka_unit_test(test_recommendation_text),
        cmocka_unit_test(test_tier_and_inputs),
        cmocka_unit_test(test_features),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
