/* cut.c: cut points from scores, the way TN Attachment K describes CMS's SAS pipeline:
 * Tukey outer-fence outlier deletion (quartiles as PROC MEANS computes them, PCTLDEF=5),
 * mean resampling (the contracts split into `folds` groups, one clustering run per group left
 * out), Ward hierarchical clustering of the display-rounded scores into 5 groups per run, the
 * mean over runs of each star's threshold, guardrails against the prior year, display rounding.
 *
 * Ward in one dimension: clusters stay intervals of the sorted values and the cheapest merge is
 * always between neighbours, so agglomeration runs over a linked list of intervals with a heap of
 * neighbour merge costs (lazy deletion), O(n log n). Equal values form one starting interval
 * (merging them costs nothing, and CMS merges clusters with equal score ranges anyway).
 * Cost of merging A and B: |A||B| / (|A| + |B|) * (mean A - mean B)^2. Ties go to the leftmost
 * pair. CMS assigns folds with SAS PROC SURVEYSELECT (seed 8675309); its generator is not
 * reproduced here, so computed cut points can differ from CMS's by the resampling noise. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stars/stars.h"

void stars_cut_options_default(struct stars_cut_options *o)
{
    o->folds = 10;
    o->outlier_deletion = 1;
    o->guardrails = 1;
    o->seed = 8675309;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double stars_percentile(const double *x, size_t n, double p)
{
    if (n == 0) return NAN;
    double np = (double)n * p;
    double j = floor(np + 1e-12);
    size_t jj = (size_t)j;
    if (np - j > 1e-12) return x[jj < n ? jj : n - 1]; /* x(j+1), 1-based */
    if (jj == 0) return x[0];
    if (jj >= n) return x[n - 1];
    return (x[jj - 1] + x[jj]) / 2;
}

/* A run of equal or merged values in sorted order. */
struct node {
    double sum, lo, hi;
    double cnt;
    int prev, next, alive, version;
};

struct hent {
    double cost;
    int left;   /* node index of the left member (also the tie-break: leftmost first) */
    int vl, vr; /* versions of left and right when pushed */
};

static int hless(const struct hent *a, const struct hent *b)
{
    if (a->cost < b->cost - 1e-12 * (1 + fabs(b->cost))) return 1;
    if (b->cost < a->cost - 1e-12 * (1 + fabs(a->cost))) return 0;
    return a->left < b->left;
}

static void hpush(struct hent *h, size_t *n, struct hent e)
{
    size_t i = (*n)++;
    h[i] = e;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hless(&h[i], &h[p])) break;
        struct hent t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static struct hent hpop(struct hent *h, size_t *n)
{
    struct hent top = h[0];
    h[0] = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && hless(&h[l], &h[m])) m = l;
        if (r < *n && hless(&h[r], &h[m])) m = r;
        if (m == i) break;
        struct hent t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
    return top;
}

static double merge_cost(const struct node *a, const struct node *b)
{
    double ma = a->sum / a->cnt, mb = b->sum / b->cnt;
    return a->cnt * b->cnt / (a->cnt + b->cnt) * (ma - mb) * (ma - mb);
}

/* Ward over sorted values xs[0..n). Writes the clusters' [lo, hi] ranges in ascending order into
 * lo/hi (k entries at most) and returns their number. `nodes` is scratch of n entries, `heap`
 * of 3n (n-1 neighbour pairs plus at most two new pairs per merge). */
static int ward_sorted(const double *xs, size_t n, int k, struct node *nodes, struct hent *heap,
                       double *lo, double *hi)
{
    int nn = 0;
    for (size_t i = 0; i < n; i++) {
        if (nn > 0 && xs[i] == nodes[nn - 1].hi) {
            nodes[nn - 1].sum += xs[i];
            nodes[nn - 1].cnt += 1;
            continue;
        }
        nodes[nn] = (struct node){xs[i], xs[i], xs[i], 1, nn - 1, nn + 1, 1, 0};
        nn++;
    }
    if (nn == 0) return 0;
    nodes[nn - 1].next = -1;
    size_t hn = 0;
    for (int i = 0; i + 1 < nn; i++)
        hpush(heap, &hn, (struct hent){merge_cost(&nodes[i], &nodes[i + 1]), i, 0, 0});
    int clusters = nn;
    while (clusters > k && hn > 0) {
        struct hent e = hpop(heap, &hn);
        struct node *a = &nodes[e.left];
        if (!a->alive || a->version != e.vl || a->next < 0) continue;
        struct node *b = &nodes[a->next];
        if (!b->alive || b->version != e.vr) continue;
        a->sum += b->sum;
        a->cnt += b->cnt;
        a->hi = b->hi;
        a->version++;
        b->alive = 0;
        a->next = b->next;
        if (b->next >= 0) nodes[b->next].prev = e.left;
        clusters--;
        if (a->prev >= 0) {
            struct node *p = &nodes[a->prev];
            hpush(heap, &hn, (struct hent){merge_cost(p, a), a->prev, p->version, a->version});
        }
        if (a->next >= 0) {
            struct node *q = &nodes[a->next];
            hpush(heap, &hn, (struct hent){merge_cost(a, q), e.left, a->version, q->version});
        }
    }
    int c = 0;
    for (int i = 0; i >= 0; i = nodes[i].next) {
        lo[c] = nodes[i].lo;
        hi[c] = nodes[i].hi;
        c++;
    }
    return c;
}

int stars_ward(const double *x, size_t n, int k, int *labels, int *nclusters)
{
    *nclusters = 0;
    if (n == 0 || k < 1) return SG_EINVAL;
    int rc = SG_ENOMEM;
    double *xs = malloc(n * sizeof *xs);
    struct node *nodes = malloc(n * sizeof *nodes);
    struct hent *heap = malloc(3 * n * sizeof *heap); /* n-1 pairs + 2 per merge */
    double *lo = malloc(n * sizeof *lo), *hi = malloc(n * sizeof *hi);
    if (!xs || !nodes || !heap || !lo || !hi) goto fail;
    memcpy(xs, x, n * sizeof *xs);
    qsort(xs, n, sizeof *xs, cmp_double);
    int c = ward_sorted(xs, n, k, nodes, heap, lo, hi);
    for (size_t i = 0; i < n; i++) {
        int j = 0;
        while (j + 1 < c && x[i] > hi[j])
            j++;
        labels[i] = j;
    }
    *nclusters = c;
    rc = SG_OK;
fail:
    free(xs);
    free(nodes);
    free(heap);
    free(lo);
    free(hi);
    return rc;
}

static double fence_cap_lo(const struct stars_measure_def *m, double v)
{
    return m->scale != STARS_SCALE_SIGNED && v < 0 ? 0 : v;
}

static double fence_cap_hi(const struct stars_measure_def *m, double v)
{
    return m->scale == STARS_SCALE_PCT && v > 100 ? 100 : v;
}

/* Tukey fences of sorted xs. */
static void fences(const struct stars_measure_def *m, const double *xs, size_t n, double *lo,
                   double *hi)
{
    double q1 = stars_percentile(xs, n, 0.25), q3 = stars_percentile(xs, n, 0.75);
    *lo = fence_cap_lo(m, q1 - 3 * (q3 - q1));
    *hi = fence_cap_hi(m, q3 + 3 * (q3 - q1));
}

double stars_restricted_range(const struct stars_measure_def *m, const double *scores, size_t n,
                              double *lo, double *hi)
{
    *lo = *hi = NAN;
    if (n == 0) return -1;
    double *xs = malloc(n * sizeof *xs);
    if (!xs) return -1;
    for (size_t i = 0; i < n; i++)
        xs[i] = stars_round_half_up(scores[i], m->precision);
    qsort(xs, n, sizeof *xs, cmp_double);
    fences(m, xs, n, lo, hi);
    double mn = INFINITY, mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (xs[i] >= *lo && xs[i] <= *hi) {
            if (xs[i] < mn) mn = xs[i];
            if (xs[i] > mx) mx = xs[i];
        }
    free(xs);
    return mx >= mn ? mx - mn : -1;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Adds one run's thresholds for the clusters [lo,hi] (ascending) to sum/cnt.
 * `first_star` is the star of the lowest-scoring cluster for higher-is-better data. */
static void run_cuts(const struct stars_measure_def *m, const double *lo, const double *hi, int c,
                     int first_star, double sum[4], int cnt[4])
{
    for (int j = 0; j < c; j++) {
        int star;
        double t;
        if (m->higher_is_better) {
            star = first_star + j;
            t = lo[j];
        } else {
            star = 5 - j;
            t = hi[j];
        }
        if (star < 2 || star > 5) continue;
        sum[star - 2] += t;
        cnt[star - 2]++;
    }
}

int stars_cutpoints(const struct stars_measure_def *m, const double *scores, size_t n,
                    const struct stars_cut *prior, double prior_range,
                    const struct stars_cut_options *opt, struct stars_cut *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct stars_cut_options o;
    if (opt)
        o = *opt;
    else
        stars_cut_options_default(&o);
    if (o.folds < 1 || o.folds > 100)
        return sg_errf(err, errlen, SG_EINVAL, "folds: must be 1..100 (got %d)", o.folds);
    int improvement = m->method == STARS_METHOD_IMPROVEMENT;
    int rc = SG_ENOMEM;
    double *xs = malloc((n ? n : 1) * sizeof *xs), *run = malloc((n ? n : 1) * sizeof *run);
    int *fold = malloc((n ? n : 1) * sizeof *fold);
    struct node *nodes = malloc((n ? n : 1) * sizeof *nodes);
    struct hent *heap = malloc(3 * (n ? n : 1) * sizeof *heap);
    size_t kept = 0;
    if (!xs || !run || !fold || !nodes || !heap) {
        sg_errf(err, errlen, rc, "cut points: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        if (isfinite(scores[i])) xs[kept++] = stars_round_half_up(scores[i], m->precision);
    qsort(xs, kept, sizeof *xs, cmp_double);
    if (o.outlier_deletion && kept > 0) {
        /* improvement measures: fences separately below and at/above zero */
        size_t neg = 0;
        while (improvement && neg < kept && xs[neg] < 0)
            neg++;
        double lo1, hi1, lo2, hi2;
        size_t w = 0;
        if (improvement && neg > 0)
            fences(m, xs, neg, &lo1, &hi1);
        else
            lo1 = hi1 = 0;
        if (kept > neg)
            fences(m, xs + neg, kept - neg, &lo2, &hi2);
        else
            lo2 = hi2 = 0;
        for (size_t i = 0; i < kept; i++) {
            int in_neg = improvement && i < neg;
            double lo = in_neg ? lo1 : lo2, hi = in_neg ? hi1 : hi2;
            if (xs[i] >= lo - 1e-12 && xs[i] <= hi + 1e-12) xs[w++] = xs[i];
        }
        kept = w;
    }
    if (kept < 5) {
        rc = sg_errf(err, errlen, SG_EINVAL, "%s: %zu scores after outlier deletion; need 5",
                     m->code, kept);
        goto fail;
    }
    /* fold of each sorted score: a seeded permutation, dealt round-robin into the folds */
    uint64_t seed = o.seed;
    for (size_t i = 0; i < kept; i++)
        fold[i] = (int)(i % (size_t)o.folds);
    for (size_t i = kept - 1; i > 0; i--) {
        size_t j = (size_t)(splitmix(&seed) % (i + 1));
        int t = fold[i];
        fold[i] = fold[j];
        fold[j] = t;
    }
    double sum[4] = {0}, lo[5], hi[5];
    int cnt[4] = {0};
    int runs = o.folds == 1 ? 1 : o.folds;
    for (int f = 0; f < runs; f++) {
        size_t rn = 0;
        for (size_t i = 0; i < kept; i++)
            if (runs == 1 || fold[i] != f) run[rn++] = xs[i];
        if (!improvement) {
            int c = ward_sorted(run, rn, 5, nodes, heap, lo, hi);
            run_cuts(m, lo, hi, c, 1, sum, cnt);
        } else {
            size_t neg = 0;
            while (neg < rn && run[neg] < 0)
                neg++;
            if (neg > 0) {
                int c = ward_sorted(run, neg, 2, nodes, heap, lo, hi);
                /* the upper negative cluster is 2 stars */
                if (c == 2) {
                    sum[0] += lo[1];
                    cnt[0]++;
                }
            }
            if (rn > neg) {
                int c = ward_sorted(run + neg, rn - neg, 3, nodes, heap, lo, hi);
                cnt[1]++; /* the 3-star threshold is fixed at 0 (sum[1] stays 0) */
                for (int j = 1; j < c; j++) {
                    sum[j + 1] += lo[j];
                    cnt[j + 1]++;
                }
            }
        }
    }
    for (int k = 0; k < 4; k++) {
        if (!cnt[k]) continue;
        out->t[k] = sum[k] / cnt[k];
        out->present[k] = 1;
    }
    int guard =
        o.guardrails && prior && prior->valid && !improvement && !(m->flags & STARS_F_NO_GUARDRAIL);
    double cap = m->scale == STARS_SCALE_PCT ? 5.0 : 0.05 * prior_range;
    if (guard && cap > 0)
        for (int k = 0; k < 4; k++) {
            if (!out->present[k] || !prior->present[k]) continue;
            if (out->t[k] > prior->t[k] + cap) out->t[k] = prior->t[k] + cap;
            if (out->t[k] < prior->t[k] - cap) out->t[k] = prior->t[k] - cap;
        }
    for (int k = 0; k < 4; k++)
        if (out->present[k]) out->t[k] = stars_round_half_up(out->t[k], m->precision);
    out->valid = 1;
    rc = SG_OK;
fail:
    free(xs);
    free(run);
    free(fold);
    free(nodes);
    free(heap);
    return rc;
}

void stars_projection_cuts(const struct stars_params *p, const struct stars_cut *cuts,
                           const double *ranges, int best, struct stars_cut *out)
{
    for (size_t i = 0; i < p->nmeasures; i++) {
        const struct stars_measure_def *m = &p->measures[i];
        double cap =
            m->scale == STARS_SCALE_PCT ? 5.0 : (ranges && ranges[i] > 0 ? 0.05 * ranges[i] : 0);
        int bounded = m->method == STARS_METHOD_CLUSTER && !(m->flags & STARS_F_NO_GUARDRAIL);
        /* easier means lower thresholds when higher is better, higher ones when lower is better */
        double shift = (best ? -cap : cap) * (m->higher_is_better ? 1 : -1);
        for (int j = 0; j < 2; j++) {
            out[2 * i + j] = cuts[2 * i + j];
            if (!bounded || !cuts[2 * i + j].valid) continue;
            for (int k = 0; k < 4; k++) {
                if (!out[2 * i + j].present[k]) continue;
                double t = stars_round_half_up(out[2 * i + j].t[k] + shift, m->precision);
                if (m->scale == STARS_SCALE_PCT && t > 100) t = 100;
                if (m->scale != STARS_SCALE_SIGNED && t < 0) t = 0;
                out[2 * i + j].t[k] = t;
            }
        }
    }
}
