/* synth.c: the synthetic MA portfolio generator (synth.h). The model and its constants are
 * documented, with sources, in docs/MODELS.md ("The synthetic portfolio"); keep the two in step. */
#include "synth/synth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

enum { M_BCS, M_COL, M_CBP, M_GSD, M_EED, M_KED, M_BPD, M_SUPD, M_PDCDR, M_PDCRASA, M_PDCSTA };

/* Targets: CMS 2026 Star Ratings Technical Notes, Attachment C (national averages of contract
 * scores, MA-PD for Part D); GSD is the reverse-scored "blood sugar controlled" rate. BPD is not
 * a Star measure and has no CMS average: 0.70 is an assumption (docs/MODELS.md). */
static const struct synth_measure MEASURES[SYNTH_N_MEASURES] = {
    {"BCS", 0.74, "women 52-74"},
    {"COL", 0.71, "members 50-75"},
    {"CBP", 0.79, "members 18-85 with hypertension"},
    {"GSD", 0.84, "members 18-75 with diabetes"},
    {"EED", 0.77, "members 18-75 with diabetes"},
    {"KED", 0.61, "members 18-85 with diabetes"},
    {"BPD", 0.70, "members 18-75 with diabetes"},
    {"SUPD", 0.88, "members 40-75 with two or more diabetes medication fills"},
    {"PDC-DR", 0.87, "members 18+ with two or more non-insulin diabetes medication fills"},
    {"PDC-RASA", 0.89, "members 18+ with two or more RAS antagonist fills"},
    {"PDC-STA", 0.89, "members 18+ with two or more statin fills"},
};

/* Persistence: log-odds added when the measure was met (b1) or open (-b0) the year before. */
static const double B_MET[SYNTH_N_MEASURES] = {1.6, 1.9, 1.3, 1.4, 1.5, 1.6,
                                               1.3, 2.0, 1.8, 1.8, 1.8};
static const double B_OPEN[SYNTH_N_MEASURES] = {0.9, 1.0, 0.8, 0.9, 0.8, 0.9,
                                                0.8, 1.2, 1.2, 1.2, 1.2};

/* Timing of compliance within the year: the day a compliant member met the numerator is
 * floor(t * days_in_year) with P(t <= x) = x^TIMING_A (docs/MODELS.md): > 1 leans late (the
 * year-end screening and visit push), < 1 early (SUPD: a statin fill early in the year). PDC:
 * the day the adherence threshold can no longer be missed, late in the year. */
static const double TIMING_A[SYNTH_N_MEASURES] = {1.3, 1.4, 1.2, 1.2, 1.5, 1.3,
                                                  1.2, 0.6, 4.0, 4.0, 4.0};

static int days_in_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 366 : 365;
}

/* Day of the year (0 = January 1) of month mo, day d; -1 when the date does not exist. */
static int day_of_year(int y, int mo, int d)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1) return -1;
    int leap = days_in_year(y) == 366;
    if (d > md[mo - 1] + (mo == 2 && leap)) return -1;
    int doy = d - 1;
    for (int q = 0; q < mo - 1; q++)
        doy += md[q] + (q == 1 && leap);
    return doy;
}

static void month_day(int y, int doy, int *mo, int *d)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = days_in_year(y) == 366, q = 0;
    while (q < 11 && doy >= md[q] + (q == 1 && leap)) {
        doy -= md[q] + (q == 1 && leap);
        q++;
    }
    *mo = q + 1;
    *d = doy + 1;
}

/* P(a compliant member of measure k met the numerator on or before day doy of year y). */
static double timing_cdf(int k, int y, int doy)
{
    double x = (double)(doy + 1) / (double)days_in_year(y);
    return x >= 1.0 ? 1.0 : pow(x, TIMING_A[k]);
}

const struct synth_measure *synth_measures(size_t *n)
{
    *n = SYNTH_N_MEASURES;
    return MEASURES;
}

/* conditions (bit mask) */
enum {
    C_HTN = 1,
    C_DIAB = 2,
    C_CVD = 4,
    C_CKD = 8,
    C_LIPID = 16,
    C_DEPR = 32,
    C_COPD = 64,
    C_CHF = 128
};
/* medications and static exclusions (bit mask) */
enum {
    X_DM_ANY = 1,
    X_DM_ORAL = 2,
    X_RASA = 4,
    X_STATIN = 8,
    X_MASTECTOMY = 16,
    X_COLECTOMY = 32,
    X_ESRD = 64
};

struct member {
    uint32_t contract;
    int16_t birth_year;
    uint8_t birth_month, birth_day;
    uint8_t female, dual, lis, disability;
    uint8_t cond, flags;
    int16_t start_year;
    uint8_t start_month;
    uint8_t end_month; /* month of leaving in end_year */
    int16_t end_year;  /* 0: still enrolled */
    float engagement;  /* latent, drives first-year compliance and utilization */
    float frailty;     /* latent, drives conditions, utilization and exclusions */
};

#define N_UTIL                                                                                     \
    6 /* pcp_visits, specialist_visits, ed_visits, inpatient_stays, chronic_conditions, risk_score \
       */
static const char *const UTIL_NAMES[N_UTIL] = {"pcp_visits",         "specialist_visits",
                                               "ed_visits",          "inpatient_stays",
                                               "chronic_conditions", "risk_score"};

enum { S_NONE = 0, S_OPEN = 1, S_MET = 2, S_EXCL = 3, S_PENDING = 4 };

static double sigmoid(double t)
{
    return t >= 0 ? 1.0 / (1.0 + exp(-t)) : exp(t) / (1.0 + exp(t));
}

int synth_params_check(const struct synth_params *prm, char *err, size_t errlen)
{
    if (prm->members < 1 || prm->members > SYNTH_MAX_MEMBERS)
        return sg_errf(err, errlen, SG_EINVAL, "--members must be 1..%d", SYNTH_MAX_MEMBERS);
    if (prm->contracts < 1 || prm->contracts > SYNTH_MAX_CONTRACTS)
        return sg_errf(err, errlen, SG_EINVAL, "--contracts must be 1..%d", SYNTH_MAX_CONTRACTS);
    if (prm->year_first < 1990 || prm->year_last > 2100 || prm->year_last < prm->year_first ||
        prm->year_last - prm->year_first >= 20)
        return sg_errf(err, errlen, SG_EINVAL,
                       "--years must be Y1-Y2 with 1990 <= Y1 <= Y2 <= 2100 and at most 20 years");
    if ((prm->as_of_month || prm->as_of_day) &&
        day_of_year(prm->year_last, prm->as_of_month, prm->as_of_day) < 0)
        return sg_errf(err, errlen, SG_EINVAL, "--as-of %02d-%02d is not a day of %d",
                       prm->as_of_month, prm->as_of_day, prm->year_last);
    return SG_OK;
}

/* ---- static member draw ---- */

/* Statin therapy (two or more statin fills in a year: the PDC-STA population, and a statin fill
 * for SUPD). A member's first full enrolled year draws it with the baseline probability p0 of
 * the member's conditions; later years follow a Markov chain: therapy continues with
 * probability STATIN_KEEP and starts with statin_start(p0), chosen so that p0 stays the
 * member's long-run probability. */
#define STATIN_KEEP 0.90

static double statin_p0(unsigned cond, double a10)
{
    return sigmoid(-1.7 + 1.5 * !!(cond & C_LIPID) + 1.0 * !!(cond & C_CVD) +
                   0.8 * !!(cond & C_DIAB) + 0.1 * a10);
}

static double statin_start(double p0)
{
    double v = p0 * (1.0 - STATIN_KEEP) / (1.0 - p0);
    return v < 1.0 ? v : 1.0;
}

/* Age distribution at the end of the last year (docs/MODELS.md): under-65 disability share,
 * then 5-year bands. */
static const double AGE_BAND_P[] = {0.12, 0.26, 0.24, 0.17,
                                    0.10, 0.07, 0.04}; /* <65, 65-69, ..., 85-89, 90+ */
static const int AGE_BAND_LO[] = {30, 65, 70, 75, 80, 85, 90};
static const int AGE_BAND_HI[] = {64, 69, 74, 79, 84, 89, 99};

static void draw_member(struct member *m, struct sg_rng *r, const double *ccum, size_t ncon,
                        const double *con_dual, int year_first, int year_last)
{
    /* contract: cumulative weights */
    double u = sg_rng_uniform(r);
    size_t lo = 0, hi = ncon - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (u < ccum[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    m->contract = (uint32_t)lo;
    /* age band */
    u = sg_rng_uniform(r);
    int band = 0;
    double c = AGE_BAND_P[0];
    while (band < 6 && u >= c)
        c += AGE_BAND_P[++band];
    int age;
    if (band == 0) /* under 65: skewed toward the fifties and early sixties */
        age = 64 - (int)fmin(34.0, floor(fabs(sg_rng_normal(r)) * 9.0));
    else
        age = AGE_BAND_LO[band] +
              (int)sg_rng_below(r, (uint64_t)(AGE_BAND_HI[band] - AGE_BAND_LO[band] + 1));
    m->birth_year = (int16_t)(year_last - age);
    m->birth_month = (uint8_t)(1 + sg_rng_below(r, 12));
    m->birth_day = (uint8_t)(1 + sg_rng_below(r, 28));
    int under65 = age < 65;
    m->female = (uint8_t)sg_rng_bernoulli(r, under65 ? 0.48 : age >= 85 ? 0.64 : 0.55);
    m->disability = (uint8_t)(under65 || sg_rng_bernoulli(r, age < 75 ? 0.10 : 0.05));
    m->dual = (uint8_t)sg_rng_bernoulli(
        r, sigmoid(-1.55 + 1.5 * under65 + 0.25 * (age >= 85) + con_dual[m->contract]));
    m->lis = (uint8_t)(m->dual || sg_rng_bernoulli(r, 0.08));
    m->engagement = (float)sg_rng_normal(r);
    m->frailty = (float)sg_rng_normal(r);
    double a10 = (age - 72) / 10.0, f = m->frailty;
    unsigned cond = 0;
    if (sg_rng_bernoulli(r, sigmoid(0.30 + 0.45 * a10 + 0.4 * f + 0.2 * m->dual))) cond |= C_HTN;
    if (sg_rng_bernoulli(
            r, sigmoid(-1.35 + 0.05 * a10 + 0.35 * f + 0.35 * m->dual + 0.55 * !!(cond & C_HTN))))
        cond |= C_DIAB;
    if (sg_rng_bernoulli(r, sigmoid(-1.45 + 0.5 * a10 + 0.45 * f + 0.4 * !!(cond & C_DIAB))))
        cond |= C_CVD;
    if (sg_rng_bernoulli(r, sigmoid(-2.1 + 0.55 * a10 + 0.4 * f + 0.7 * !!(cond & C_DIAB) +
                                    0.4 * !!(cond & C_HTN))))
        cond |= C_CKD;
    if (sg_rng_bernoulli(r, sigmoid(0.0 + 0.1 * a10 + 0.2 * f + 0.5 * !!(cond & C_DIAB))))
        cond |= C_LIPID;
    if (sg_rng_bernoulli(
            r, sigmoid(-1.8 - 0.25 * a10 + 0.3 * f + 0.7 * m->disability + 0.3 * m->dual)))
        cond |= C_DEPR;
    if (sg_rng_bernoulli(r, sigmoid(-2.2 + 0.15 * a10 + 0.4 * f + 0.3 * m->dual))) cond |= C_COPD;
    if (sg_rng_bernoulli(r, sigmoid(-2.7 + 0.6 * a10 + 0.5 * f + 0.7 * !!(cond & C_CVD))))
        cond |= C_CHF;
    m->cond = (uint8_t)cond;
    unsigned fl = 0;
    if ((cond & C_DIAB) && sg_rng_bernoulli(r, 0.82)) {
        fl |= X_DM_ANY;
        if (sg_rng_bernoulli(r, 0.80)) fl |= X_DM_ORAL;
    }
    if (((cond & C_HTN) && sg_rng_bernoulli(r, 0.58)) ||
        (!(cond & C_HTN) && (cond & C_DIAB) && sg_rng_bernoulli(r, 0.30)))
        fl |= X_RASA;
    if (sg_rng_bernoulli(r, statin_p0(cond, a10))) fl |= X_STATIN;
    if (m->female && sg_rng_bernoulli(r, 0.012)) fl |= X_MASTECTOMY;
    if (sg_rng_bernoulli(r, 0.012)) fl |= X_COLECTOMY;
    if ((cond & C_CKD) && sg_rng_bernoulli(r, 0.05)) fl |= X_ESRD;
    m->flags = (uint8_t)fl;
    /* enrollment: most enrolled before the first year; some join on January 1 of a later year;
     * members reaching 65 during the period join in the month after their birthday */
    int y65 = m->birth_year + 65;
    if (!under65 && y65 > year_first && y65 <= year_last && sg_rng_bernoulli(r, 0.85)) {
        m->start_year = (int16_t)y65;
        m->start_month = (uint8_t)(m->birth_month % 12 + 1);
        if (m->birth_month == 12) m->start_year++;
    } else if (year_last > year_first && sg_rng_bernoulli(r, 0.10)) {
        m->start_year =
            (int16_t)(year_first + 1 + (int)sg_rng_below(r, (uint64_t)(year_last - year_first)));
        m->start_month = 1;
    } else {
        int earliest = under65 ? year_first - 8 : (y65 < year_first ? y65 : year_first - 1);
        int span = year_first - earliest;
        if (span < 1) span = 1;
        m->start_year = (int16_t)(year_first - 1 - (int)sg_rng_below(r, (uint64_t)span));
        m->start_month = (uint8_t)(1 + sg_rng_below(r, 12));
    }
    /* leaving: death or disenrollment, yearly hazard rising with age and frailty */
    m->end_year = 0;
    for (int y = m->start_year > year_first ? m->start_year : year_first; y <= year_last; y++) {
        double h = 0.035 + 0.002 * fmax(0, y - m->birth_year - 75) + 0.015 * fmax(0.0, f);
        if (sg_rng_bernoulli(r, h)) {
            /* never before the month of joining: enrollment_end >= enrollment_start */
            int first_month = y == m->start_year ? m->start_month : 1;
            m->end_year = (int16_t)y;
            m->end_month = (uint8_t)(first_month + (int)sg_rng_below(r, (uint64_t)(13 - first_month)));
            break;
        }
    }
}

static int enrolled_full_year(const struct member *m, int y)
{
    int starts = m->start_year < y || (m->start_year == y && m->start_month == 1);
    return starts && (m->end_year == 0 || m->end_year > y);
}

/* ---- yearly draws ---- */

static int popcount8(unsigned v)
{
    return __builtin_popcount(v & 0xffu);
}

static void draw_util(const struct member *m, struct sg_rng *r, float *u)
{
    int nc = popcount8(m->cond);
    double e = m->engagement, f = m->frailty;
    u[0] = (float)sg_rng_poisson(r, exp(1.25 + 0.12 * nc + 0.35 * e - 0.15 * m->dual));
    u[1] = (float)sg_rng_poisson(r, exp(0.55 + 0.20 * nc + 0.20 * e + 0.15 * f));
    u[2] = (float)sg_rng_poisson(r, exp(-1.3 + 0.15 * nc + 0.45 * m->dual + 0.35 * f));
    u[3] = (float)sg_rng_poisson(r, exp(-2.4 + 0.22 * nc + 0.45 * f));
    u[4] = (float)nc;
    double rs = 0.35 + 0.13 * nc + 0.15 * m->dual + 0.15 * m->disability + 0.20 * fmax(0.0, f) +
                0.05 * sg_rng_normal(r);
    u[5] = (float)(floor(fmax(0.1, rs) * 1000.0 + 0.5) / 1000.0); /* 3 decimals, as written */
}

/* Initial population of measure k in year y (age at December 31 of y). */
static int in_ip(const struct member *m, int k, int y, int statin)
{
    int age = y - m->birth_year;
    int diab = !!(m->cond & C_DIAB);
    switch (k) {
    case M_BCS: return m->female && age >= 52 && age <= 74;
    case M_COL: return age >= 50 && age <= 75;
    case M_CBP: return (m->cond & C_HTN) && age >= 18 && age <= 85;
    case M_GSD:
    case M_EED:
    case M_BPD: return diab && age >= 18 && age <= 75;
    case M_KED: return diab && age >= 18 && age <= 85;
    case M_SUPD: return (m->flags & X_DM_ANY) && age >= 40 && age <= 75;
    case M_PDCDR: return (m->flags & X_DM_ORAL) && age >= 18;
    case M_PDCRASA: return (m->flags & X_RASA) && age >= 18;
    case M_PDCSTA: return statin && age >= 18;
    default: return 0;
    }
}

/* Exclusion of measure k given the year's hospice and frailty/advanced-illness draws. */
static int excluded(const struct member *m, int k, int y, int hospice, int frail_ai)
{
    int age = y - m->birth_year;
    if (hospice) return 1;
    int hedis = k <= M_BPD;
    if (hedis && age >= 66 && frail_ai) return 1;
    if (k == M_BCS && (m->flags & X_MASTECTOMY)) return 1;
    if (k == M_COL && (m->flags & X_COLECTOMY)) return 1;
    if ((k == M_CBP || k == M_KED || k == M_SUPD || k == M_PDCRASA) && (m->flags & X_ESRD))
        return 1;
    return 0;
}

struct prior {
    uint8_t st[SYNTH_N_MEASURES]; /* S_NONE / S_OPEN / S_MET of the year before */
    uint8_t enrolled;             /* enrolled the full year before */
    float util[N_UTIL];           /* utilization of the year before */
};

/* Log-odds of compliance without the measure-year intercept. */
static double eta_member(const struct member *m, const struct prior *pr, int k, int y, int first,
                         const double *con_q, const double *con_u, size_t ncon)
{
    int age = y - m->birth_year;
    double a = (age - 72) / 10.0;
    double t = -0.35 * a * a - 0.30 * m->dual - 0.15 * (m->lis && !m->dual) - 0.15 * m->disability;
    t += con_q[m->contract] + con_u[(size_t)k * ncon + m->contract];
    if (k == M_BCS || k == M_COL) t -= 0.10 * a; /* screening falls off with age */
    if (first) return t + 0.9 * m->engagement;
    if (!pr->enrolled) return t - 0.4;
    uint8_t s = pr->st[k];
    if (s == S_MET)
        t += B_MET[k];
    else if (s == S_OPEN)
        t -= B_OPEN[k] + 0.4 * m->dual; /* open gaps persist more for duals */
    int met = 0, open = 0;
    for (int j = 0; j < SYNTH_N_MEASURES; j++) {
        if (j == k) continue;
        met += pr->st[j] == S_MET;
        open += pr->st[j] == S_OPEN;
    }
    t += 0.12 * (met - open);
    t += 0.30 * log1p(pr->util[0]) - 0.08 * fmin(pr->util[2], 5.0) + 0.04 * fmin(pr->util[1], 6.0);
    return t;
}

/* Solves mean(fixed_i + w_i sigmoid(eta_i + c)) = target over the n members (Newton with
 * bisection safeguard); `fixed` is the sum of the fixed_i, w NULL means all weights 1. SUPD
 * uses fixed_i = P(statin therapy this year) and w_i = 1 - fixed_i. */
static double calibrate(const float *eta, const double *w, size_t n, double fixed, double target)
{
    size_t tot = n;
    if (n == 0) return 0.0;
    double lo = -30.0, hi = 30.0, c = log(target / (1.0 - target));
    for (int it = 0; it < 100; it++) {
        double s = 0.0, d = 0.0;
        for (size_t i = 0; i < n; i++) {
            double q = sigmoid(eta[i] + c), wi = w ? w[i] : 1.0;
            s += wi * q;
            d += wi * q * (1.0 - q);
        }
        double f = (s + fixed) / (double)tot - target;
        if (f > 0)
            hi = c;
        else
            lo = c;
        if (fabs(f) < 1e-10) break;
        double nc = d > 0 ? c - f * (double)tot / d : 0.5 * (lo + hi);
        c = nc > lo && nc < hi ? nc : 0.5 * (lo + hi);
        if (hi - lo < 1e-12) break;
    }
    return c;
}

/* ---- output ---- */

struct out {
    FILE *f;
    char *buf;
    size_t len, cap;
    char path[4096], final[4096];
};

static int out_open(struct out *o, const char *dir, const char *name, char *err, size_t errlen)
{
    snprintf(o->final, sizeof o->final, "%s/%s", dir, name);
    snprintf(o->path, sizeof o->path, "%s/.%s.tmp", dir, name);
    o->f = fopen(o->path, "wb");
    if (!o->f) return sg_errf(err, errlen, SG_EIO, "%s: %s", o->path, strerror(errno));
    o->cap = (size_t)1 << 20;
    o->len = 0;
    o->buf = malloc(o->cap);
    if (!o->buf) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    return SG_OK;
}

static int out_flush(struct out *o)
{
    if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len) return -1;
    o->len = 0;
    return 0;
}

/* ensures room for n more bytes */
static inline int out_room(struct out *o, size_t n)
{
    return o->len + n > o->cap ? out_flush(o) : 0;
}

static inline void put_s(struct out *o, const char *s, size_t n)
{
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static inline void put_str(struct out *o, const char *s)
{
    put_s(o, s, strlen(s));
}

static inline void put_c(struct out *o, char c)
{
    o->buf[o->len++] = c;
}

static inline void put_u(struct out *o, unsigned long v)
{
    char t[24];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        o->buf[o->len++] = t[--n];
}

static inline void put_u0(struct out *o, unsigned long v, int width) /* zero-padded */
{
    for (int k = width - 1; k >= 0; k--) {
        o->buf[o->len + (size_t)k] = (char)('0' + v % 10);
        v /= 10;
    }
    o->len += (size_t)width;
}

static inline void put_date(struct out *o, int y, int mo, int d)
{
    put_u0(o, (unsigned long)y, 4);
    put_c(o, '-');
    put_u0(o, (unsigned long)mo, 2);
    put_c(o, '-');
    put_u0(o, (unsigned long)d, 2);
}

static inline void put_id(struct out *o, size_t i)
{
    put_c(o, 'M');
    put_u0(o, (unsigned long)(i + 1), 8);
}

/* fixed-point value with `dec` decimals (v >= 0) */
static inline void put_fix(struct out *o, double v, int dec)
{
    double sc = 1.0;
    for (int k = 0; k < dec; k++)
        sc *= 10.0;
    unsigned long long q = (unsigned long long)floor(v * sc + 0.5);
    unsigned long long ip = q / (unsigned long long)sc, fp = q % (unsigned long long)sc;
    put_u(o, (unsigned long)ip);
    if (dec) {
        put_c(o, '.');
        put_u0(o, (unsigned long)fp, dec);
    }
}

static int out_close(struct out *o, char *err, size_t errlen)
{
    int rc = SG_OK;
    if (o->f && (out_flush(o) || fclose(o->f) != 0))
        rc = sg_errf(err, errlen, SG_EIO, "%s: write failed", o->path);
    o->f = NULL;
    free(o->buf);
    o->buf = NULL;
    return rc;
}

static void out_abort(struct out *o)
{
    if (o->f) fclose(o->f);
    o->f = NULL;
    free(o->buf);
    o->buf = NULL;
    if (o->path[0]) remove(o->path);
}

/* ---- FHIR R4 Bulk output (synth_write_fhir) ---- */

#define VSP "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3."

/* The clinical facts written, each with the value set its codes come from. */
enum {
    R_OFFICE,
    R_HOSPICE_ENC,
    R_DIABETES,
    R_HTN,
    R_ESRD,
    R_FRAILTY_DX,
    R_ADV_ILLNESS,
    R_BILAT_MAST,
    R_COLECTOMY,
    R_MAMMO,
    R_COLONOSCOPY,
    R_FOBT,
    R_SDNA,
    R_FLEXSIG,
    R_CTCOLO,
    R_HBA1C,
    R_RETINAL,
    R_N
};
static const char *const ROLE_VS[R_N] = {
    VSP "464.1003.101.12.1001", /* Office Visit */
    VSP "464.1003.1003",        /* Hospice Encounter */
    VSP "464.1003.103.12.1001", /* Diabetes */
    VSP "464.1003.104.12.1011", /* Essential Hypertension */
    VSP "526.3.353",            /* End Stage Renal Disease */
    VSP "464.1003.113.12.1074", /* Frailty Diagnosis */
    VSP "464.1003.110.12.1082", /* Advanced Illness */
    VSP "464.1003.198.12.1005", /* Bilateral Mastectomy */
    VSP "464.1003.198.12.1019", /* Total Colectomy */
    VSP "464.1003.108.12.1018", /* Mammography */
    VSP "464.1003.108.12.1020", /* Colonoscopy */
    VSP "464.1003.198.12.1011", /* Fecal Occult Blood Test (FOBT) */
    VSP "464.1003.108.12.1039", /* sDNA FIT Test */
    VSP "464.1003.198.12.1010", /* Flexible Sigmoidoscopy */
    VSP "464.1003.108.12.1038", /* CT Colonography */
    VSP "464.1003.198.12.1013", /* HbA1c Laboratory Test */
    VSP "464.1003.115.12.1088", /* Retinal or Dilated Eye Exam */
};

enum { F_PATIENT, F_CONDITION, F_ENCOUNTER, F_OBSERVATION, F_PROCEDURE, F_NFILES };
static const char *const FHIR_FILES[F_NFILES] = {"Patient.ndjson", "Condition.ndjson",
                                                 "Encounter.ndjson", "Observation.ndjson",
                                                 "Procedure.ndjson"};

struct fhir {
    struct synth_code code[R_N][SYNTH_FHIR_MAX_CODES];
    size_t ncode[R_N];
    struct out *o[F_NFILES];
    char pid[32];    /* Patient.id of the current member */
    unsigned nres;   /* resources of the current member (ids) */
    size_t total;    /* resources written */
    struct sg_rng r; /* the member's FHIR detail stream */
};

/* JSON string with escaping (codes and systems come from value-set files). */
static void put_jstr(struct out *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put_c(o, '"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            put_c(o, '\\');
            put_c(o, (char)ch);
        } else if (ch < 0x20) {
            put_s(o, "\\u00", 4);
            put_c(o, hex[ch >> 4]);
            put_c(o, hex[ch & 15]);
        } else {
            put_c(o, (char)ch);
        }
    }
    put_c(o, '"');
}

static void put_coding(struct out *o, const char *system, const char *code)
{
    put_str(o, "{\"coding\":[{\"system\":");
    put_jstr(o, system);
    put_str(o, ",\"code\":");
    put_jstr(o, code);
    put_str(o, "}]}");
}

/* CodeableConcept with one code of role r (drawn from the codes supplied). */
static void put_role(struct fhir *fx, struct out *o, int r)
{
    const struct synth_code *c = &fx->code[r][sg_rng_below(&fx->r, fx->ncode[r])];
    put_coding(o, c->system, c->code);
}

static void put_dt(struct out *o, int y, int mo, int d, int hh, int mi)
{
    put_c(o, '"');
    put_date(o, y, mo, d);
    put_c(o, 'T');
    put_u0(o, (unsigned long)hh, 2);
    put_c(o, ':');
    put_u0(o, (unsigned long)mi, 2);
    put_str(o, ":00Z\"");
}

/* Starts a resource line: {"resourceType":T,"id":"<pid>-<n>","subject":{...} */
static int res_begin(struct fhir *fx, int file, const char *type)
{
    struct out *o = fx->o[file];
    if (out_room(o, 8192)) return -1;
    put_str(o, "{\"resourceType\":\"");
    put_str(o, type);
    put_str(o, "\",\"id\":\"");
    put_str(o, fx->pid);
    put_c(o, '-');
    put_u(o, ++fx->nres);
    put_str(o, "\",\"subject\":{\"reference\":\"Patient/");
    put_str(o, fx->pid);
    put_str(o, "\"}");
    fx->total++;
    return 0;
}

static void res_end(struct fhir *fx, int file)
{
    put_str(fx->o[file], "}\n");
}

struct date {
    int y, m, d;
};

static struct date rand_date(struct sg_rng *r, int y, int m_lo, int m_hi)
{
    struct date t;
    t.y = y;
    t.m = m_lo + (int)sg_rng_below(r, (uint64_t)(m_hi - m_lo + 1));
    t.d = 1 + (int)sg_rng_below(r, 28);
    return t;
}

static int w_condition(struct fhir *fx, int role, struct date on)
{
    if (res_begin(fx, F_CONDITION, "Condition")) return -1;
    struct out *o = fx->o[F_CONDITION];
    put_str(o, ",\"clinicalStatus\":");
    put_coding(o, "http://terminology.hl7.org/CodeSystem/condition-clinical", "active");
    put_str(o, ",\"verificationStatus\":");
    put_coding(o, "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed");
    put_str(o, ",\"category\":[");
    put_coding(o, "http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item");
    put_str(o, "],\"code\":");
    put_role(fx, o, role);
    put_str(o, ",\"onsetDateTime\":");
    put_dt(o, on.y, on.m, on.d, 9, 0);
    res_end(fx, F_CONDITION);
    return 0;
}

static int w_encounter(struct fhir *fx, int role, const char *cls, struct date s, struct date e)
{
    if (res_begin(fx, F_ENCOUNTER, "Encounter")) return -1;
    struct out *o = fx->o[F_ENCOUNTER];
    put_str(o, ",\"status\":\"finished\",\"class\":{\"system\":\"http://terminology.hl7.org/"
               "CodeSystem/v3-ActCode\",\"code\":\"");
    put_str(o, cls);
    put_str(o, "\"},\"type\":[");
    put_role(fx, o, role);
    put_str(o, "],\"period\":{\"start\":");
    put_dt(o, s.y, s.m, s.d, 9, 0);
    put_str(o, ",\"end\":");
    put_dt(o, e.y, e.m, e.d, 9, 40);
    put_str(o, "}");
    res_end(fx, F_ENCOUNTER);
    return 0;
}

static int w_procedure(struct fhir *fx, int role, struct date d)
{
    if (res_begin(fx, F_PROCEDURE, "Procedure")) return -1;
    struct out *o = fx->o[F_PROCEDURE];
    put_str(o, ",\"status\":\"completed\",\"code\":");
    put_role(fx, o, role);
    put_str(o, ",\"performedDateTime\":");
    put_dt(o, d.y, d.m, d.d, 10, 0);
    res_end(fx, F_PROCEDURE);
    return 0;
}

enum { V_NONE, V_NEGATIVE, V_PERCENT };

/* Observation of role r (or the blood-pressure panel when r < 0) in category cat. */
static int w_obs(struct fhir *fx, int role, const char *cat, struct date d, int vkind, double v)
{
    if (res_begin(fx, F_OBSERVATION, "Observation")) return -1;
    struct out *o = fx->o[F_OBSERVATION];
    put_str(o, ",\"status\":\"final\",\"category\":[");
    put_coding(o, "http://terminology.hl7.org/CodeSystem/observation-category", cat);
    put_str(o, "],\"code\":");
    put_role(fx, o, role);
    put_str(o, ",\"effectiveDateTime\":");
    put_dt(o, d.y, d.m, d.d, 11, 0);
    if (vkind == V_NEGATIVE) {
        put_str(o, ",\"valueCodeableConcept\":");
        put_coding(o, "http://snomed.info/sct", "260385009"); /* Negative (qualifier value) */
    } else if (vkind == V_PERCENT) {
        put_str(o, ",\"valueQuantity\":{\"value\":");
        put_fix(o, v, 1);
        put_str(o, ",\"unit\":\"%\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"%\"}");
    }
    res_end(fx, F_OBSERVATION);
    return 0;
}

static void put_mmhg(struct out *o, const char *loinc, int v)
{
    put_str(o, "{\"code\":");
    put_coding(o, "http://loinc.org", loinc);
    put_str(o, ",\"valueQuantity\":{\"value\":");
    put_u(o, (unsigned long)v);
    put_str(o,
            ",\"unit\":\"mm[Hg]\",\"system\":\"http://unitsofmeasure.org\",\"code\":\"mm[Hg]\"}}");
}

/* Blood pressure (the observation-bp profile: panel 85354-9, components 8480-6 and 8462-4). */
static int w_bp(struct fhir *fx, struct date d, int sys, int dia)
{
    if (res_begin(fx, F_OBSERVATION, "Observation")) return -1;
    struct out *o = fx->o[F_OBSERVATION];
    put_str(o, ",\"status\":\"final\",\"category\":[");
    put_coding(o, "http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs");
    put_str(o, "],\"code\":");
    put_coding(o, "http://loinc.org", "85354-9");
    put_str(o, ",\"effectiveDateTime\":");
    put_dt(o, d.y, d.m, d.d, 9, 15);
    put_str(o, ",\"component\":[");
    put_mmhg(o, "8480-6", sys);
    put_c(o, ',');
    put_mmhg(o, "8462-4", dia);
    put_str(o, "]");
    res_end(fx, F_OBSERVATION);
    return 0;
}

static int uniform_int(struct sg_rng *r, int lo, int hi)
{
    return lo + (int)sg_rng_below(r, (uint64_t)(hi - lo + 1));
}

/* The date of day doy (0 = January 1) of year y. */
static struct date doy_date(int y, int doy)
{
    struct date t;
    t.y = y;
    month_day(y, doy, &t.m, &t.d);
    return t;
}

/* A uniform day of year y in [lo, hi] (day-of-year numbers, lo <= hi). */
static struct date rand_day(struct sg_rng *r, int y, int lo, int hi)
{
    return doy_date(y, uniform_int(r, lo, hi));
}

/* A past year for a diagnosis or an old procedure: 1-10 years before Y, adult. */
static struct date past_date(struct sg_rng *r, const struct member *m, int Y)
{
    int y = Y - 1 - (int)sg_rng_below(r, 10);
    if (y < m->birth_year + 20) y = m->birth_year + 20;
    if (y > Y - 1) y = Y - 1;
    return rand_date(r, y, 1, 12);
}

/* Writes one member: Patient, chronic conditions, and for members enrolled the whole last year
 * Y the encounters, exclusions and screening facts that give the measures their status `st`
 * (S_NONE, S_EXCL, S_MET, S_OPEN per measure) in Y as observed on day asof (day of year). yfl:
 * bit 0 hospice, bit 1 frailty with advanced illness in Y. As the CSV writer dates a met
 * numerator on its compliance day `day[k]` (<= asof), the qualifying event of a met measure is
 * written on that day (the screening; the most recent BP or HbA1c reading, earlier readings
 * before it), so the engine dates the numerator on the same day; the readings of an open CBP or
 * GSD gap are on or before asof, and an open gap has no qualifying event in Y. Nothing of Y is
 * dated after asof (visits, hospice, frailty too): the data as the plan has it on that day. */
static int fhir_member(struct fhir *fx, const struct synth_params *prm, size_t i,
                       const struct member *m, int enrolled, const uint8_t *st, const uint16_t *day,
                       int asof, unsigned yfl, const float *util)
{
    int Y = prm->year_last;
    struct sg_rng *r = &fx->r;
    sg_rng_seed2(r, prm->seed, (((uint64_t)i + 1) << 8) | 0xF0);
    snprintf(fx->pid, sizeof fx->pid, "pt%08zu", i + 1);
    fx->nres = 0;
    struct out *o = fx->o[F_PATIENT];
    if (out_room(o, 512)) return -1;
    put_str(o, "{\"resourceType\":\"Patient\",\"id\":\"");
    put_str(o, fx->pid);
    put_str(o, "\",\"identifier\":[{\"type\":");
    put_coding(o, "http://terminology.hl7.org/CodeSystem/v2-0203", "MB");
    put_str(o, ",\"system\":\"urn:stargap:member-id\",\"value\":\"");
    put_id(o, i);
    put_str(o, "\"}],\"gender\":\"");
    put_str(o, m->female ? "female" : "male");
    put_str(o, "\",\"birthDate\":\"");
    put_date(o, m->birth_year, m->birth_month, m->birth_day);
    put_str(o, "\"}\n");
    fx->total++;

    /* chronic conditions and old procedures (before Y: they hold whatever the year) */
    if ((m->cond & C_HTN) && w_condition(fx, R_HTN, past_date(r, m, Y))) return -1;
    if ((m->cond & C_DIAB) && w_condition(fx, R_DIABETES, past_date(r, m, Y))) return -1;
    if ((m->flags & X_ESRD) && w_condition(fx, R_ESRD, past_date(r, m, Y))) return -1;
    if ((m->flags & X_MASTECTOMY) && w_procedure(fx, R_BILAT_MAST, past_date(r, m, Y))) return -1;
    if ((m->flags & X_COLECTOMY) && w_procedure(fx, R_COLECTOMY, past_date(r, m, Y))) return -1;
    if (!enrolled) return 0; /* no care in Y: not in any initial population */

    /* office visits in Y up to the as-of day (at least one: the measures' qualifying
     * encounter) */
    int nv = (int)util[0];
    nv = nv < 1 ? 1 : nv > 12 ? 12 : nv;
    for (int v = 0; v < nv; v++) {
        struct date d = rand_day(r, Y, 0, asof);
        if (w_encounter(fx, R_OFFICE, "AMB", d, d)) return -1;
    }
    if (yfl & 1) { /* hospice: a hospice encounter in Y, up to two weeks, by the as-of day */
        int sd = uniform_int(r, 0, asof), ed = sd + 14 < asof ? sd + 14 : asof;
        if (w_encounter(fx, R_HOSPICE_ENC, "HH", doy_date(Y, sd), doy_date(Y, ed))) return -1;
    }
    if (yfl & 2) { /* frailty and advanced illness diagnosed in Y by the as-of day */
        if (w_condition(fx, R_FRAILTY_DX, rand_day(r, Y, 0, asof)) ||
            w_condition(fx, R_ADV_ILLNESS, rand_day(r, Y, 0, asof)))
            return -1;
    }
    /* BCS: a mammogram on the day of compliance; half of the open gaps have an old one (before
     * October Y-2) */
    if (st[M_BCS] == S_MET && w_obs(fx, R_MAMMO, "imaging", doy_date(Y, day[M_BCS]), V_NONE, 0))
        return -1;
    if (st[M_BCS] == S_OPEN && sg_rng_bernoulli(r, 0.5) &&
        w_obs(fx, R_MAMMO, "imaging", rand_date(r, Y - 3, 1, 12), V_NONE, 0))
        return -1;
    /* COL: one screening on the day of compliance; some open gaps have an FOBT of Y-1 (counts
     * only in its year) */
    if (st[M_COL] == S_MET) {
        double u = sg_rng_uniform(r);
        struct date d = doy_date(Y, day[M_COL]);
        int rc = u < 0.55   ? w_procedure(fx, R_COLONOSCOPY, d)
                 : u < 0.80 ? w_obs(fx, R_FOBT, "laboratory", d, V_NEGATIVE, 0)
                 : u < 0.90 ? w_obs(fx, R_SDNA, "laboratory", d, V_NEGATIVE, 0)
                 : u < 0.95 ? w_procedure(fx, R_FLEXSIG, d)
                            : w_obs(fx, R_CTCOLO, "imaging", d, V_NONE, 0);
        if (rc) return -1;
    }
    if (st[M_COL] == S_OPEN && sg_rng_bernoulli(r, 0.3) &&
        w_obs(fx, R_FOBT, "laboratory", rand_date(r, Y - 1, 1, 12), V_NEGATIVE, 0))
        return -1;
    /* CBP: earlier readings of any value, then the most recent day decides: the day of
     * compliance when met, a day up to the as-of day when open */
    if (st[M_CBP] == S_MET || st[M_CBP] == S_OPEN) {
        int none = st[M_CBP] == S_OPEN && sg_rng_bernoulli(r, 0.15);
        if (!none) {
            int ld = st[M_CBP] == S_MET ? day[M_CBP] : uniform_int(r, 0, asof);
            struct date last = doy_date(Y, ld);
            int ne = ld > 0 ? (int)sg_rng_below(r, 3) : 0;
            for (int q = 0; q < ne; q++)
                if (w_bp(fx, rand_day(r, Y, 0, ld - 1), uniform_int(r, 110, 165),
                         uniform_int(r, 65, 98)))
                    return -1;
            int sys, dia;
            if (st[M_CBP] == S_MET) {
                sys = uniform_int(r, 104, 139);
                dia = uniform_int(r, 58, 89);
            } else if (sg_rng_bernoulli(r, 0.6)) {
                sys = uniform_int(r, 140, 178);
                dia = uniform_int(r, 62, 96);
            } else {
                sys = uniform_int(r, 118, 139);
                dia = uniform_int(r, 90, 102);
            }
            if (w_bp(fx, last, sys, dia)) return -1;
        }
    }
    /* GSD (CMS122 is its complement): the most recent HbA1c of Y <= 9% when controlled,
     * > 9% or none when not */
    if (st[M_GSD] == S_MET || st[M_GSD] == S_OPEN) {
        int met = st[M_GSD] == S_MET;
        int none = !met && sg_rng_bernoulli(r, 0.3);
        if (none) {
            if (sg_rng_bernoulli(r, 0.5) &&
                w_obs(fx, R_HBA1C, "laboratory", rand_date(r, Y - 1, 1, 12), V_PERCENT,
                      6.0 + 0.1 * (double)sg_rng_below(r, 40)))
                return -1;
        } else { /* the most recent: the day of compliance, or a day up to the as-of day */
            int ld = met ? day[M_GSD] : uniform_int(r, 0, asof);
            struct date last = doy_date(Y, ld);
            if (ld > 0 && sg_rng_bernoulli(r, 0.4) &&
                w_obs(fx, R_HBA1C, "laboratory", rand_day(r, Y, 0, ld - 1), V_PERCENT,
                      5.5 + 0.1 * (double)sg_rng_below(r, 70)))
                return -1;
            double v =
                met ? (sg_rng_bernoulli(r, 0.05) ? 9.0 : 5.2 + 0.1 * (double)sg_rng_below(r, 38))
                    : 9.1 + 0.1 * (double)sg_rng_below(r, 40);
            if (w_obs(fx, R_HBA1C, "laboratory", last, V_PERCENT, v)) return -1;
        }
    }
    /* EED: an exam on the day of compliance; some open gaps had one in Y-2 (outside the
     * two-year window) */
    if (st[M_EED] == S_MET && w_obs(fx, R_RETINAL, "exam", doy_date(Y, day[M_EED]), V_NONE, 0))
        return -1;
    if (st[M_EED] == S_OPEN && sg_rng_bernoulli(r, 0.3) &&
        w_obs(fx, R_RETINAL, "exam", rand_date(r, Y - 2, 1, 12), V_NONE, 0))
        return -1;
    return 0;
}

/* ---- the generator ---- */

#define NOUT 5 /* CSV: 4 files; FHIR: 5 */

static const char *const CSV_FILES[4] = {"members.csv", "measure_results.csv",
                                         "member_features.csv", "true_probabilities.csv"};

/* Generates the portfolio; writes the CSV files when fx is NULL, else the FHIR files. */
static int generate(const struct synth_params *prm, const char *dir, struct fhir *fx,
                    struct synth_summary *sum, char *err, size_t errlen)
{
    int rc = SG_OK;
    size_t n = prm->members, ncon = prm->contracts;
    int Y1 = prm->year_first, Y2 = prm->year_last;
    int csv = fx == NULL, nout = csv ? 4 : F_NFILES;
    struct out outs[NOUT];
    memset(outs, 0, sizeof outs);
    struct member *mem = calloc(n, sizeof *mem);
    struct prior *prev = calloc(n, sizeof *prev);
    uint8_t *cur = calloc(n * SYNTH_N_MEASURES, 1);
    float *eta = malloc(n * SYNTH_N_MEASURES * sizeof *eta);
    float *util = malloc(n * N_UTIL * sizeof *util);
    double *ccum = malloc(ncon * sizeof *ccum), *con_q = malloc(ncon * sizeof *con_q);
    double *con_u = malloc(ncon * SYNTH_N_MEASURES * sizeof *con_u),
           *con_d = malloc(ncon * sizeof *con_d);
    float *etabuf = malloc(n * sizeof *etabuf);
    double *wbuf = malloc(n * sizeof *wbuf), *sstat = malloc(n * sizeof *sstat);
    uint8_t *statin = calloc(n, 1), *yfl = calloc(n, 1);
    /* FHIR: the last year's day of compliance per member and measure (the CSV numerator_date) */
    uint16_t *cday = fx ? calloc(n * SYNTH_N_MEASURES, sizeof *cday) : NULL;
    if (!mem || !prev || !cur || !eta || !util || !ccum || !con_q || !con_u || !con_d || !etabuf ||
        !wbuf || !sstat || !statin || !yfl || (fx && !cday)) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory for %zu members", n);
        goto fail;
    }
    for (int k = 0; k < nout; k++)
        if ((rc = out_open(&outs[k], dir, csv ? CSV_FILES[k] : FHIR_FILES[k], err, errlen)))
            goto fail;
    if (fx)
        for (int k = 0; k < F_NFILES; k++)
            fx->o[k] = &outs[k];

    /* contracts: size weights lognormal, quality and dual-share offsets (stream 0) */
    struct sg_rng r;
    sg_rng_seed2(&r, prm->seed, 0);
    double tot = 0.0;
    for (size_t c = 0; c < ncon; c++) {
        double w = exp(0.9 * sg_rng_normal(&r));
        tot += w;
        ccum[c] = tot;
        con_q[c] = 0.30 * sg_rng_normal(&r);
        con_d[c] = 0.8 * sg_rng_normal(&r);
        for (int k = 0; k < SYNTH_N_MEASURES; k++)
            con_u[(size_t)k * ncon + c] = 0.15 * sg_rng_normal(&r);
    }
    for (size_t c = 0; c < ncon; c++)
        ccum[c] /= tot;
    ccum[ncon - 1] = 1.0;

    /* members */
    struct out *om = csv ? &outs[0] : NULL;
    if (om)
        put_str(om, "member_id,contract_id,birth_date,sex,dual,lis,disability,enrollment_start,"
                    "enrollment_end\n");
    for (size_t i = 0; i < n; i++) {
        sg_rng_seed2(&r, prm->seed, ((uint64_t)i + 1) << 8);
        struct member *m = &mem[i];
        draw_member(m, &r, ccum, ncon, con_d, Y1, Y2);
        if (!om) continue;
        if (out_room(om, 128)) goto ioerr;
        put_id(om, i);
        put_c(om, ',');
        put_c(om, 'H');
        put_u0(om, 1000 + m->contract, 4);
        put_c(om, ',');
        put_date(om, m->birth_year, m->birth_month, m->birth_day);
        put_s(om, m->female ? ",F," : ",M,", 3);
        put_c(om, (char)('0' + m->dual));
        put_c(om, ',');
        put_c(om, (char)('0' + m->lis));
        put_c(om, ',');
        put_c(om, (char)('0' + m->disability));
        put_c(om, ',');
        put_date(om, m->start_year, m->start_month, 1);
        put_c(om, ',');
        if (m->end_year) put_date(om, m->end_year, m->end_month, 28);
        put_c(om, '\n');
    }
    sum->members = n;

    struct out *orz = csv ? &outs[1] : NULL, *of = csv ? &outs[2] : NULL,
               *ot = csv ? &outs[3] : NULL;
    if (csv) {
        put_str(orz, "member_id,measure,year,initial_population,denominator,denominator_exclusion,"
                     "numerator,numerator_date\n");
        put_str(of, "member_id,year");
        for (int u = 0; u < N_UTIL; u++) {
            put_c(of, ',');
            put_s(of, UTIL_NAMES[u], strlen(UTIL_NAMES[u]));
        }
        put_c(of, '\n');
        put_str(ot, "member_id,measure,year,p_compliance,p_open_at_year_end\n");
    }

    double csum[SYNTH_N_MEASURES];
    int am = prm->as_of_month ? prm->as_of_month : SYNTH_AS_OF_DEFAULT_MONTH;
    int ad = prm->as_of_month ? prm->as_of_day : SYNTH_AS_OF_DEFAULT_DAY;
    int asof_doy = day_of_year(Y2, am, ad); /* checked by synth_params_check */
    sum->as_of_month = am;
    sum->as_of_day = ad;
    for (int y = Y1; y <= Y2; y++) {
        int first = y == Y1, last = y == Y2;
        uint64_t yi = (uint64_t)(y - Y1);
        /* pass 1: statin therapy, eligibility, exclusions, utilization, eta */
        for (size_t i = 0; i < n; i++) {
            const struct member *m = &mem[i];
            uint8_t *st = cur + i * SYNTH_N_MEASURES;
            memset(st, S_NONE, SYNTH_N_MEASURES);
            yfl[i] = 0;
            if (!enrolled_full_year(m, y)) continue;
            /* statin therapy this year: P(therapy | state at the start of the year) */
            double p0 = statin_p0(m->cond, (Y2 - m->birth_year - 72) / 10.0);
            if (first || !prev[i].enrolled) {
                sstat[i] = p0; /* first year seen: the baseline draw of draw_member */
                statin[i] = (uint8_t) !!(m->flags & X_STATIN);
            } else {
                struct sg_rng rs;
                sg_rng_seed2(&rs, prm->seed, (((uint64_t)i + 1) << 8) | (0x40 + yi));
                sstat[i] = statin[i] ? STATIN_KEEP : statin_start(p0);
                statin[i] = (uint8_t)sg_rng_bernoulli(&rs, sstat[i]);
            }
            sg_rng_seed2(&r, prm->seed, (((uint64_t)i + 1) << 8) | (1 + 2 * yi));
            draw_util(m, &r, util + i * N_UTIL);
            int age = y - m->birth_year;
            int hospice =
                sg_rng_bernoulli(&r, 0.008 + 0.02 * (age >= 85) + 0.01 * (m->frailty > 1.5));
            int frail_ai =
                sg_rng_bernoulli(&r, sigmoid(-4.0 + 1.0 * m->frailty + 0.04 * (age - 75)));
            yfl[i] = (uint8_t)(hospice | frail_ai << 1);
            for (int k = 0; k < SYNTH_N_MEASURES; k++) {
                if (!in_ip(m, k, y, statin[i])) continue;
                if (excluded(m, k, y, hospice, frail_ai)) {
                    st[k] = S_EXCL;
                    continue;
                }
                st[k] = S_PENDING;
                eta[i * SYNTH_N_MEASURES + (size_t)k] =
                    (float)eta_member(m, &prev[i], k, y, first, con_q, con_u, ncon);
            }
        }
        /* intercepts; SUPD: a member on statin therapy this year has a statin fill, so its
         * probability is s + (1 - s) sigmoid(eta + c), s = P(therapy this year) */
        for (int k = 0; k < SYNTH_N_MEASURES; k++) {
            size_t ne = 0;
            double fixed = 0.0;
            for (size_t i = 0; i < n; i++) {
                if (cur[i * SYNTH_N_MEASURES + (size_t)k] != S_PENDING) continue;
                if (k == M_SUPD) {
                    wbuf[ne] = 1.0 - sstat[i];
                    fixed += sstat[i];
                }
                etabuf[ne++] = eta[i * SYNTH_N_MEASURES + (size_t)k];
            }
            csum[k] = calibrate(etabuf, k == M_SUPD ? wbuf : NULL, ne, fixed, MEASURES[k].target);
        }
        /* pass 2: compliance draws and output */
        for (size_t i = 0; i < n; i++) {
            const struct member *m = &mem[i];
            uint8_t *st = cur + i * SYNTH_N_MEASURES;
            struct prior *pv = &prev[i];
            if (!enrolled_full_year(m, y)) {
                memset(pv, 0, sizeof *pv);
                continue;
            }
            sg_rng_seed2(&r, prm->seed, (((uint64_t)i + 1) << 8) | (2 + 2 * yi));
            struct sg_rng rd; /* compliance days: own stream, the other draws are unchanged */
            sg_rng_seed2(&rd, prm->seed, (((uint64_t)i + 1) << 8) | (0xA0 + yi));
            if (csv && (out_room(orz, 64 * SYNTH_N_MEASURES) ||
                        out_room(ot, 64 * SYNTH_N_MEASURES) || out_room(of, 256)))
                goto ioerr;
            for (int k = 0; k < SYNTH_N_MEASURES; k++) {
                if (st[k] == S_NONE) continue;
                int num = 0, shown = 0, doy = -1;
                double pk = 0.0;
                if (st[k] == S_PENDING) {
                    double q = sigmoid(eta[i * SYNTH_N_MEASURES + (size_t)k] + csum[k]);
                    double u = sg_rng_uniform(&r);
                    if (k == M_SUPD) {
                        pk = sstat[i] + (1.0 - sstat[i]) * q;
                        num = statin[i] || u < q;
                    } else {
                        pk = q;
                        num = u < pk;
                    }
                    /* the day of compliance: drawn for every pending row (fixed stream use) */
                    double ut = sg_rng_uniform(&rd);
                    doy = (int)(pow(ut, 1.0 / TIMING_A[k]) * (double)days_in_year(y));
                    if (doy >= days_in_year(y)) doy = days_in_year(y) - 1;
                    shown = num && (!last || doy <= asof_doy);
                    /* the last year as observed on the as-of day (also for the FHIR output) */
                    st[k] = shown ? S_MET : S_OPEN;
                    if (last && cday) cday[i * SYNTH_N_MEASURES + (size_t)k] = (uint16_t)doy;
                    if (last) {
                        sum->denominator[k]++;
                        sum->numerator[k] += (size_t)num;
                        sum->numerator_as_of[k] += (size_t)shown;
                        sum->expected[k] += pk;
                        sum->truth_rows++;
                        /* P(open at year end | open on the as-of day) = (1 - p) / (1 - p F) */
                        double fa = timing_cdf(k, y, asof_doy), pc = NAN;
                        if (!shown) {
                            double den = 1.0 - pk * fa;
                            pc = den > 0.0 ? (1.0 - pk) / den : 1.0;
                            sum->expected_open[k] += pc;
                        }
                        if (csv) {
                            put_id(ot, i);
                            put_c(ot, ',');
                            put_s(ot, MEASURES[k].code, strlen(MEASURES[k].code));
                            put_c(ot, ',');
                            put_u(ot, (unsigned long)y);
                            put_c(ot, ',');
                            put_fix(ot, pk, 9);
                            put_c(ot, ',');
                            if (!shown) put_fix(ot, pc, 9);
                            put_c(ot, '\n');
                        }
                    }
                }
                sum->result_rows++;
                if (!csv) continue;
                put_id(orz, i);
                put_c(orz, ',');
                put_s(orz, MEASURES[k].code, strlen(MEASURES[k].code));
                put_c(orz, ',');
                put_u(orz, (unsigned long)y);
                if (st[k] == S_EXCL || !shown) {
                    put_s(orz, st[k] == S_EXCL ? ",1,1,1,0,\n" : ",1,1,0,0,\n", 10);
                } else {
                    int mo, dd;
                    month_day(y, doy, &mo, &dd);
                    put_s(orz, ",1,1,0,1,", 9);
                    put_date(orz, y, mo, dd);
                    put_c(orz, '\n');
                }
            }
            const float *u = util + i * N_UTIL;
            sum->feature_rows++;
            if (csv) {
                put_id(of, i);
                put_c(of, ',');
                put_u(of, (unsigned long)y);
                for (int q = 0; q < N_UTIL - 1; q++) {
                    put_c(of, ',');
                    put_u(of, (unsigned long)u[q]);
                }
                put_c(of, ',');
                put_fix(of, u[N_UTIL - 1], 3);
                put_c(of, '\n');
            }
            /* this year becomes the prior year */
            pv->enrolled = 1;
            for (int k = 0; k < SYNTH_N_MEASURES; k++)
                pv->st[k] = st[k] == S_MET ? S_MET : st[k] == S_OPEN ? S_OPEN : S_NONE;
            memcpy(pv->util, u, sizeof pv->util);
        }
    }
    for (int k = 0; k < SYNTH_N_MEASURES; k++)
        if (sum->denominator[k]) sum->expected[k] /= (double)sum->denominator[k];
    if (fx) { /* the last year's statuses are in cur */
        for (size_t i = 0; i < n; i++)
            if (fhir_member(fx, prm, i, &mem[i], enrolled_full_year(&mem[i], Y2),
                            cur + i * SYNTH_N_MEASURES, cday + i * SYNTH_N_MEASURES, asof_doy,
                            yfl[i], util + i * N_UTIL))
                goto ioerr;
        sum->fhir_patients = n;
        sum->fhir_resources = fx->total;
    }
    for (int k = 0; k < nout; k++)
        if ((rc = out_close(&outs[k], err, errlen))) goto fail;
    for (int k = 0; k < nout; k++)
        if (rename(outs[k].path, outs[k].final) != 0) {
            rc = sg_errf(err, errlen, SG_EIO, "%s: %s", outs[k].final, strerror(errno));
            for (int q = k; q < nout; q++)
                remove(outs[q].path);
            for (int q = 0; q < k; q++)
                remove(outs[q].final);
            goto done;
        }
    rc = SG_OK;
    goto done;
ioerr:
    rc = SG_EIO;
    for (int k = 0; k < nout; k++)
        if (outs[k].f && ferror(outs[k].f)) {
            sg_errf(err, errlen, SG_EIO, "%s: write failed", outs[k].path);
            break;
        }
    if (err && !err[0]) sg_errf(err, errlen, SG_EIO, "write failed in %s", dir);
fail:
    for (int k = 0; k < NOUT; k++)
        out_abort(&outs[k]);
done:
    free(mem);
    free(prev);
    free(cur);
    free(eta);
    free(util);
    free(ccum);
    free(con_q);
    free(con_u);
    free(con_d);
    free(etabuf);
    free(wbuf);
    free(sstat);
    free(statin);
    free(yfl);
    free(cday);
    return rc;
}

int synth_write_csv(const struct synth_params *prm, const char *dir, struct synth_summary *sum,
                    char *err, size_t errlen)
{
    struct synth_summary local;
    if (!sum) sum = &local;
    if (err && errlen) err[0] = '\0';
    memset(sum, 0, sizeof *sum);
    int rc = synth_params_check(prm, err, errlen);
    if (rc) return rc;
    return generate(prm, dir, NULL, sum, err, errlen);
}

int synth_write_fhir(const struct synth_params *prm, synth_code_fn codes, void *ud, const char *dir,
                     struct synth_summary *sum, char *err, size_t errlen)
{
    struct synth_summary local;
    if (!sum) sum = &local;
    if (err && errlen) err[0] = '\0';
    memset(sum, 0, sizeof *sum);
    int rc = synth_params_check(prm, err, errlen);
    if (rc) return rc;
    if (!codes) return sg_errf(err, errlen, SG_EINVAL, "no value-set code source given");
    struct fhir *fx = calloc(1, sizeof *fx);
    if (!fx) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    for (int k = 0; k < R_N; k++) {
        rc = codes(ud, ROLE_VS[k], fx->code[k], SYNTH_FHIR_MAX_CODES, &fx->ncode[k], err, errlen);
        if (rc == SG_OK && (fx->ncode[k] == 0 || fx->ncode[k] > SYNTH_FHIR_MAX_CODES))
            rc = sg_errf(err, errlen, SG_ENOTFOUND, "value set %s: no code to use", ROLE_VS[k]);
        if (rc) goto out;
    }
    rc = generate(prm, dir, fx, sum, err, errlen);
out:
    free(fx);
    return rc;
}
