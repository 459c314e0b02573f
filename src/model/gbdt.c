/* gbdt.c: histogram gradient boosting with logistic loss, branch-free batch scoring and
 * tabulated exact TreeSHAP (gbdt.h). */
#include "model/gbdt.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define HIST_CHUNKS 2      /* fixed row chunks per histogram (results independent of threads) */
#define HIST_PAR_MIN 65536 /* nodes with fewer rows are histogrammed in one chunk */
#define BIN_SAMPLE 262144  /* rows sampled (evenly strided) to choose bin cut points */

void gbdt_params_default(struct gbdt_params *prm)
{
    prm->max_trees = 500;
    prm->learning_rate = 0.2;
    prm->max_depth = 6;
    prm->max_leaves = 31;
    prm->min_child_weight = 20.0;
    prm->lambda = 1.0;
    prm->max_bins = 255;
    prm->early_stopping = 20;
    prm->threads = 2;
}

int gbdt_params_check(const struct gbdt_params *prm, char *err, size_t errlen)
{
    if (prm->max_trees < 1 || prm->max_trees > 100000)
        return sg_errf(err, errlen, SG_EINVAL, "gbdt: max_trees must be 1..100000");
    if (!(prm->learning_rate > 0.0 && prm->learning_rate <= 1.0))
        return sg_errf(err, errlen, SG_EINVAL, "gbdt: learning_rate must be in (0, 1]");
    if (prm->max_depth < 1 || prm->max_depth > GBDT_MAX_DEPTH)
        return sg_errf(err, errlen, SG_EINVAL, "gbdt: max_depth must be 1..%d", GBDT_MAX_DEPTH);
    if (prm->max_leaves < 2 || prm->max_leaves > 256)
        return sg_errf(err, errlen, SG_EINVAL, "gbdt: max_leaves must be 2..256");
    if (!(prm->min_child_weight >= 0.0))
        return sg_errf(err, errlen, SG_EINVAL, "gbdt: min_child_weight must be >= 0");
    if (!(prm->lambda >= 0.0)) return sg_errf(err, errlen, SG_EINVAL, "gbdt: lambda must be >= 0");
    if (prm->max_bins < 2 || prm->max_bins > 256)
        return sg_errf(err, errlen, SG_EINVAL, "gbdt: max_bins must be 2..256");
    if (prm->early_stopping < 1)
        return sg_errf(err, errlen, SG_EINVAL, "gbdt: early_stopping must be >= 1");
    if (prm->threads < 1 || prm->threads > 64)
        return sg_errf(err, errlen, SG_EINVAL, "gbdt: threads must be 1..64");
    return SG_OK;
}

/* ---- prepared tables ---------------------------------------------------------------------- */

struct shap_leaf {
    uint8_t d;     /* distinct features on the path */
    uint8_t len;   /* nodes on the path */
    uint32_t path; /* offset of the path entries in prep->path_* */
    uint32_t feat; /* offset of the d feature ids in prep->leaf_feat */
    size_t coef;   /* offset of the 2^d x d coefficients in prep->coef */
};

struct gbdt_prep {
    /* branch-free scoring: per tree, nodes at off[t] .. ; leaves loop to themselves */
    size_t *off;
    uint8_t *depth;
    int32_t *feat;
    float *thr;
    int32_t *left;
    double *val;
    /* SHAP */
    size_t *leaf_off; /* per tree: first leaf in leaves[] ; leaf_off[n_trees] = total */
    struct shap_leaf *leaves;
    uint32_t *path_node;
    uint8_t *path_dir;
    uint8_t *path_slot;
    uint32_t *leaf_feat;
    double *coef;
    /* trees of at most 64 nodes: per leaf slot, the path nodes (bit mask) and their directions,
     * so a leaf's satisfaction pattern is a few word operations */
    uint64_t *slot_mask, *slot_dir;
    double expected; /* base + sum of per-tree expected values */
    uint32_t max_nodes;
};

static void prep_free(struct gbdt_prep *pp)
{
    if (!pp) return;
    free(pp->off);
    free(pp->depth);
    free(pp->feat);
    free(pp->thr);
    free(pp->left);
    free(pp->val);
    free(pp->leaf_off);
    free(pp->leaves);
    free(pp->path_node);
    free(pp->path_dir);
    free(pp->path_slot);
    free(pp->leaf_feat);
    free(pp->coef);
    free(pp->slot_mask);
    free(pp->slot_dir);
    free(pp);
}

void gbdt_free_members(struct gbdt *m)
{
    if (m->trees)
        for (size_t t = 0; t < m->n_trees; t++)
            free(m->trees[t].nodes);
    free(m->trees);
    prep_free(m->prep);
    memset(m, 0, sizeof *m);
}

static int tree_depth(const struct gbdt_tree *t, uint32_t i)
{
    const struct gbdt_node *n = &t->nodes[i];
    if (n->feature < 0) return 0;
    int a = tree_depth(t, (uint32_t)n->left), b = tree_depth(t, (uint32_t)n->left + 1);
    return 1 + (a > b ? a : b);
}

/* Shapley coefficients of one leaf: for every pattern m of satisfied path features and every
 * slot j, phi_j = v (o_j - z_j) prod_{k not in A, k != j} z_k sum_s w(s, d) e_{|A|-s}(z_A),
 * A = satisfied slots except j, w(s, d) = s! (d-1-s)! / d!, e_t elementary symmetric. */
static void leaf_coefficients(double v, const double *z, int d, double *out)
{
    double w[GBDT_MAX_DEPTH + 1];
    for (int s = 0; s < d; s++) { /* s! (d-1-s)! / d! */
        double c = 1.0 / d;
        for (int k = 1; k <= s; k++)
            c *= (double)k / (double)(d - k);
        w[s] = c;
    }
    for (int m = 0; m < (1 << d); m++) {
        for (int j = 0; j < d; j++) {
            double oj = (m >> j) & 1 ? 1.0 : 0.0;
            double e[GBDT_MAX_DEPTH + 1] = {1.0};
            int na = 0;
            double outside = 1.0;
            for (int k = 0; k < d; k++) {
                if (k == j) continue;
                if ((m >> k) & 1) {
                    na++;
                    for (int t = na; t >= 1; t--)
                        e[t] += e[t - 1] * z[k];
                } else {
                    outside *= z[k];
                }
            }
            double s = 0.0;
            for (int q = 0; q <= na; q++)
                s += w[q] * e[na - q];
            out[m * d + j] = v * (oj - z[j]) * outside * s;
        }
    }
}

int gbdt_prepare(struct gbdt *m, char *err, size_t errlen)
{
    prep_free(m->prep);
    m->prep = NULL;
    struct gbdt_prep *pp = calloc(1, sizeof *pp);
    if (!pp) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    size_t T = m->n_trees, total = 0, nleaves = 0, npath = 0, ncoef = 0;
    int rc = SG_ENOMEM;
    /* Validate and count. */
    for (size_t t = 0; t < T; t++) {
        const struct gbdt_tree *tr = &m->trees[t];
        if (tr->n_nodes == 0 || !tr->nodes) {
            rc = sg_errf(err, errlen, SG_EPARSE, "tree %zu: no nodes", t);
            goto fail;
        }
        for (uint32_t i = 0; i < tr->n_nodes; i++) {
            const struct gbdt_node *n = &tr->nodes[i];
            if (!isfinite(n->value) || !(n->cover > 0.0) || !isfinite(n->cover)) {
                rc = sg_errf(err, errlen, SG_EPARSE, "tree %zu node %u: bad value or cover", t, i);
                goto fail;
            }
            if (n->feature >= 0) {
                if ((size_t)n->feature >= m->p || n->left <= (int32_t)i ||
                    (uint32_t)n->left + 1 >= tr->n_nodes || !isfinite(n->threshold)) {
                    rc = sg_errf(err, errlen, SG_EPARSE, "tree %zu node %u: bad split", t, i);
                    goto fail;
                }
                double cc = tr->nodes[n->left].cover + tr->nodes[n->left + 1].cover;
                if (fabs(cc - n->cover) > 1e-9 * n->cover) {
                    rc = sg_errf(err, errlen, SG_EPARSE,
                                 "tree %zu node %u: children's cover %g "
                                 "!= node cover %g",
                                 t, i, cc, n->cover);
                    goto fail;
                }
            } else if (n->feature != -1) {
                rc = sg_errf(err, errlen, SG_EPARSE, "tree %zu node %u: bad feature", t, i);
                goto fail;
            }
        }
        /* every non-root node must have exactly one parent (no sharing, no orphans) */
        uint32_t *par = calloc(tr->n_nodes, sizeof *par);
        if (!par) goto fail;
        int bad = 0;
        for (uint32_t i = 0; i < tr->n_nodes && !bad; i++)
            if (tr->nodes[i].feature >= 0)
                for (int c = 0; c < 2; c++)
                    bad |= par[tr->nodes[i].left + c]++ != 0;
        for (uint32_t i = 1; i < tr->n_nodes && !bad; i++)
            bad |= par[i] != 1;
        free(par);
        if (bad) {
            rc = sg_errf(err, errlen, SG_EPARSE, "tree %zu: nodes do not form a tree", t);
            goto fail;
        }
        if (tree_depth(tr, 0) > GBDT_MAX_DEPTH) {
            rc = sg_errf(err, errlen, SG_EPARSE, "tree %zu: deeper than %d", t, GBDT_MAX_DEPTH);
            goto fail;
        }
        total += tr->n_nodes;
        if (tr->n_nodes > pp->max_nodes) pp->max_nodes = tr->n_nodes;
    }
    pp->off = calloc(T + 1, sizeof *pp->off);
    pp->depth = calloc(T ? T : 1, 1);
    pp->feat = calloc(total ? total : 1, sizeof *pp->feat);
    pp->thr = calloc(total ? total : 1, sizeof *pp->thr);
    pp->left = calloc(total ? total : 1, sizeof *pp->left);
    pp->val = calloc(total ? total : 1, sizeof *pp->val);
    pp->leaf_off = calloc(T + 1, sizeof *pp->leaf_off);
    if (!pp->off || !pp->depth || !pp->feat || !pp->thr || !pp->left || !pp->val || !pp->leaf_off)
        goto fail;
    /* Scoring tables and leaf counts. */
    size_t o = 0;
    for (size_t t = 0; t < T; t++) {
        const struct gbdt_tree *tr = &m->trees[t];
        pp->off[t] = o;
        pp->depth[t] = (uint8_t)tree_depth(tr, 0);
        pp->leaf_off[t] = nleaves;
        for (uint32_t i = 0; i < tr->n_nodes; i++) {
            const struct gbdt_node *n = &tr->nodes[i];
            if (n->feature >= 0) {
                pp->feat[o + i] = n->feature;
                pp->thr[o + i] = n->threshold;
                pp->left[o + i] = n->left;
            } else {
                pp->feat[o + i] = 0;
                pp->thr[o + i] = NAN; /* x >= NaN is false: the leaf loops to itself */
                pp->left[o + i] = (int32_t)i;
                nleaves++;
            }
            pp->val[o + i] = n->value;
        }
        o += tr->n_nodes;
    }
    pp->off[T] = o;
    pp->leaf_off[T] = nleaves;
    pp->leaves = calloc(nleaves ? nleaves : 1, sizeof *pp->leaves);
    size_t cap_path = nleaves * GBDT_MAX_DEPTH + 1;
    pp->path_node = malloc(cap_path * sizeof *pp->path_node);
    pp->path_dir = malloc(cap_path);
    pp->path_slot = malloc(cap_path);
    pp->leaf_feat = malloc(cap_path * sizeof *pp->leaf_feat);
    if (!pp->leaves || !pp->path_node || !pp->path_dir || !pp->path_slot || !pp->leaf_feat)
        goto fail;
    /* SHAP paths: depth-first walk of each tree with an explicit stack of (node, depth). */
    size_t li = 0, nfeat = 0;
    double expected = m->base;
    for (size_t t = 0; t < T; t++) {
        const struct gbdt_tree *tr = &m->trees[t];
        uint32_t stack_node[GBDT_MAX_DEPTH + 1];
        uint8_t stack_dir[GBDT_MAX_DEPTH + 1];
        /* iterative DFS over leaves: recompute path by walking parents */
        uint32_t *parent = malloc(tr->n_nodes * sizeof *parent);
        if (!parent) goto fail;
        parent[0] = UINT32_MAX;
        for (uint32_t i = 0; i < tr->n_nodes; i++)
            if (tr->nodes[i].feature >= 0)
                parent[tr->nodes[i].left] = parent[tr->nodes[i].left + 1] = i;
        for (uint32_t i = 0; i < tr->n_nodes; i++) {
            if (tr->nodes[i].feature >= 0) continue;
            int len = 0;
            for (uint32_t c = i; parent[c] != UINT32_MAX; c = parent[c]) {
                stack_node[len] = parent[c];
                stack_dir[len] = (uint8_t)(c != (uint32_t)tr->nodes[parent[c]].left);
                len++;
            }
            struct shap_leaf *L = &pp->leaves[li++];
            L->len = (uint8_t)len;
            L->path = (uint32_t)npath;
            L->feat = (uint32_t)nfeat;
            int d = 0;
            for (int k = len - 1; k >= 0; k--) { /* root first */
                int32_t f = tr->nodes[stack_node[k]].feature;
                int slot = -1;
                for (int s = 0; s < d; s++)
                    if ((int32_t)pp->leaf_feat[nfeat + s] == f) slot = s;
                if (slot < 0) {
                    slot = d++;
                    pp->leaf_feat[nfeat + slot] = (uint32_t)f;
                }
                pp->path_node[npath] = stack_node[k];
                pp->path_dir[npath] = stack_dir[k];
                pp->path_slot[npath] = (uint8_t)slot;
                npath++;
            }
            L->d = (uint8_t)d;
            L->coef = ncoef;
            nfeat += (size_t)d;
            ncoef += ((size_t)1 << d) * (size_t)d;
            expected += tr->nodes[i].value * tr->nodes[i].cover / tr->nodes[0].cover;
        }
        free(parent);
    }
    pp->expected = expected;
    pp->coef = malloc((ncoef ? ncoef : 1) * sizeof *pp->coef);
    pp->slot_mask = calloc(nfeat ? nfeat : 1, sizeof *pp->slot_mask);
    pp->slot_dir = calloc(nfeat ? nfeat : 1, sizeof *pp->slot_dir);
    if (!pp->coef || !pp->slot_mask || !pp->slot_dir) goto fail;
    for (size_t t = 0; t < T; t++) {
        const struct gbdt_tree *tr = &m->trees[t];
        for (size_t l = pp->leaf_off[t]; l < pp->leaf_off[t + 1]; l++) {
            struct shap_leaf *L = &pp->leaves[l];
            double z[GBDT_MAX_DEPTH];
            for (int s = 0; s < L->d; s++)
                z[s] = 1.0;
            uint32_t leaf_node = 0;
            for (int k = 0; k < L->len; k++) {
                uint32_t nd = pp->path_node[L->path + k];
                uint32_t child = (uint32_t)tr->nodes[nd].left + pp->path_dir[L->path + k];
                z[pp->path_slot[L->path + k]] *= tr->nodes[child].cover / tr->nodes[nd].cover;
                leaf_node = child;
            }
            if (L->d) leaf_coefficients(tr->nodes[leaf_node].value, z, L->d, pp->coef + L->coef);
            if (tr->n_nodes <= 64)
                for (int k = 0; k < L->len; k++) {
                    uint64_t bit = (uint64_t)1 << pp->path_node[L->path + k];
                    pp->slot_mask[L->feat + pp->path_slot[L->path + k]] |= bit;
                    if (pp->path_dir[L->path + k])
                        pp->slot_dir[L->feat + pp->path_slot[L->path + k]] |= bit;
                }
        }
    }
    m->prep = pp;
    return SG_OK;
fail:
    prep_free(pp);
    if (rc == SG_ENOMEM) sg_errf(err, errlen, rc, "out of memory");
    return rc;
}

double gbdt_expected_value(const struct gbdt *m)
{
    if (m->prep) return m->prep->expected;
    double e = m->base;
    for (size_t t = 0; t < m->n_trees; t++) {
        const struct gbdt_tree *tr = &m->trees[t];
        for (uint32_t i = 0; i < tr->n_nodes; i++)
            if (tr->nodes[i].feature < 0)
                e += tr->nodes[i].value * tr->nodes[i].cover / tr->nodes[0].cover;
    }
    return e;
}

double gbdt_margin(const struct gbdt *m, const float *x)
{
    double s = m->base;
    for (size_t t = 0; t < m->n_trees; t++) {
        const struct gbdt_node *nd = m->trees[t].nodes;
        uint32_t i = 0;
        while (nd[i].feature >= 0)
            i = (uint32_t)nd[i].left + (x[nd[i].feature] >= nd[i].threshold);
        s += nd[i].value;
    }
    return s;
}

#define BATCH 8

void gbdt_margin_batch(const struct gbdt *m, const float *x, size_t n, double *out)
{
    const struct gbdt_prep *pp = m->prep;
    size_t p = m->p;
    if (!pp) {
        for (size_t i = 0; i < n; i++)
            out[i] = gbdt_margin(m, x + i * p);
        return;
    }
    size_t i = 0;
    for (; i + BATCH <= n; i += BATCH) {
        double s[BATCH];
        const float *r[BATCH];
        for (int b = 0; b < BATCH; b++) {
            s[b] = m->base;
            r[b] = x + (i + (size_t)b) * p;
        }
        for (size_t t = 0; t < m->n_trees; t++) {
            const size_t o = pp->off[t];
            const int32_t *feat = pp->feat + o, *left = pp->left + o;
            const float *thr = pp->thr + o;
            int32_t idx[BATCH] = {0};
            for (int d = 0; d < pp->depth[t]; d++)
                for (int b = 0; b < BATCH; b++) {
                    int32_t k = idx[b];
                    idx[b] = left[k] + (r[b][feat[k]] >= thr[k]);
                }
            for (int b = 0; b < BATCH; b++)
                s[b] += pp->val[o + (size_t)idx[b]];
        }
        for (int b = 0; b < BATCH; b++)
            out[i + (size_t)b] = s[b];
    }
    for (; i < n; i++)
        out[i] = gbdt_margin(m, x + i * p);
}

int gbdt_shap(const struct gbdt *m, const float *x, double *phi, double *base)
{
    const struct gbdt_prep *pp = m->prep;
    for (size_t j = 0; j < m->p; j++)
        phi[j] = 0.0;
    if (!pp) {
        *base = NAN;
        return SG_EINVAL;
    }
    *base = pp->expected;
    uint8_t right[4096];
    uint8_t *goes = pp->max_nodes <= sizeof right ? right : malloc(pp->max_nodes);
    if (!goes) return SG_ENOMEM;
    for (size_t t = 0; t < m->n_trees; t++) {
        const struct gbdt_tree *tr = &m->trees[t];
        if (tr->n_nodes <= 64) {
            /* bit i of g: x goes right at node i (leaves: threshold NaN, never) */
            const size_t o = pp->off[t];
            uint64_t g = 0;
            for (uint32_t i = 0; i < tr->n_nodes; i++)
                g |= (uint64_t)(x[pp->feat[o + i]] >= pp->thr[o + i]) << i;
            for (size_t l = pp->leaf_off[t]; l < pp->leaf_off[t + 1]; l++) {
                const struct shap_leaf *L = &pp->leaves[l];
                const uint64_t *sm = pp->slot_mask + L->feat, *sd = pp->slot_dir + L->feat;
                unsigned mask = 0;
                for (int k = 0; k < L->d; k++)
                    mask |= (unsigned)(((g ^ sd[k]) & sm[k]) == 0) << k;
                const double *c = pp->coef + L->coef + (size_t)mask * L->d;
                const uint32_t *f = pp->leaf_feat + L->feat;
                for (int k = 0; k < L->d; k++)
                    phi[f[k]] += c[k];
            }
            continue;
        }
        for (uint32_t i = 0; i < tr->n_nodes; i++) {
            const struct gbdt_node *n = &tr->nodes[i];
            goes[i] = n->feature >= 0 && x[n->feature] >= n->threshold;
        }
        for (size_t l = pp->leaf_off[t]; l < pp->leaf_off[t + 1]; l++) {
            const struct shap_leaf *L = &pp->leaves[l];
            unsigned mask = (1u << L->d) - 1u;
            for (int k = 0; k < L->len; k++)
                if (goes[pp->path_node[L->path + k]] != pp->path_dir[L->path + k])
                    mask &= ~(1u << pp->path_slot[L->path + k]);
            const double *c = pp->coef + L->coef + (size_t)mask * L->d;
            const uint32_t *f = pp->leaf_feat + L->feat;
            for (int k = 0; k < L->d; k++)
                phi[f[k]] += c[k];
        }
    }
    if (goes != right) free(goes);
    return SG_OK;
}

/* ---- training ----------------------------------------------------------------------------- */

struct ghpair {
    double g, h;
};

struct split {
    int feature; /* -1: no valid split */
    int bin;     /* left = bins <= bin */
    double gain;
    double gl, hl;
};

struct leafinfo {
    uint32_t node;
    size_t begin, end; /* range in pos[] */
    int depth;
    struct ghpair *hist; /* p * nbins_max */
    double g, h;
    struct split best;
};

struct trainer {
    const struct gbdt_params *prm;
    size_t p, nfit;
    int nb;        /* bins per feature stride (max_bins) */
    uint8_t *bins; /* nfit x p */
    int *nbins;    /* p: bins used by each feature */
    float **cuts;  /* p arrays of nbins-1 cut points */
    double *grad, *hess;
    uint32_t *pos, *tmp;
};

struct hist_job {
    const struct trainer *tr;
    const uint32_t *pos;
    size_t n;
    struct ghpair *hist;
};

static void hist_chunk(const struct trainer *tr, const uint32_t *pos, size_t n, struct ghpair *hist)
{
    size_t p = tr->p;
    int nb = tr->nb;
    memset(hist, 0, p * (size_t)nb * sizeof *hist);
    for (size_t r = 0; r < n; r++) {
        uint32_t i = pos[r];
        const uint8_t *b = tr->bins + (size_t)i * p;
        double g = tr->grad[i], h = tr->hess[i];
        for (size_t j = 0; j < p; j++) {
            struct ghpair *c = &hist[j * (size_t)nb + b[j]];
            c->g += g;
            c->h += h;
        }
    }
}

static void *hist_thread(void *arg)
{
    struct hist_job *j = arg;
    hist_chunk(j->tr, j->pos, j->n, j->hist);
    return NULL;
}

/* Builds the histogram of rows pos[0..n) into out, using HIST_CHUNKS fixed chunks for large
 * nodes (summed in chunk order, so the result does not depend on the thread count). */
static int build_hist(const struct trainer *tr, const uint32_t *pos, size_t n, struct ghpair *out,
                      struct ghpair *scratch)
{
    size_t hs = tr->p * (size_t)tr->nb;
    if (n < HIST_PAR_MIN) {
        hist_chunk(tr, pos, n, out);
        return 0;
    }
    size_t half = n / 2;
    struct hist_job jobs[HIST_CHUNKS] = {{tr, pos, half, out}, {tr, pos + half, n - half, scratch}};
    if (tr->prm->threads > 1) {
        pthread_t th;
        if (pthread_create(&th, NULL, hist_thread, &jobs[1]) == 0) {
            hist_chunk(tr, jobs[0].pos, jobs[0].n, jobs[0].hist);
            pthread_join(th, NULL);
        } else {
            hist_chunk(tr, jobs[0].pos, jobs[0].n, jobs[0].hist);
            hist_chunk(tr, jobs[1].pos, jobs[1].n, jobs[1].hist);
        }
    } else {
        hist_chunk(tr, jobs[0].pos, jobs[0].n, jobs[0].hist);
        hist_chunk(tr, jobs[1].pos, jobs[1].n, jobs[1].hist);
    }
    for (size_t k = 0; k < hs; k++) {
        out[k].g += scratch[k].g;
        out[k].h += scratch[k].h;
    }
    return 0;
}

static double score_term(double g, double h, double lambda)
{
    return g * g / (h + lambda);
}

static void find_split(const struct trainer *tr, struct leafinfo *L)
{
    const struct gbdt_params *prm = tr->prm;
    L->best = (struct split){-1, 0, 0.0, 0.0, 0.0};
    double parent = score_term(L->g, L->h, prm->lambda);
    for (size_t j = 0; j < tr->p; j++) {
        const struct ghpair *hj = L->hist + j * (size_t)tr->nb;
        double gl = 0.0, hl = 0.0;
        for (int b = 0; b + 1 < tr->nbins[j]; b++) {
            gl += hj[b].g;
            hl += hj[b].h;
            double gr = L->g - gl, hr = L->h - hl;
            if (hl < prm->min_child_weight || hr < prm->min_child_weight) continue;
            if (hl <= 0.0 || hr <= 0.0) continue;
            double gain =
                score_term(gl, hl, prm->lambda) + score_term(gr, hr, prm->lambda) - parent;
            if (gain > L->best.gain + 1e-12) L->best = (struct split){(int)j, b, gain, gl, hl};
        }
    }
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Chooses cut points per feature and bins every fit row. */
static int make_bins(struct trainer *tr, const struct model_matrix *X, const uint32_t *fit)
{
    size_t p = tr->p, n = tr->nfit;
    size_t ns = n < BIN_SAMPLE ? n : BIN_SAMPLE;
    float *vals = malloc(ns * sizeof *vals);
    tr->cuts = calloc(p, sizeof *tr->cuts);
    tr->nbins = calloc(p, sizeof *tr->nbins);
    tr->bins = malloc(n * p);
    if (!vals || !tr->cuts || !tr->nbins || !tr->bins) {
        free(vals);
        return -1;
    }
    int maxb = tr->prm->max_bins;
    for (size_t j = 0; j < p; j++) {
        for (size_t s = 0; s < ns; s++) {
            size_t r = (size_t)((double)s * (double)n / (double)ns);
            vals[s] = model_matrix_row(X, fit[r])[j];
        }
        qsort(vals, ns, sizeof *vals, cmp_float);
        size_t nu = 0; /* distinct values, compacted in place */
        for (size_t s = 0; s < ns; s++)
            if (nu == 0 || vals[s] != vals[nu - 1]) vals[nu++] = vals[s];
        tr->cuts[j] = malloc((size_t)maxb * sizeof(float));
        if (!tr->cuts[j]) {
            free(vals);
            return -1;
        }
        int nc = 0;
        if (nu <= (size_t)maxb) {
            for (size_t s = 1; s < nu; s++)
                tr->cuts[j][nc++] = vals[s];
        } else {
            for (int k = 1; k < maxb; k++) {
                float c = vals[(size_t)((double)k * (double)nu / (double)maxb)];
                if (nc == 0 || c > tr->cuts[j][nc - 1]) tr->cuts[j][nc++] = c;
            }
        }
        tr->nbins[j] = nc + 1;
    }
    free(vals);
    for (size_t i = 0; i < n; i++) {
        const float *x = model_matrix_row(X, fit[i]);
        uint8_t *b = tr->bins + i * p;
        for (size_t j = 0; j < p; j++) {
            const float *c = tr->cuts[j];
            int lo = 0, hi = tr->nbins[j] - 1; /* bin = number of cuts <= x */
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (x[j] >= c[mid])
                    lo = mid + 1;
                else
                    hi = mid;
            }
            b[j] = (uint8_t)lo;
        }
    }
    return 0;
}

static double sigmoid(double t)
{
    return t >= 0 ? 1.0 / (1.0 + exp(-t)) : exp(t) / (1.0 + exp(t));
}

static double logloss1(double margin, int y)
{
    /* log(1 + e^m) - y m */
    double sp = margin > 0 ? margin + log1p(exp(-margin)) : log1p(exp(margin));
    return sp - (y ? margin : 0.0);
}

/* Grows one tree into *out; fills leaf values (shrunk) and updates margins of the fit rows. */
static int grow_tree(struct trainer *tr, struct leafinfo *leaves, struct ghpair *pool,
                     struct ghpair *scratch, double *fit_margin, struct gbdt_tree *out)
{
    const struct gbdt_params *prm = tr->prm;
    size_t hs = tr->p * (size_t)tr->nb;
    uint32_t cap = (uint32_t)(2 * prm->max_leaves);
    struct gbdt_node *nodes = calloc(cap, sizeof *nodes);
    if (!nodes) return -1;
    uint32_t nn = 1;
    int nl = 1;
    /* each open leaf holds one histogram buffer; the others wait on a free stack */
    struct ghpair *freebuf[256];
    int nfree = 0;
    for (int k = prm->max_leaves - 1; k >= 1; k--)
        freebuf[nfree++] = pool + (size_t)k * hs;
    for (size_t i = 0; i < tr->nfit; i++)
        tr->pos[i] = (uint32_t)i;
    struct leafinfo *root = &leaves[0];
    *root = (struct leafinfo){.node = 0, .begin = 0, .end = tr->nfit, .depth = 0, .hist = pool};
    build_hist(tr, tr->pos, tr->nfit, root->hist, scratch);
    for (int b = 0; b < tr->nbins[0]; b++) {
        root->g += root->hist[b].g;
        root->h += root->hist[b].h;
    }
    find_split(tr, root);
    for (;;) {
        if (nl >= prm->max_leaves) break;
        int bi = -1;
        for (int l = 0; l < nl; l++)
            if (leaves[l].best.feature >= 0 && leaves[l].depth < prm->max_depth &&
                (bi < 0 || leaves[l].best.gain > leaves[bi].best.gain))
                bi = l;
        if (bi < 0) break;
        struct leafinfo P = leaves[bi];
        int f = P.best.feature, sb = P.best.bin;
        /* stable partition of pos[begin, end) */
        size_t nlft = 0, nrgt = 0;
        for (size_t r = P.begin; r < P.end; r++) {
            uint32_t i = tr->pos[r];
            if (tr->bins[(size_t)i * tr->p + (size_t)f] <= sb)
                tr->pos[P.begin + nlft++] = i;
            else
                tr->tmp[nrgt++] = i;
        }
        memcpy(tr->pos + P.begin + nlft, tr->tmp, nrgt * sizeof *tr->pos);
        uint32_t li = nn, ri = nn + 1;
        nn += 2;
        nodes[P.node].feature = f;
        nodes[P.node].threshold = tr->cuts[f][sb];
        nodes[P.node].left = (int32_t)li;
        struct leafinfo Lc = {.node = li,
                              .begin = P.begin,
                              .end = P.begin + nlft,
                              .depth = P.depth + 1,
                              .g = P.best.gl,
                              .h = P.best.hl};
        struct leafinfo Rc = {.node = ri,
                              .begin = P.begin + nlft,
                              .end = P.end,
                              .depth = P.depth + 1,
                              .g = P.g - P.best.gl,
                              .h = P.h - P.best.hl};
        /* the smaller child gets a fresh histogram; the larger reuses the parent's by subtraction
         */
        struct leafinfo *small = nlft <= nrgt ? &Lc : &Rc, *large = nlft <= nrgt ? &Rc : &Lc;
        large->hist = P.hist;
        small->hist = freebuf[--nfree];
        build_hist(tr, tr->pos + small->begin, small->end - small->begin, small->hist, scratch);
        for (size_t k = 0; k < hs; k++) {
            large->hist[k].g -= small->hist[k].g;
            large->hist[k].h -= small->hist[k].h;
        }
        find_split(tr, &Lc);
        find_split(tr, &Rc);
        leaves[bi] = Lc;
        leaves[nl++] = Rc;
    }
    for (int l = 0; l < nl; l++) {
        struct leafinfo *L = &leaves[l];
        double v = -L->g / (L->h + prm->lambda) * prm->learning_rate;
        nodes[L->node].feature = -1;
        nodes[L->node].value = v;
        for (size_t r = L->begin; r < L->end; r++)
            fit_margin[tr->pos[r]] += v;
    }
    /* covers: leaves from their ranges, inner nodes bottom-up (children have larger indices) */
    for (int l = 0; l < nl; l++)
        nodes[leaves[l].node].cover = (double)(leaves[l].end - leaves[l].begin);
    for (uint32_t i = nn; i-- > 0;)
        if (nodes[i].feature >= 0)
            nodes[i].cover = nodes[nodes[i].left].cover + nodes[nodes[i].left + 1].cover;
    out->n_nodes = nn;
    out->nodes = nodes;
    return 0;
}

int gbdt_fit(const struct model_matrix *X, const uint8_t *y, const uint32_t *fit, size_t nfit,
             const uint32_t *valid, size_t nvalid, const struct gbdt_params *prm, struct gbdt *out,
             char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->valid_logloss = NAN;
    int rc = gbdt_params_check(prm, err, errlen);
    if (rc) return rc;
    if (nfit == 0) return sg_errf(err, errlen, SG_EINVAL, "gbdt: no training rows");
    size_t npos = 0;
    for (size_t i = 0; i < nfit; i++)
        npos += y[fit[i]] != 0;
    if (npos == 0 || npos == nfit)
        return sg_errf(err, errlen, SG_EINVAL, "gbdt: labels have one class only");

    struct trainer tr = {.prm = prm, .p = X->p, .nfit = nfit, .nb = prm->max_bins};
    size_t hs = tr.p * (size_t)tr.nb;
    struct leafinfo *leaves = calloc((size_t)prm->max_leaves, sizeof *leaves);
    struct ghpair *pool = malloc((size_t)prm->max_leaves * hs * sizeof *pool);
    struct ghpair *scratch = malloc(hs * sizeof *scratch);
    double *fm = malloc(nfit * sizeof *fm), *vm = malloc((nvalid ? nvalid : 1) * sizeof *vm);
    tr.grad = malloc(nfit * sizeof *tr.grad);
    tr.hess = malloc(nfit * sizeof *tr.hess);
    tr.pos = malloc(nfit * sizeof *tr.pos);
    tr.tmp = malloc(nfit * sizeof *tr.tmp);
    out->trees = calloc((size_t)prm->max_trees, sizeof *out->trees);
    out->p = X->p;
    rc = SG_ENOMEM;
    if (!leaves || !pool || !scratch || !fm || !vm || !tr.grad || !tr.hess || !tr.pos || !tr.tmp ||
        !out->trees || make_bins(&tr, X, fit))
        goto fail;
    double rate = (double)npos / (double)nfit;
    out->base = log(rate / (1.0 - rate));
    for (size_t i = 0; i < nfit; i++)
        fm[i] = out->base;
    for (size_t i = 0; i < nvalid; i++)
        vm[i] = out->base;
    double best = INFINITY;
    size_t best_n = 0;
    int since = 0;
    for (int t = 0; t < prm->max_trees; t++) {
        for (size_t i = 0; i < nfit; i++) {
            double q = sigmoid(fm[i]);
            tr.grad[i] = q - (y[fit[i]] ? 1.0 : 0.0);
            double h = q * (1.0 - q);
            tr.hess[i] = h > 1e-16 ? h : 1e-16;
        }
        if (grow_tree(&tr, leaves, pool, scratch, fm, &out->trees[t])) goto fail;
        out->n_trees = (size_t)t + 1;
        if (nvalid) {
            const struct gbdt_node *nd = out->trees[t].nodes;
            double ll = 0.0;
            for (size_t i = 0; i < nvalid; i++) {
                const float *x = model_matrix_row(X, valid[i]);
                uint32_t k = 0;
                while (nd[k].feature >= 0)
                    k = (uint32_t)nd[k].left + (x[nd[k].feature] >= nd[k].threshold);
                vm[i] += nd[k].value;
                ll += logloss1(vm[i], y[valid[i]] != 0);
            }
            ll /= (double)nvalid;
            if (ll < best - 1e-12) {
                best = ll;
                best_n = out->n_trees;
                since = 0;
            } else if (++since >= prm->early_stopping) {
                break;
            }
        }
    }
    if (nvalid) {
        for (size_t t = best_n; t < out->n_trees; t++)
            free(out->trees[t].nodes);
        out->n_trees = best_n;
        out->valid_logloss = best;
    }
    rc = gbdt_prepare(out, err, errlen);
    if (rc) goto fail;
    goto done;
fail:
    if (rc == SG_ENOMEM) sg_errf(err, errlen, rc, "gbdt: out of memory");
done:
    if (tr.cuts)
        for (size_t j = 0; j < tr.p; j++)
            free(tr.cuts[j]);
    free(tr.cuts);
    free(tr.nbins);
    free(tr.bins);
    free(tr.grad);
    free(tr.hess);
    free(tr.pos);
    free(tr.tmp);
    free(leaves);
    free(pool);
    free(scratch);
    free(fm);
    free(vm);
    return rc;
}
