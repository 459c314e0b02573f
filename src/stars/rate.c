/* rate.c: measure score -> measure star, and a contract's domain stars, Part C and Part D
 * summaries and overall rating (TN "Methodology for Calculating ..." sections, Attachment H).
 *
 * Floating point is used throughout, with explicit rounding where CMS rounds: scores to display
 * precision (half-up), mean and variance to 6 decimals before the reward-threshold comparison,
 * and the raw rating to 6 decimals before half-star rounding. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "stars/stars.h"

double stars_round_half_up(double x, int decimals)
{
    double scale = pow(10.0, decimals);
    double y = fabs(x) * scale;
    /* a relative nudge absorbs binary representation error (1.005 is stored as 1.00499999...) */
    double r = floor(y + 0.5 + 1e-9 * (y > 1 ? y : 1)) / scale;
    return x < 0 ? -r : r;
}

double stars_half_star(double raw)
{
    double x = stars_round_half_up(raw, 6);
    double r = floor(2 * x + 0.5 + 1e-9) / 2;
    if (r > 5) r = 5;
    if (r < 1) r = 1;
    return r;
}

static int meets(const struct stars_measure_def *m, double score, double t)
{
    return m->higher_is_better ? score >= t - 1e-9 : score <= t + 1e-9;
}

int stars_score_star(const struct stars_measure_def *m, const struct stars_cut *cut, double score)
{
    if (!cut || !cut->valid) return 0;
    double r = stars_round_half_up(score, m->precision);
    int star = 1;
    for (int k = 0; k < 4; k++)
        if (cut->present[k] && meets(m, r, cut->t[k])) star = k + 2;
    return star;
}

double stars_distance_to_next(const struct stars_measure_def *m, const struct stars_cut *cut,
                              double score, int *next_star)
{
    *next_star = 0;
    int s = stars_score_star(m, cut, score);
    if (!s) return 0;
    double r = stars_round_half_up(score, m->precision);
    for (int k = s - 1; k < 4; k++) { /* threshold of star k+2 > s */
        if (!cut->present[k]) continue;
        *next_star = k + 2;
        double d = m->higher_is_better ? cut->t[k] - r : r - cut->t[k];
        return d > 0 ? stars_round_half_up(d, m->precision) : 0;
    }
    return 0;
}

/* Reads an optional comparison operator at *s. */
static int read_op(const char **s, char op[3])
{
    while (**s == ' ')
        (*s)++;
    op[0] = op[1] = op[2] = '\0';
    if (**s == '<' || **s == '>') {
        op[0] = *(*s)++;
        if (**s == '=') op[1] = *(*s)++;
        return 1;
    }
    return 0;
}

static int read_num(const char **s, double *v)
{
    while (**s == ' ')
        (*s)++;
    char *end;
    *v = strtod(*s, &end);
    if (end == *s || !isfinite(*v)) return 0;
    *s = end;
    while (**s == ' ')
        (*s)++;
    if (**s == '%') (*s)++;
    while (**s == ' ')
        (*s)++;
    return 1;
}

int stars_parse_band(const char *cell, int star, int higher_is_better, struct stars_cut *cut)
{
    const char *s = cell;
    while (*s == ' ')
        s++;
    if (!*s) return SG_OK; /* empty band: level absent */
    if (star < 1 || star > 5) return SG_EINVAL;
    char op1[3], op2[3] = "";
    double a, b = NAN;
    int has_op = read_op(&s, op1);
    if (!read_num(&s, &a)) return SG_EPARSE;
    if (!strncmp(s, "to", 2)) {
        s += 2;
        if (!read_op(&s, op2) || !read_num(&s, &b)) return SG_EPARSE;
    }
    while (*s == ' ')
        s++;
    if (*s) return SG_EPARSE;
    if (star == 1) { /* 1 star only bounds star 2; its own threshold is implied */
        if (!has_op) return SG_EPARSE;
        return SG_OK;
    }
    double t;
    if (!has_op) {
        t = a; /* degenerate band "100%": exactly this value */
    } else if (higher_is_better) {
        if (strcmp(op1, ">=")) return SG_EPARSE;
        t = a;
    } else if (!strcmp(op1, "<=")) {
        t = a; /* 5 stars: "<= 7 %" */
    } else {
        if (strcmp(op1, ">") || strcmp(op2, "<=")) return SG_EPARSE;
        t = b;
    }
    cut->t[star - 2] = t;
    cut->present[star - 2] = 1;
    cut->valid = 1;
    return SG_OK;
}

int stars_parse_score(const char *cell, double *out, int *data_issue)
{
    /* CMS's status texts (2024-2026 data tables); each means "no score / no star" */
    static const char *const status[] = {"Plan too new to be measured",
                                         "Not enough data available",
                                         "Plan not required to report",
                                         "Not required to report",
                                         "Plan too small to be measured",
                                         "No data available",
                                         "Benefit not offered by plan",
                                         "CMS identified issues with this plan",
                                         "Medicare shows only a Star Rating",
                                         "Not applicable",
                                         "Not available"};
    *data_issue = 0;
    while (*cell == ' ' || *cell == '\t')
        cell++;
    char *end;
    double v = strtod(cell, &end);
    if (end != cell && isfinite(v)) {
        while (*end == ' ')
            end++;
        if (*end == '%') end++;
        while (*end == ' ' || *end == '\t')
            end++;
        if (!*end) {
            *out = v;
            return 1;
        }
    }
    if (!*cell) return 0;
    for (size_t i = 0; i < sizeof status / sizeof *status; i++)
        if (!strncasecmp(cell, status[i], strlen(status[i]))) {
            if (i == 7) *data_issue = 1;
            return 0;
        }
    return -1;
}

double stars_reward_factor(const struct stars_reward_row *row, double mean, double variance)
{
    double mu = stars_round_half_up(mean, 6), v = stars_round_half_up(variance, 6);
    int high_mean = mu >= row->mean_p85 - 1e-12;
    int rel_high = !high_mean && mu >= row->mean_p65 - 1e-12;
    int low_var = v < row->var_p30 - 1e-12;
    int med_var = !low_var && v < row->var_p70 - 1e-12;
    if (high_mean && low_var) return 0.4;
    if (high_mean && med_var) return 0.3;
    if (rel_high && low_var) return 0.2;
    if (rel_high && med_var) return 0.1;
    return 0;
}

static int is_snp_class(enum stars_class c)
{
    return c == STARS_CLASS_CCP_SNP || c == STARS_CLASS_ISNP;
}

/* Computes one summary or overall variant. `type` is the reward/CAI rating type; `which` 0 part
 * C, 1 part D, 2 overall (index of min_measures). */
static void compute(const struct stars_params *p, const struct stars_contract_input *in,
                    const struct stars_result *res, const struct stars_options *opt, int type,
                    int which, int with_impr, int with_new, struct stars_summary *s)
{
    memset(s, 0, sizeof *s);
    s->with_improvement = with_impr;
    s->with_new = with_new;
    s->n_required = p->min_measures[which][in->cls];
    int any_nr = 0, nreq = 0;
    for (size_t i = 0; i < p->nmeasures; i++) {
        const struct stars_measure_def *m = &p->measures[i];
        if (in->m[i].not_required) any_nr = 1;
        if (which == 0 && m->part != 'C') continue;
        if (which == 1 && m->part != 'D') continue;
        if (which == 2 && (m->flags & STARS_F_OVERALL_ONCE)) continue;
        if (m->category == STARS_CAT_IMPROVEMENT || in->m[i].not_required) continue;
        if ((m->flags & STARS_F_NEW) && !with_new) continue;
        nreq++;
    }
    if (any_nr && s->n_required >= 0) s->n_required = (nreq + 1) / 2;
    double sw = 0, swx = 0;
    for (size_t i = 0; i < p->nmeasures; i++) {
        const struct stars_measure_def *m = &p->measures[i];
        int star = res->m[i].star;
        if (!star) continue;
        if (which == 0 && m->part != 'C') continue;
        if (which == 1 && m->part != 'D') continue;
        if (which == 2 && (m->flags & STARS_F_OVERALL_ONCE)) continue;
        int impr = m->category == STARS_CAT_IMPROVEMENT;
        if (impr && !with_impr) continue;
        if ((m->flags & STARS_F_NEW) && !with_new) continue;
        if (!impr) s->n_counted++; /* weight-0 measures still count for eligibility */
        double w = m->weight;
        if (in->puerto_rico_only && (m->flags & STARS_F_PR_ZERO)) w = 0;
        if (w <= 0) continue;
        s->n++;
        sw += w;
        swx += w * star;
    }
    if (s->n_required < 0 || s->n_counted < s->n_required || sw <= 0) return;
    s->mean = swx / sw;
    double ss = 0;
    for (size_t i = 0; i < p->nmeasures; i++) {
        const struct stars_measure_def *m = &p->measures[i];
        int star = res->m[i].star;
        if (!star) continue;
        if (which == 0 && m->part != 'C') continue;
        if (which == 1 && m->part != 'D') continue;
        if (which == 2 && (m->flags & STARS_F_OVERALL_ONCE)) continue;
        if (m->category == STARS_CAT_IMPROVEMENT && !with_impr) continue;
        if ((m->flags & STARS_F_NEW) && !with_new) continue;
        double w = m->weight;
        if (in->puerto_rico_only && (m->flags & STARS_F_PR_ZERO)) w = 0;
        if (w <= 0) continue;
        ss += w * (star - s->mean) * (star - s->mean);
    }
    s->variance = s->n > 1 ? s->n * ss / (sw * (s->n - 1)) : 0;
    s->reward = opt && opt->no_reward ? 0
                                      : stars_reward_factor(&p->reward[with_impr][with_new][type],
                                                            s->mean, s->variance);
    int fac = in->fac[type];
    s->cai = (opt && opt->no_cai) || fac <= 0 ? 0 : p->cai[type][fac - 1];
    s->raw = s->mean + s->reward + s->cai;
    s->rating = stars_half_star(s->raw);
    s->rated = 1;
}

/* The improvement hold-harmless rule for a contract's highest rating. */
static void highest(const struct stars_params *p, const struct stars_contract_input *in,
                    const struct stars_result *res, const struct stars_options *opt, int type,
                    int which, int with_new, struct stars_summary *wo, struct stars_summary *w,
                    struct stars_summary *final, int *hh)
{
    compute(p, in, res, opt, type, which, 0, with_new, wo);
    compute(p, in, res, opt, type, which, 1, with_new, w);
    *hh = 0;
    *final = *w;
    if (opt && opt->no_hold_harmless) return;
    if (wo->rated && wo->rating >= p->hold_harmless_min - 1e-9 &&
        (!w->rated || w->rating < wo->rating)) {
        *final = *wo;
        *hh = 1;
    }
}

int stars_rate(const struct stars_params *p, const struct stars_contract_input *in,
               const struct stars_cut *cuts, const struct stars_options *opt,
               struct stars_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if ((unsigned)in->cls >= STARS_NCLASS)
        return sg_errf(err, errlen, SG_EINVAL, "contract_type: unknown contract class");
    for (int t = 0; t < STARS_NRATING; t++)
        if (in->fac[t] < 0 || (size_t)in->fac[t] > p->nfac[t])
            return sg_errf(err, errlen, SG_EINVAL, "adjustment_category.%s: %d is outside 1..%zu",
                           stars_rating_type_name(t), in->fac[t], p->nfac[t]);
    int pdp = in->cls == STARS_CLASS_PDP;
    int mapd = !pdp && in->offers_part_d;
    out->disaster_affected = in->disaster_pct >= p->disaster_threshold;
    int any_new = 0;

    for (size_t i = 0; i < p->nmeasures; i++) {
        const struct stars_measure_def *m = &p->measures[i];
        const struct stars_measure_input *mi = &in->m[i];
        struct stars_measure_result *r = &out->m[i];
        r->score = NAN;
        if (mi->star < 0 || mi->star > 5 || mi->prior_star < 0 || mi->prior_star > 5)
            return sg_errf(err, errlen, SG_EINVAL, "measures.%s: star must be 1..5", m->code);
        if (mi->has_score && !isfinite(mi->score))
            return sg_errf(err, errlen, SG_EINVAL, "measures.%s: score is not a number", m->code);
        if (mi->has_score && m->scale == STARS_SCALE_PCT && (mi->score < 0 || mi->score > 100))
            return sg_errf(err, errlen, SG_ERANGE, "measures.%s: score %g is outside 0..100",
                           m->code, mi->score);
        if (mi->has_score && m->scale == STARS_SCALE_NONNEG && mi->score < 0)
            return sg_errf(err, errlen, SG_ERANGE, "measures.%s: score %g is negative", m->code,
                           mi->score);
        /* a contract is only rated on the measures of the parts it has */
        if ((m->part == 'C' && pdp) || (m->part == 'D' && !pdp && !mapd)) continue;
        const struct stars_cut *cut = NULL;
        if (cuts) cut = &cuts[2 * i + (m->part == 'D' && pdp ? 1 : 0)];
        if (mi->has_score) r->score = stars_round_half_up(mi->score, m->precision);
        if (mi->data_issue) {
            r->star = 1;
            r->source = STARS_SRC_DATA_ISSUE;
        } else if (mi->star) {
            r->star = mi->star;
            r->source = STARS_SRC_GIVEN;
        } else if (mi->has_score && cut && cut->valid) {
            r->star = stars_score_star(m, cut, mi->score);
            r->source = STARS_SRC_SCORE;
        }
        double dpct = (m->flags & STARS_F_HOS) ? in->disaster_pct_prior : in->disaster_pct;
        if (r->star && r->source != STARS_SRC_DATA_ISSUE && dpct >= p->disaster_threshold &&
            !(m->flags & STARS_F_NO_DISASTER) && mi->prior_star > r->star) {
            r->star = mi->prior_star;
            r->source = STARS_SRC_PRIOR_YEAR;
        }
        if (r->star) {
            r->weight = in->puerto_rico_only && (m->flags & STARS_F_PR_ZERO) ? 0 : m->weight;
            if (m->flags & STARS_F_NEW) any_new = 1;
        }
        if (mi->has_score && cut && cut->valid)
            r->distance = stars_distance_to_next(m, cut, mi->score, &r->next_star);
    }

    /* domain stars: unweighted mean of the domain's stars, half-up, with at least half
     * (n odd: (n+1)/2; n even: n/2 + 1) of the required measures rated */
    for (size_t d = 0; d < p->ndomains && d < STARS_MAX_DOMAINS; d++) {
        const struct stars_domain_def *dd = &p->domains[d];
        if ((dd->part == 'C' && pdp) || (dd->part == 'D' && !pdp && !mapd)) continue;
        int n = 0, rated = 0, sum = 0;
        for (size_t i = 0; i < p->nmeasures; i++) {
            const struct stars_measure_def *m = &p->measures[i];
            if (strcmp(m->domain, dd->id) || m->part != dd->part) continue;
            if (!(m->flags & STARS_F_SNP_ONLY) || is_snp_class(in->cls)) n++;
            if (out->m[i].star) {
                rated++;
                sum += out->m[i].star;
            }
        }
        int need = n % 2 ? (n + 1) / 2 : n / 2 + 1;
        if (n > 0 && rated >= need)
            out->domain_star[d] = (int)stars_round_half_up((double)sum / rated, 0);
    }

    int new_hh_possible = out->disaster_affected && any_new && p->new_measure_thresholds;
    int hh = 0;
    char *ex = out->explanation;
    size_t exn = sizeof out->explanation;
    if (mapd) {
        struct stars_summary a, b;
        compute(p, in, out, opt, STARS_PART_C, 0, 1, 1, &out->part_c);
        compute(p, in, out, opt, STARS_PART_D_MAPD, 1, 1, 1, &out->part_d);
        if (new_hh_possible) {
            compute(p, in, out, opt, STARS_PART_C, 0, 1, 0, &a);
            compute(p, in, out, opt, STARS_PART_D_MAPD, 1, 1, 0, &b);
            if (a.rated && out->part_c.rated && a.rating > out->part_c.rating) {
                out->part_c = a;
                out->new_measure_hold_harmless = 1;
            }
            if (b.rated && out->part_d.rated && b.rating > out->part_d.rating) {
                out->part_d = b;
                out->new_measure_hold_harmless = 1;
            }
        }
        out->highest = STARS_HIGHEST_OVERALL;
        highest(p, in, out, opt, STARS_OVERALL, 2, 1, &out->highest_without_improvement,
                &out->highest_with_improvement, &out->overall, &hh);
        if (new_hh_possible) {
            struct stars_summary wo, w, f;
            int hh2;
            highest(p, in, out, opt, STARS_OVERALL, 2, 0, &wo, &w, &f, &hh2);
            if (f.rated && out->overall.rated && f.rating > out->overall.rating) {
                out->overall = f;
                out->highest_without_improvement = wo;
                out->highest_with_improvement = w;
                hh = hh2;
                out->new_measure_hold_harmless = 1;
            }
        }
        if (!out->part_c.rated || !out->part_d.rated) {
            out->overall.rated = 0; /* an overall rating needs both summaries */
            out->overall.rating = 0;
        }
    } else {
        int type = pdp ? STARS_PART_D_PDP : STARS_PART_C;
        int which = pdp ? 1 : 0;
        struct stars_summary *final = pdp ? &out->part_d : &out->part_c;
        out->highest = pdp ? STARS_HIGHEST_PART_D : STARS_HIGHEST_PART_C;
        highest(p, in, out, opt, type, which, 1, &out->highest_without_improvement,
                &out->highest_with_improvement, final, &hh);
        if (new_hh_possible) {
            struct stars_summary wo, w, f;
            int hh2;
            highest(p, in, out, opt, type, which, 0, &wo, &w, &f, &hh2);
            if (f.rated && final->rated && f.rating > final->rating) {
                *final = f;
                out->highest_without_improvement = wo;
                out->highest_with_improvement = w;
                hh = hh2;
                out->new_measure_hold_harmless = 1;
            }
        }
    }
    out->hold_harmless = hh;
    const struct stars_summary *wo = &out->highest_without_improvement,
                               *w = &out->highest_with_improvement;
    const char *hname = out->highest == STARS_HIGHEST_OVERALL  ? "overall"
                        : out->highest == STARS_HIGHEST_PART_C ? "Part C summary"
                                                               : "Part D summary";
    if (!w->rated && !wo->rated)
        snprintf(ex, exn, "%s not rated: %d of the required %d measures rated", hname, w->n_counted,
                 w->n_required);
    else if (hh)
        snprintf(ex, exn,
                 "improvement hold-harmless: %s without improvement %.1f >= %.1f and with "
                 "improvement %.1f is lower, so %.1f is used",
                 hname, wo->rating, p->hold_harmless_min, w->rating, wo->rating);
    else
        snprintf(ex, exn, "%s with improvement %.1f used (without improvement %.1f%s)", hname,
                 w->rating, wo->rating,
                 wo->rating >= p->hold_harmless_min ? ", not higher"
                                                    : ", below the hold-harmless floor");
    if (out->new_measure_hold_harmless) {
        size_t l = strlen(ex);
        snprintf(ex + l, exn - l, "; disaster-affected: rated without the new measures (higher)");
    }
    return SG_OK;
}
