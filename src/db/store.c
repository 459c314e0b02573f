/* store.c: the backend-independent half of the storage layer.
 *
 * Opens a backend by URL, and implements every store_* wrapper: each one validates its
 * arguments here (so SQLite and PostgreSQL accept and reject exactly the same input), fills in
 * defaults (generated UUIDs, the `now` timestamp), and then calls the backend through the ops
 * table. Also here: the enumeration names, the gap/intervention transition tables, the audit
 * hash chain encoding, the JSON of audit "changes", and the list/row free functions. */
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/sort.h"
#include "db/migrate.h"
#include "db/store.h"

/* ---- enumerations ---- */

#define ENUM_FUNCS(prefix, type, ...)                                                          \
    static const char *const prefix##_names[] = {__VA_ARGS__};                                 \
    const char *prefix##_name(int v)                                                           \
    {                                                                                          \
        size_t n = sizeof prefix##_names / sizeof prefix##_names[0];                           \
        return (v >= 0 && (size_t)v < n) ? prefix##_names[v] : NULL;                           \
    }                                                                                          \
    int prefix##_parse(const char *s, type *out)                                               \
    {                                                                                          \
        size_t n = sizeof prefix##_names / sizeof prefix##_names[0];                           \
        for (size_t i = 0; s && i < n; i++)                                                    \
            if (!strcmp(s, prefix##_names[i])) {                                               \
                *out = (type)i;                                                                \
                return SG_OK;                                                                  \
            }                                                                                  \
        return SG_EINVAL;                                                                      \
    }

ENUM_FUNCS(store_risk_tier, enum store_risk_tier, "high", "medium", "low")
ENUM_FUNCS(store_gap_status, enum store_gap_status, "identified", "assigned", "completed", "closed")
ENUM_FUNCS(store_iv_status, enum store_iv_status, "planned", "in_progress", "completed", "cancelled")
ENUM_FUNCS(store_outcome, enum store_outcome, "", "success", "partial", "failed")
ENUM_FUNCS(store_role, enum store_role, "reader", "writer", "admin")
ENUM_FUNCS(store_sex, enum store_sex, "U", "F", "M")
ENUM_FUNCS(store_direction, enum store_direction, "higher", "lower")
ENUM_FUNCS(store_weight_cat, enum store_weight_cat, "process", "outcome", "intermediate_outcome",
           "patient_experience", "access", "improvement")

const char *store_history_kind_name(int v)
{
    static const char *const names[] = {"measure_result", "prediction", "gap", "intervention"};
    return (v >= 0 && v < 4) ? names[v] : NULL;
}

/* ---- transitions ---- */

int store_gap_transition_ok(enum store_gap_status from, enum store_gap_status to)
{
    switch (from) {
    case STORE_GAP_IDENTIFIED: return to == STORE_GAP_ASSIGNED || to == STORE_GAP_CLOSED;
    case STORE_GAP_ASSIGNED: return to == STORE_GAP_COMPLETED || to == STORE_GAP_CLOSED;
    case STORE_GAP_COMPLETED: return to == STORE_GAP_CLOSED;
    case STORE_GAP_CLOSED: return 0;
    }
    return 0;
}

int store_iv_transition_ok(enum store_iv_status from, enum store_iv_status to)
{
    switch (from) {
    case STORE_IV_PLANNED: return to == STORE_IV_IN_PROGRESS || to == STORE_IV_CANCELLED;
    case STORE_IV_IN_PROGRESS: return to == STORE_IV_CANCELLED;
    case STORE_IV_COMPLETED:
    case STORE_IV_CANCELLED: return 0;
    }
    return 0;
}

/* ---- time ---- */

void store_ts_ago(long long seconds_ago, char out[STORE_TS_LEN])
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    time_t t = ts.tv_sec - (time_t)seconds_ago;
    gmtime_r(&t, &tm);
    char buf[64];
    snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    snprintf(out, STORE_TS_LEN, "%.*s", STORE_TS_LEN - 1, buf);
}

void store_now(char out[STORE_TS_LEN]) { store_ts_ago(0, out); }

void store_date_of(const char *ts, char out[STORE_DATE_LEN])
{
    snprintf(out, STORE_DATE_LEN, "%.10s", ts);
}

/* ---- errors ---- */

int store_db_error(char *err, size_t errlen, int kind, const char *stmt, const char *code,
                   const char *msg)
{
    int rc = kind == 1 ? SG_ECONFLICT : kind == 2 ? SG_EINVAL : kind == 3 ? SG_EBUSY : SG_EDB;
    if (kind == 0) LOG_ERROR("event=db_error stmt=%s code=%s msg=\"%s\"", stmt, code, msg);
    else LOG_DEBUG("event=db_constraint stmt=%s code=%s msg=\"%s\"", stmt, code, msg);
    if (kind == 1)
        return sg_errf(err, errlen, rc, "%s: duplicate: %s", stmt, msg);
    return sg_errf(err, errlen, rc, "%s: %s: %s", stmt, code, msg);
}

/* ---- validation (field names appear in messages, values never do for identifiers) ---- */

/* True when the fixed-size array holds a terminated string. */
static int terminated(const char *s, size_t size) { return memchr(s, '\0', size) != NULL; }

static int v_text(char *err, size_t errlen, const char *field, const char *s, size_t size,
                  int required)
{
    if (!terminated(s, size))
        return sg_errf(err, errlen, SG_EINVAL, "%s: longer than %zu characters", field, size - 1);
    if (required && !*s) return sg_errf(err, errlen, SG_EINVAL, "%s: required", field);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 && *p != '\t' && *p != '\n')
            return sg_errf(err, errlen, SG_EINVAL, "%s: control character", field);
    return SG_OK;
}

static int v_cstr(char *err, size_t errlen, const char *field, const char *s, size_t max)
{
    if (!s || !*s) return sg_errf(err, errlen, SG_EINVAL, "%s: required", field);
    if (strlen(s) > max)
        return sg_errf(err, errlen, SG_EINVAL, "%s: longer than %zu characters", field, max);
    return SG_OK;
}

static int is_lower_hex64(const char *s)
{
    if (!sg_is_hex64(s)) return 0;
    for (; *s; s++)
        if (isupper((unsigned char)*s)) return 0;
    return 1;
}

static int v_hash(char *err, size_t errlen, const char *field, const char *s)
{
    if (!s || !is_lower_hex64(s))
        return sg_errf(err, errlen, SG_EINVAL, "%s: must be 64 lower-case hex characters", field);
    return SG_OK;
}

/* Copies a UUID into out in lower case after checking it. */
static int v_uuid(char *err, size_t errlen, const char *field, const char *s, char out[STORE_ID_LEN])
{
    if (!s || !sg_is_uuid(s)) return sg_errf(err, errlen, SG_EINVAL, "%s: not a UUID", field);
    for (int i = 0; i < 36; i++) out[i] = (char)tolower((unsigned char)s[i]);
    out[36] = '\0';
    return SG_OK;
}

/* Fills an empty id with a new UUID, or normalizes a given one. */
static int v_id_or_new(char *err, size_t errlen, const char *field, char id[STORE_ID_LEN])
{
    if (!terminated(id, STORE_ID_LEN) || !*id) {
        if (sg_uuid_v4(id) != SG_OK) return sg_errf(err, errlen, SG_EINTERNAL, "uuid generation failed");
        return SG_OK;
    }
    char tmp[STORE_ID_LEN];
    int rc = v_uuid(err, errlen, field, id, tmp);
    if (rc == SG_OK) memcpy(id, tmp, STORE_ID_LEN);
    return rc;
}

static int v_contract(char *err, size_t errlen, const char *field, const char *s, int required)
{
    if (!s || !*s)
        return required ? sg_errf(err, errlen, SG_EINVAL, "%s: required", field) : SG_OK;
    size_t n = strnlen(s, STORE_CONTRACT_LEN);
    if (n >= STORE_CONTRACT_LEN)
        return sg_errf(err, errlen, SG_EINVAL, "%s: longer than %d characters", field,
                       STORE_CONTRACT_LEN - 1);
    for (size_t i = 0; i < n; i++)
        if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]))
            return sg_errf(err, errlen, SG_EINVAL, "%s: only A-Z and 0-9 allowed", field);
    return SG_OK;
}

static int v_year(char *err, size_t errlen, const char *field, int y, int optional)
{
    if (optional && y == 0) return SG_OK;
    if (y < 2000 || y > 2100) return sg_errf(err, errlen, SG_EINVAL, "%s: must be 2000..2100", field);
    return SG_OK;
}

static int v_prob(char *err, size_t errlen, const char *field, double p)
{
    if (!isfinite(p) || p < 0.0 || p > 1.0)
        return sg_errf(err, errlen, SG_EINVAL, "%s: must be a number in [0,1]", field);
    return SG_OK;
}

/* NAN allowed (NULL) or a finite value >= lo (lo = -INFINITY for any). */
static int v_opt_num(char *err, size_t errlen, const char *field, double x, double lo, double hi)
{
    if (isnan(x)) return SG_OK;
    if (!isfinite(x) || x < lo || x > hi)
        return sg_errf(err, errlen, SG_EINVAL, "%s: out of range", field);
    return SG_OK;
}

static int v_stars(char *err, size_t errlen, const char *field, double x, int half_steps)
{
    if (isnan(x)) return SG_OK;
    if (!isfinite(x) || x < 1.0 || x > 5.0 || (half_steps && x * 2 != floor(x * 2)))
        return sg_errf(err, errlen, SG_EINVAL, "%s: must be a star value in [1,5]%s", field,
                       half_steps ? " in steps of 0.5" : "");
    return SG_OK;
}

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int valid_date(const char *s)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i])) return 0;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3) return 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1) return 0;
    return d <= mdays[m - 1] + (m == 2 && is_leap(y));
}

static int v_date(char *err, size_t errlen, const char *field, const char *s, int optional)
{
    if ((!s || !*s) && optional) return SG_OK;
    if (!s || !terminated(s, STORE_DATE_LEN) || !valid_date(s))
        return sg_errf(err, errlen, SG_EINVAL, "%s: must be a date YYYY-MM-DD", field);
    return SG_OK;
}

/* numerator_date of a measure result: empty, or a date in the measurement year of a met row. */
static int v_numerator_date(char *err, size_t errlen, const struct store_measure_result *r)
{
    const char *d = r->numerator_date;
    if (terminated(d, STORE_DATE_LEN) && !*d) return SG_OK;
    int rc = v_date(err, errlen, "numerator_date", d, 0);
    if (rc) return rc;
    if (!r->numerator) return sg_errf(err, errlen, SG_EINVAL, "numerator_date: requires numerator = 1");
    if (atoi(d) != r->measurement_year)
        return sg_errf(err, errlen, SG_EINVAL, "numerator_date: not in measurement_year %d", r->measurement_year);
    return SG_OK;
}

static int dig2(const char *p) { return (p[0] - '0') * 10 + (p[1] - '0'); }

/* True when ts is exactly YYYY-MM-DDTHH:MM:SS.ffffffZ with a valid date and time (checked by hand:
 * this runs once per row of a million-row batch, where sscanf would dominate). */
static int canonical_ts(const char *ts)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    for (int i = 0; i < 27; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)ts[i]) : ts[i] != shape[i]) return 0;
    }
    if (ts[27] != '\0') return 0;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = dig2(ts) * 100 + dig2(ts + 2), m = dig2(ts + 5), d = dig2(ts + 8);
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && is_leap(y))) return 0;
    return dig2(ts + 11) <= 23 && dig2(ts + 14) <= 59 && dig2(ts + 17) <= 60;
}

/* Timestamps: YYYY-MM-DDTHH:MM:SS[.ffffff]Z; stored normalized to microseconds. */
static int v_ts(char *err, size_t errlen, const char *field, char ts[STORE_TS_LEN], const char *now)
{
    if (!terminated(ts, STORE_TS_LEN))
        return sg_errf(err, errlen, SG_EINVAL, "%s: not a timestamp", field);
    if (!*ts) {
        memcpy(ts, now, STORE_TS_LEN);
        return SG_OK;
    }
    if (canonical_ts(ts)) return SG_OK; /* fast path: already YYYY-MM-DDTHH:MM:SS.ffffffZ */
    char date[11];
    int hh, mi, ss, n = 0;
    size_t len = strlen(ts);
    if (len < 20 || ts[10] != 'T' || ts[len - 1] != 'Z') goto bad;
    memcpy(date, ts, 10);
    date[10] = '\0';
    if (!valid_date(date)) goto bad;
    if (sscanf(ts + 11, "%2d:%2d:%2d%n", &hh, &mi, &ss, &n) != 3 || n != 8 || hh > 23 || mi > 59 ||
        ss > 60)
        goto bad;
    const char *frac = ts + 19;
    char digits[7] = "000000";
    if (*frac == '.') {
        size_t k = 0;
        for (frac++; isdigit((unsigned char)*frac); frac++)
            if (k < 6) digits[k++] = *frac;
        if (k == 0) goto bad;
    }
    if (strcmp(frac, "Z") != 0) goto bad;
    char norm[64];
    snprintf(norm, sizeof norm, "%sT%02d:%02d:%02d.%sZ", date, hh, mi, ss, digits);
    snprintf(ts, STORE_TS_LEN, "%.*s", STORE_TS_LEN - 1, norm);
    return SG_OK;
bad:
    return sg_errf(err, errlen, SG_EINVAL, "%s: must be a UTC timestamp YYYY-MM-DDTHH:MM:SS[.ffffff]Z",
                   field);
}

/* kind: 0 any JSON, 'o' object, 'a' array. NULL allowed unless required. */
/* ---- JSON: a validating scanner for the common case, jansson for everything else ----
 *
 * Written here, not taken from a library, because jansson (the project's JSON library) can only
 * validate by building a tree: json_loads cost ~8,600 instructions for a 45-byte SHAP object
 * (callgrind), a third of the whole cost of inserting a prediction. The scanner allocates nothing.
 * It decides only a conservative subset completely: ASCII strings without \u escapes or control
 * characters, integers of at most 18 digits, reals with at most 30 integer digits and a 1-2 digit
 * exponent (no overflow possible), nesting depth <= JS_MAX_DEPTH, objects of at most JS_MAX_KEYS
 * keys without escapes (duplicates compared byte-wise). For anything outside it, including
 * every invalid text, it answers 0 ("not decided") and v_json asks jansson, so what is accepted
 * and every error message stay jansson's. */
#define JS_MAX_DEPTH 16
#define JS_MAX_KEYS 64

static const char *js_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

/* p at '"': returns the byte after the closing quote, or NULL when not decided. */
static const char *js_string(const char *p)
{
    for (p++;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c < 0x20 || c >= 0x80) return NULL; /* control, NUL (end) or non-ASCII */
        if (c == '\\') {
            p++;
            if (!*p || !strchr("\"\\/bfnrt", *p)) return NULL; /* \u and invalid escapes */
        }
    }
}

static const char *js_digits(const char *p, int *n)
{
    *n = 0;
    while (*p >= '0' && *p <= '9') p++, (*n)++;
    return p;
}

static const char *js_number(const char *p)
{
    int n, real = 0;
    if (*p == '-') p++;
    if (*p == '0') {
        p++;
        n = 1;
    } else if (*p >= '1' && *p <= '9') {
        p = js_digits(p, &n);
    } else {
        return NULL;
    }
    int int_digits = n;
    if (*p == '.') {
        p = js_digits(p + 1, &n);
        if (!n) return NULL;
        real = 1;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        p = js_digits(p, &n);
        if (n < 1 || n > 2) return NULL;
        real = 1;
    }
    if (real ? int_digits > 30 : int_digits > 18) return NULL;
    return p;
}

/* One value at p (after white space): returns the byte after it, or NULL when not decided;
 * *type gets 'o' object, 'a' array or 'v' another value. */
static const char *js_value(const char *p, int depth, int *type)
{
    *type = 'v';
    if (*p == '"') return js_string(p);
    if (*p == '-' || (*p >= '0' && *p <= '9')) return js_number(p);
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    if (*p != '{' && *p != '[') return NULL;
    if (depth >= JS_MAX_DEPTH) return NULL;
    int object = *p == '{', t;
    char close = object ? '}' : ']';
    const char *key[JS_MAX_KEYS];
    size_t keylen[JS_MAX_KEYS];
    int nkeys = 0;
    *type = object ? 'o' : 'a';
    p = js_ws(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
        if (object) {
            if (*p != '"' || nkeys == JS_MAX_KEYS) return NULL;
            const char *end = js_string(p);
            if (!end || memchr(p, '\\', (size_t)(end - p))) return NULL; /* escaped keys: jansson */
            key[nkeys] = p;
            keylen[nkeys] = (size_t)(end - p);
            for (int k = 0; k < nkeys; k++)
                if (keylen[k] == keylen[nkeys] && !memcmp(key[k], p, keylen[k])) return NULL;
            nkeys++;
            p = js_ws(end);
            if (*p != ':') return NULL;
            p = js_ws(p + 1);
        }
        if (!(p = js_value(p, depth + 1, &t))) return NULL;
        p = js_ws(p);
        if (*p == close) return p + 1;
        if (*p != ',') return NULL;
        p = js_ws(p + 1);
    }
}

/* The type of the JSON text s ('o', 'a', 'v') when the scanner decides it is valid (no duplicate
 * keys, nothing jansson would reject), else 0. */
static int js_scan(const char *s)
{
    int type;
    const char *p = js_value(js_ws(s), 0, &type);
    return p && !*js_ws(p) ? type : 0;
}

static int v_json(char *err, size_t errlen, const char *field, const char *s, int kind, int required)
{
    if (!s) return required ? sg_errf(err, errlen, SG_EINVAL, "%s: required", field) : SG_OK;
    int type = js_scan(s);
    if (type && (kind == 0 || kind == type)) return SG_OK; /* else jansson decides and words it */
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!j) return sg_errf(err, errlen, SG_EINVAL, "%s: malformed JSON at column %d: %s", field, je.column, je.text);
    int ok = kind == 0 || (kind == 'o' && json_is_object(j)) || (kind == 'a' && json_is_array(j));
    json_decref(j);
    if (!ok)
        return sg_errf(err, errlen, SG_EINVAL, "%s: must be a JSON %s", field,
                       kind == 'o' ? "object" : "array");
    return SG_OK;
}

static int v_page(char *err, size_t errlen, const struct store_page *pg)
{
    if (!pg) return sg_errf(err, errlen, SG_EINVAL, "page: required");
    if (pg->limit < 1 || pg->limit > STORE_MAX_LIMIT)
        return sg_errf(err, errlen, SG_EINVAL, "limit: must be 1..%d", STORE_MAX_LIMIT);
    if (pg->offset < 0 || pg->offset > 100000000)
        return sg_errf(err, errlen, SG_EINVAL, "offset: must be 0..100000000");
    return SG_OK;
}

static int v_token(char *err, size_t errlen, const char *field, const char *s, size_t max,
                   const char *extra)
{
    int rc = v_cstr(err, errlen, field, s, max);
    if (rc) return rc;
    for (const char *p = s; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && !strchr(extra, *p))
            return sg_errf(err, errlen, SG_EINVAL, "%s: only a-z, 0-9 and '%s' allowed", field, extra);
    return SG_OK;
}

static int v_actor(char *err, size_t errlen, const struct store_actor *a, int required)
{
    if (!a) return required ? sg_errf(err, errlen, SG_EINVAL, "actor: required") : SG_OK;
    int rc = v_cstr(err, errlen, "actor.user_id", a->user_id, STORE_NAME_LEN - 1);
    if (rc) return rc;
    if (a->ip_address && strlen(a->ip_address) > 63)
        return sg_errf(err, errlen, SG_EINVAL, "actor.ip_address: longer than 63 characters");
    return SG_OK;
}

static int v_enum(char *err, size_t errlen, const char *field, int v, int n)
{
    if (v < 0 || v >= n) return sg_errf(err, errlen, SG_EINVAL, "%s: unknown value", field);
    return SG_OK;
}

/* ---- the measure code cache ---- */

/* Known measure codes (any star year), loaded from the catalog on first use and dropped on
 * every catalog change, so validation does not query the catalog per row. */
struct store_codes {
    pthread_mutex_t mu;
    int loaded;
    time_t loaded_at;  /* a miss reloads at most once a second (another process may have seeded) */
    char (*codes)[STORE_CODE_LEN];
    size_t n;
};

static int code_cmp(const void *a, const void *b) { return strcmp(a, b); }

static int codes_load(struct store *st, char *err, size_t errlen)
{
    struct store_codes *c = st->codes;
    struct store_measure_list l = {0};
    int rc = st->ops->measure_list(st, 0, &l, err, errlen);
    if (rc) return rc;
    free(c->codes);
    c->codes = l.n ? calloc(l.n, STORE_CODE_LEN) : NULL;
    c->n = 0;
    if (l.n && !c->codes) {
        store_measure_list_free(&l);
        return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < l.n; i++) memcpy(c->codes[i], l.items[i].code, STORE_CODE_LEN);
    qsort(c->codes, l.n, STORE_CODE_LEN, code_cmp);
    for (size_t i = 0; i < l.n; i++) /* unique */
        if (c->n == 0 || strcmp(c->codes[c->n - 1], c->codes[i])) memmove(c->codes[c->n++], c->codes[i], STORE_CODE_LEN);
    c->loaded = 1;
    c->loaded_at = time(NULL);
    store_measure_list_free(&l);
    return SG_OK;
}

static void codes_invalidate(struct store *st)
{
    pthread_mutex_lock(&st->codes->mu);
    st->codes->loaded = 0;
    pthread_mutex_unlock(&st->codes->mu);
}

static int v_code_syntax(char *err, size_t errlen, const char *field, const char *s)
{
    if (!s || !*s) return sg_errf(err, errlen, SG_EINVAL, "%s: required", field);
    size_t n = strnlen(s, STORE_CODE_LEN);
    if (n >= STORE_CODE_LEN) return sg_errf(err, errlen, SG_EINVAL, "%s: unknown measure", field);
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return sg_errf(err, errlen, SG_EINVAL, "%s: unknown measure", field);
    return SG_OK;
}

/* A measure code must be well formed and present in the catalog (for any star year). */
static int v_code(struct store *st, char *err, size_t errlen, const char *field, const char *s)
{
    int rc = v_code_syntax(err, errlen, field, s);
    if (rc) return rc;
    struct store_codes *c = st->codes;
    pthread_mutex_lock(&c->mu);
    if (!c->loaded) rc = codes_load(st, err, errlen);
    int found = rc == SG_OK && c->n && bsearch(s, c->codes, c->n, STORE_CODE_LEN, code_cmp);
    if (rc == SG_OK && !found && time(NULL) != c->loaded_at) {
        rc = codes_load(st, err, errlen);
        found = rc == SG_OK && c->n && bsearch(s, c->codes, c->n, STORE_CODE_LEN, code_cmp);
    }
    pthread_mutex_unlock(&c->mu);
    if (rc) return rc;
    if (!found) return sg_errf(err, errlen, SG_EINVAL, "%s: unknown measure '%s'", field, s);
    return SG_OK;
}

/* ---- opening ---- */

int store_open(const char *url, const struct sg_config *cfg, struct store **out, char *err,
               size_t errlen)
{
    *out = NULL;
    if (!url || !*url) return sg_errf(err, errlen, SG_EINVAL, "db: empty database URL");
    struct store *st = NULL;
    int rc;
    if (!strncmp(url, "sqlite:", 7)) {
        rc = store_sqlite_open(url + 7, cfg, &st, err, errlen);
    } else if (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13)) {
#ifdef SG_HAVE_PG
        rc = store_pg_open(url, cfg, &st, err, errlen);
#else
        return sg_errf(err, errlen, SG_EUNSUPPORTED, "db: this build has no PostgreSQL backend");
#endif
    } else {
        return sg_errf(err, errlen, SG_EINVAL,
                       "db: unknown database URL scheme (use sqlite:PATH, sqlite::memory: or postgres://...)");
    }
    if (rc) return rc;
    st->codes = calloc(1, sizeof *st->codes);
    if (!st->codes) {
        st->ops->close(st);
        return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&st->codes->mu, NULL);
    st->busy_timeout_ms = cfg ? cfg->sqlite_busy_timeout_ms : 5000;
    *out = st;
    return SG_OK;
}

void store_close(struct store *st)
{
    if (!st) return;
    struct store_codes *c = st->codes;
    st->ops->close(st);
    if (c) {
        pthread_mutex_destroy(&c->mu);
        free(c->codes);
        free(c);
    }
}

/* ---- members ---- */

static int v_member(char *err, size_t errlen, const struct store_member *m)
{
    int rc;
    if (!m) return sg_errf(err, errlen, SG_EINVAL, "member: required");
    if ((rc = v_hash(err, errlen, "member_hash", terminated(m->member_hash, STORE_HASH_LEN) ? m->member_hash : NULL)) ||
        (rc = v_contract(err, errlen, "contract_id", terminated(m->contract_id, STORE_CONTRACT_LEN) ? m->contract_id : "?", 1)))
        return rc;
    if (m->active != 0 && m->active != 1) return sg_errf(err, errlen, SG_EINVAL, "active: must be 0 or 1");
    if (m->birth_year != 0 && (m->birth_year < 1900 || m->birth_year > 2100))
        return sg_errf(err, errlen, SG_EINVAL, "birth_year: must be 1900..2100 (0 = unknown)");
    if ((rc = v_enum(err, errlen, "sex", (int)m->sex, 3))) return rc;
    if (m->dual_eligible < -1 || m->dual_eligible > 1) return sg_errf(err, errlen, SG_EINVAL, "dual_eligible: must be -1, 0 or 1");
    if (m->lis < -1 || m->lis > 1) return sg_errf(err, errlen, SG_EINVAL, "lis: must be -1, 0 or 1");
    if (m->disabled < -1 || m->disabled > 1) return sg_errf(err, errlen, SG_EINVAL, "disabled: must be -1, 0 or 1");
    return SG_OK;
}

int store_member_create(struct store *st, const struct store_actor *a, const struct store_member *m,
                        char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0)) || (rc = v_member(err, errlen, m))) return rc;
    store_now(now);
    return st->ops->member_create(st, a, m, now, err, errlen);
}

int store_member_get(struct store *st, const char *member_hash, struct store_member *out,
                     char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int rc = v_hash(err, errlen, "member_hash", member_hash);
    if (rc) return rc;
    return st->ops->member_get(st, member_hash, out, err, errlen);
}

int store_member_get_or_create(struct store *st, const struct store_actor *a,
                               const struct store_member *m, struct store_member *out, int *created,
                               char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc, c = 0;
    memset(out, 0, sizeof *out);
    if (created) *created = 0;
    if ((rc = v_actor(err, errlen, a, 0)) || (rc = v_member(err, errlen, m))) return rc;
    store_now(now);
    rc = st->ops->member_get_or_create(st, a, m, now, out, &c, err, errlen);
    if (created) *created = c;
    return rc;
}

int store_member_update_activity(struct store *st, const struct store_actor *a,
                                 const char *member_hash, int active, char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0)) || (rc = v_hash(err, errlen, "member_hash", member_hash)))
        return rc;
    if (active != 0 && active != 1) return sg_errf(err, errlen, SG_EINVAL, "active: must be 0 or 1");
    store_now(now);
    return st->ops->member_update_activity(st, a, member_hash, active, now, err, errlen);
}

/* ---- predictions ---- */

static int v_prediction(struct store *st, char *err, size_t errlen, struct store_prediction *p,
                        const char *now)
{
    int rc;
    if ((rc = v_id_or_new(err, errlen, "prediction_id", p->prediction_id)) ||
        (rc = v_hash(err, errlen, "member_hash", terminated(p->member_hash, STORE_HASH_LEN) ? p->member_hash : NULL)) ||
        (rc = v_code(st, err, errlen, "measure_code", terminated(p->measure_code, STORE_CODE_LEN) ? p->measure_code : NULL)) ||
        (rc = v_year(err, errlen, "measurement_year", p->measurement_year, 0)) ||
        (rc = v_prob(err, errlen, "gap_probability", p->gap_probability)) ||
        (rc = v_enum(err, errlen, "risk_tier", (int)p->risk_tier, 3)) ||
        (rc = v_opt_num(err, errlen, "risk_score", p->risk_score, -INFINITY, INFINITY)) ||
        (rc = v_json(err, errlen, "shap_values", p->shap_values, 'o', 0)) ||
        (rc = v_json(err, errlen, "top_features", p->top_features, 'a', 0)) ||
        (rc = v_text(err, errlen, "recommendation", p->recommendation, STORE_TEXT_LEN, 0)) ||
        (rc = v_text(err, errlen, "model_version", p->model_version, STORE_NAME_LEN, 1)) ||
        (rc = v_ts(err, errlen, "prediction_date", p->prediction_date, now)))
        return rc;
    return SG_OK;
}

/* Orders two prediction rows by their unique key (member hash, measure, year, model version;
 * sg_order_by_key's tie-break). Any bytes: every string is compared within its buffer. */
static int pred_key_cmp(const void *ctx, uint32_t a, uint32_t b)
{
    const struct store_prediction *x = &((const struct store_prediction *)ctx)[a];
    const struct store_prediction *y = &((const struct store_prediction *)ctx)[b];
    int c = strncmp(x->member_hash, y->member_hash, STORE_HASH_LEN);
    if (!c) c = strncmp(x->measure_code, y->measure_code, STORE_CODE_LEN);
    if (!c) c = (x->measurement_year > y->measurement_year) - (x->measurement_year < y->measurement_year);
    if (!c) c = strncmp(x->model_version, y->model_version, STORE_NAME_LEN);
    return c;
}

/* Fills order[0..n) with the indices of rows sorted by their unique key (member_hash first),
 * ties in row order: the order batch_create inserts in (member-leading b-trees and the foreign
 * key are then walked in order, and PostgreSQL's rebuild of the unique key after a first load
 * sorts input that is already in order) and, for the ids it generates, the order they increase
 * in. Any bytes are accepted (ids are assigned before rows are checked). SG_OK or SG_ENOMEM. */
static int prediction_key_order(const struct store_prediction *rows, size_t n, uint32_t *order)
{
    /* a radix sort on the hash's first 16 hex digits (core/sort.h): a comparison sort of a
     * million 896-byte rows cost ~0.4 s of CPU in a batch meant to take a few seconds */
    uint64_t *key = malloc((n ? n : 1) * sizeof *key);
    if (!key) return SG_ENOMEM;
    for (size_t i = 0; i < n; i++) key[i] = sg_hex_prefix64(rows[i].member_hash);
    int rc = sg_order_by_key(key, n, pred_key_cmp, rows, order);
    free(key);
    return rc;
}

/* Time-ordered UUIDs (version 7, RFC 9562: 48-bit Unix milliseconds, then a 42-bit counter in
 * rand_a and the top of rand_b (RFC 9562 6.2, method 1, started at a random value below 2^41 so
 * a million rows cannot roll it over), then 32 random bits) for the rows of a batch that have no
 * id, in the order the backends insert them: slot(rows, k) is the id buffer of the row inserted
 * k-th, or NULL when that row has an id already. The ids of one batch therefore arrive in
 * ascending order and land at the right edge of the primary-key index one after the other; with
 * random ids the primary key cost the PostgreSQL COPY of a million predictions about 3 s of server
 * CPU more (docs/BENCHMARKS.md). Random bytes are drawn for 1,024 rows per call (one RAND_bytes
 * call per row costs more than the insert). */
typedef char *(*v7_slot_fn)(void *rows, const uint32_t *order, size_t k);

static int fill_v7(void *rows, const uint32_t *order, size_t n, v7_slot_fn slot, char *err,
                   size_t errlen)
{
    static const char hexd[] = "0123456789abcdef";
    uint8_t rnd[1024 * 4];
    size_t avail = 0, used = 0;
    uint64_t counter;
    if (sg_random_bytes(&counter, sizeof counter) != SG_OK)
        return sg_errf(err, errlen, SG_EINTERNAL, "random bytes unavailable");
    counter &= (1ULL << 41) - 1;
    struct timespec tsp;
    clock_gettime(CLOCK_REALTIME, &tsp);
    unsigned long long ms = (unsigned long long)tsp.tv_sec * 1000ULL + (unsigned long long)(tsp.tv_nsec / 1000000);
    for (size_t k = 0; k < n; k++) {
        char *o = slot(rows, order, k);
        if (!o) continue;
        if (used == avail) {
            if (sg_random_bytes(rnd, sizeof rnd) != SG_OK)
                return sg_errf(err, errlen, SG_EINTERNAL, "random bytes unavailable");
            avail = sizeof rnd / 4;
            used = 0;
        }
        uint8_t b[16];
        for (int i = 0; i < 6; i++) b[i] = (uint8_t)(ms >> (8 * (5 - i)));
        uint64_t c = counter++; /* 42 bits: 12 in rand_a, 30 at the top of rand_b */
        b[6] = (uint8_t)(0x70 | ((c >> 38) & 0x0f)); /* version 7 */
        b[7] = (uint8_t)(c >> 30);
        b[8] = (uint8_t)(0x80 | ((c >> 24) & 0x3f)); /* RFC 9562 variant */
        b[9] = (uint8_t)(c >> 16);
        b[10] = (uint8_t)(c >> 8);
        b[11] = (uint8_t)c;
        memcpy(b + 12, rnd + 4 * used++, 4);
        for (int i = 0, j = 0; i < 16; i++) {
            if (i == 4 || i == 6 || i == 8 || i == 10) o[j++] = '-';
            o[j++] = hexd[b[i] >> 4];
            o[j++] = hexd[b[i] & 15];
        }
        o[36] = '\0';
    }
    return SG_OK;
}

/* Predictions are inserted in unique-key order (prediction_key_order). */
static char *pred_id_slot(void *rows, const uint32_t *order, size_t k)
{
    struct store_prediction *p = &((struct store_prediction *)rows)[order[k]];
    return p->prediction_id[0] ? NULL : p->prediction_id;
}

/* ---- validating a big batch on two threads ----
 *
 * A batch's rows are checked one by one before anything is written; for a million predictions
 * that is about a second of one core while the database waits and the second core idles. Big
 * batches are therefore checked in two halves at once; the error reported is still the first
 * failing row in the caller's order, as a serial loop would report it. */

#define VPAR_MIN_ROWS 65536 /* smaller batches: a thread costs more than it saves */

/* Checks row i of rows against ctx (the batch's shared arguments); may fill in defaults (an
 * empty date becomes now). Writes "<field>: <problem>" to e on failure. */
typedef int (*row_check_fn)(struct store *st, void *rows, size_t i, const void *ctx, char *e,
                            size_t elen);

struct vpar {
    struct store *st;
    void *rows;
    size_t from, to, bad;
    const void *ctx;
    row_check_fn check;
    int rc;
    char e[SG_ERRLEN];
};

static void *vpar_run(void *arg)
{
    struct vpar *v = arg;
    v->rc = SG_OK;
    for (size_t i = v->from; i < v->to && !v->rc; i++)
        if ((v->rc = v->check(v->st, v->rows, i, v->ctx, v->e, sizeof v->e))) v->bad = i;
    return NULL;
}

/* Checks rows [0, n) with check: SG_OK, or the first failing row's error as "rows[i].<field>:
 * ..." in err. Uses a second thread for big batches (serially when it cannot be started). */
static int validate_rows(struct store *st, void *rows, size_t n, const void *ctx,
                         row_check_fn check, char *err, size_t errlen)
{
    struct vpar part[2] = {{st, rows, 0, n, 0, ctx, check, SG_OK, ""},
                           {st, rows, n, n, 0, ctx, check, SG_OK, ""}};
    pthread_t t;
    int threaded = 0;
    if (n >= VPAR_MIN_ROWS) {
        part[0].to = part[1].from = n / 2;
        threaded = pthread_create(&t, NULL, vpar_run, &part[1]) == 0;
        if (!threaded) part[0].to = n; /* no thread: one pass over everything */
    }
    vpar_run(&part[0]);
    if (threaded) pthread_join(t, NULL);
    for (int k = 0; k < 2; k++)
        if (part[k].rc) return sg_errf(err, errlen, part[k].rc, "rows[%zu].%s", part[k].bad, part[k].e);
    return SG_OK;
}

static int pred_check(struct store *st, void *rows, size_t i, const void *now, char *e,
                      size_t elen)
{
    return v_prediction(st, e, elen, &((struct store_prediction *)rows)[i], now);
}

/* A batch's checks as handed to a backend (store.h): the missing ids generated (slot, in
 * `order`; slot NULL: none), then every row checked. */
struct store_check {
    struct store *st;
    void *rows;
    size_t n;
    const void *ctx;
    row_check_fn check;
    const uint32_t *order;
    v7_slot_fn slot;
};

int store_check_run(const struct store_check *c, char *err, size_t errlen)
{
    if (!c) return SG_OK;
    int rc = c->slot ? fill_v7(c->rows, c->order, c->n, c->slot, err, errlen) : SG_OK;
    return rc ? rc : validate_rows(c->st, c->rows, c->n, c->ctx, c->check, err, errlen);
}

int store_prediction_batch_create(struct store *st, const struct store_actor *a,
                                  struct store_prediction *rows, size_t n, char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!rows || n < 1 || n > 1000000) return sg_errf(err, errlen, SG_EINVAL, "rows: must hold 1..1000000 predictions");
    store_now(now);
    /* One member order for the generated ids and for the backend's inserts. */
    uint32_t *order = malloc(n * sizeof *order);
    if (!order || prediction_key_order(rows, n, order)) {
        free(order);
        return sg_errf(err, errlen, SG_ENOMEM, "predictions: out of memory");
    }
    /* the backend generates the ids and checks the rows (store_check_run) while its database
     * starts on the batch */
    struct store_check check = {st, rows, n, now, pred_check, order, pred_id_slot};
    rc = st->ops->prediction_batch_create(st, a, rows, n, order, &check, now, err, errlen);
    free(order);
    return rc;
}

int store_prediction_create(struct store *st, const struct store_actor *a, struct store_prediction *p,
                            char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!p) return sg_errf(err, errlen, SG_EINVAL, "prediction: required");
    store_now(now);
    if ((rc = v_prediction(st, err, errlen, p, now))) return rc;
    static const uint32_t one[1] = {0};
    return st->ops->prediction_batch_create(st, a, p, 1, one, NULL, now, err, errlen);
}

int store_prediction_get(struct store *st, const char *prediction_id, struct store_prediction *out,
                         char *err, size_t errlen)
{
    char id[STORE_ID_LEN];
    memset(out, 0, sizeof *out);
    int rc = v_uuid(err, errlen, "prediction_id", prediction_id, id);
    if (rc) return rc;
    return st->ops->prediction_get(st, id, out, err, errlen);
}

int store_prediction_get_by_member(struct store *st, const char *member_hash,
                                   const char *measure_code, int year, const struct store_page *pg,
                                   struct store_prediction_list *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_hash(err, errlen, "member_hash", member_hash)) ||
        (measure_code && (rc = v_code_syntax(err, errlen, "measure", measure_code))) ||
        (rc = v_year(err, errlen, "year", year, 1)) || (rc = v_page(err, errlen, pg)))
        return rc;
    return st->ops->prediction_get_by_member(st, member_hash, measure_code, year, pg, out, err, errlen);
}

int store_prediction_get_latest(struct store *st, const char *member_hash, const char *measure_code,
                                struct store_prediction *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_hash(err, errlen, "member_hash", member_hash)) ||
        (rc = v_code_syntax(err, errlen, "measure", measure_code)))
        return rc;
    return st->ops->prediction_get_latest(st, member_hash, measure_code, out, err, errlen);
}

int store_prediction_delete_old(struct store *st, const struct store_actor *a, const char *before_ts,
                                long long *deleted, char *err, size_t errlen)
{
    char now[STORE_TS_LEN], before[STORE_TS_LEN];
    long long d = 0;
    int rc;
    if (deleted) *deleted = 0;
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!before_ts || !*before_ts || strlen(before_ts) >= STORE_TS_LEN)
        return sg_errf(err, errlen, SG_EINVAL, "before: must be a UTC timestamp");
    snprintf(before, sizeof before, "%s", before_ts);
    store_now(now);
    if ((rc = v_ts(err, errlen, "before", before, now))) return rc;
    rc = st->ops->prediction_delete_old(st, a, before, now, &d, err, errlen);
    if (deleted) *deleted = d;
    return rc;
}

/* ---- snapshots ---- */

int store_snapshot_create(struct store *st, const struct store_actor *a, struct store_snapshot *s,
                          char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!s) return sg_errf(err, errlen, SG_EINVAL, "snapshot: required");
    store_now(now);
    if ((rc = v_id_or_new(err, errlen, "snapshot_id", s->snapshot_id)) ||
        (rc = v_contract(err, errlen, "contract_id", terminated(s->contract_id, STORE_CONTRACT_LEN) ? s->contract_id : "?", 0)) ||
        (rc = v_year(err, errlen, "measurement_year", s->measurement_year, 0)) ||
        (rc = v_ts(err, errlen, "snapshot_date", s->snapshot_date, now)) ||
        (rc = v_json(err, errlen, "gaps_by_measure", s->gaps_by_measure, 'o', 1)) ||
        (rc = v_json(err, errlen, "gaps_by_tier", s->gaps_by_tier, 'o', 1)) ||
        (rc = v_stars(err, errlen, "star_rating_current", s->star_rating_current, 0)) ||
        (rc = v_stars(err, errlen, "star_rating_projected", s->star_rating_projected, 0)) ||
        (rc = v_opt_num(err, errlen, "estimated_value", s->estimated_value, -INFINITY, INFINITY)))
        return rc;
    if (s->total_members < 0) return sg_errf(err, errlen, SG_EINVAL, "total_members: must be >= 0");
    if (s->total_gaps < 0) return sg_errf(err, errlen, SG_EINVAL, "total_gaps: must be >= 0");
    return st->ops->snapshot_create(st, a, s, now, err, errlen);
}

static const char *norm_contract(const char *c) { return (c && *c) ? c : ""; }

int store_snapshot_get_latest(struct store *st, const char *contract_id, int year,
                              struct store_snapshot *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_contract(err, errlen, "contract", contract_id, 0)) ||
        (rc = v_year(err, errlen, "year", year, 1)))
        return rc;
    return st->ops->snapshot_get_latest(st, norm_contract(contract_id), year, out, err, errlen);
}

int store_snapshot_get_history(struct store *st, const char *contract_id, int year,
                               const struct store_page *pg, struct store_snapshot_list *out,
                               char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_contract(err, errlen, "contract", contract_id, 0)) ||
        (rc = v_year(err, errlen, "year", year, 1)) || (rc = v_page(err, errlen, pg)))
        return rc;
    return st->ops->snapshot_get_history(st, norm_contract(contract_id), year, pg, out, err, errlen);
}

int store_snapshot_get_trends(struct store *st, const char *contract_id, int year, int days,
                              struct store_snapshot_list *out, char *err, size_t errlen)
{
    char since[STORE_TS_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_contract(err, errlen, "contract", contract_id, 0)) ||
        (rc = v_year(err, errlen, "year", year, 1)))
        return rc;
    if (days < 1 || days > 3660) return sg_errf(err, errlen, SG_EINVAL, "days: must be 1..3660");
    store_ts_ago((long long)days * 86400, since);
    return st->ops->snapshot_get_trends(st, norm_contract(contract_id), year, since, out, err, errlen);
}

/* ---- gaps ---- */

int store_gap_create(struct store *st, const struct store_actor *a, struct store_gap *g, char *err,
                     size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!g) return sg_errf(err, errlen, SG_EINVAL, "gap: required");
    if ((rc = v_id_or_new(err, errlen, "gap_id", g->gap_id)) ||
        (rc = v_hash(err, errlen, "member_hash", terminated(g->member_hash, STORE_HASH_LEN) ? g->member_hash : NULL)) ||
        (rc = v_code(st, err, errlen, "measure_code", terminated(g->measure_code, STORE_CODE_LEN) ? g->measure_code : NULL)) ||
        (rc = v_year(err, errlen, "measurement_year", g->measurement_year, 0)) ||
        (rc = v_prob(err, errlen, "gap_probability", g->gap_probability)) ||
        (rc = v_text(err, errlen, "intervention_type", g->intervention_type, STORE_NAME_LEN, 0)) ||
        (rc = v_opt_num(err, errlen, "estimated_cost", g->estimated_cost, 0, INFINITY)) ||
        (rc = v_opt_num(err, errlen, "estimated_value", g->estimated_value, 0, INFINITY)) ||
        (rc = v_enum(err, errlen, "status", (int)g->status, 4)) ||
        (rc = v_date(err, errlen, "assigned_date", g->assigned_date, 1)) ||
        (rc = v_date(err, errlen, "completed_date", g->completed_date, 1)) ||
        (rc = v_date(err, errlen, "closed_date", g->closed_date, 1)))
        return rc;
    if (!isfinite(g->priority_score) || g->priority_score < 0)
        return sg_errf(err, errlen, SG_EINVAL, "priority_score: must be a number >= 0");
    store_now(now);
    return st->ops->gap_create(st, a, g, now, err, errlen);
}

int store_gap_get(struct store *st, const char *gap_id, struct store_gap *out, char *err,
                  size_t errlen)
{
    char id[STORE_ID_LEN];
    memset(out, 0, sizeof *out);
    int rc = v_uuid(err, errlen, "gap_id", gap_id, id);
    if (rc) return rc;
    return st->ops->gap_get(st, id, out, err, errlen);
}

int store_gap_get_with_filters(struct store *st, const struct store_gap_filter *f,
                               struct store_gap_list *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if (!f) return sg_errf(err, errlen, SG_EINVAL, "filter: required");
    if ((f->measure_code && (rc = v_code_syntax(err, errlen, "measure", f->measure_code))) ||
        (f->has_status && (rc = v_enum(err, errlen, "status", (int)f->status, 4))) ||
        (rc = v_opt_num(err, errlen, "min_priority", f->min_priority, 0, INFINITY)) ||
        (rc = v_contract(err, errlen, "contract", f->contract_id, 0)) ||
        (rc = v_year(err, errlen, "year", f->measurement_year, 1)) ||
        (rc = v_enum(err, errlen, "sort", (int)f->sort, 2)) || (rc = v_page(err, errlen, &f->page)))
        return rc;
    return st->ops->gap_get_with_filters(st, f, out, err, errlen);
}

int store_gap_get_by_member(struct store *st, const struct store_actor *a, const char *member_hash,
                            struct store_gap_list *out, char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_actor(err, errlen, a, 0)) || (rc = v_hash(err, errlen, "member_hash", member_hash)))
        return rc;
    store_now(now);
    return st->ops->gap_get_by_member(st, a, member_hash, now, out, err, errlen);
}

int store_gap_get_high_priority(struct store *st, double min_priority, const char *contract_id,
                                long limit, struct store_gap_list *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_opt_num(err, errlen, "min_priority", min_priority, 0, INFINITY)) ||
        (rc = v_contract(err, errlen, "contract", contract_id, 0)))
        return rc;
    if (limit < 1 || limit > STORE_MAX_LIMIT)
        return sg_errf(err, errlen, SG_EINVAL, "limit: must be 1..%d", STORE_MAX_LIMIT);
    return st->ops->gap_get_high_priority(st, isnan(min_priority) ? 0.0 : min_priority,
                                          contract_id && *contract_id ? contract_id : NULL, limit,
                                          out, err, errlen);
}

int store_gap_update_status(struct store *st, const struct store_actor *a, const char *gap_id,
                            enum store_gap_status to, struct store_gap *out, char *err, size_t errlen)
{
    char now[STORE_TS_LEN], id[STORE_ID_LEN];
    struct store_gap tmp;
    int rc;
    if (out) memset(out, 0, sizeof *out);
    if ((rc = v_actor(err, errlen, a, 0)) || (rc = v_uuid(err, errlen, "gap_id", gap_id, id)) ||
        (rc = v_enum(err, errlen, "status", (int)to, 4)))
        return rc;
    store_now(now);
    return st->ops->gap_update_status(st, a, id, to, now, out ? out : &tmp, err, errlen);
}

int store_gap_update_status_submit(struct store *st, const struct store_actor *a,
                                   const char *gap_id, enum store_gap_status to,
                                   struct store_gap *out, store_done_fn done, void *done_arg,
                                   char *err, size_t errlen)
{
    char now[STORE_TS_LEN], id[STORE_ID_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_actor(err, errlen, a, 0)) || (rc = v_uuid(err, errlen, "gap_id", gap_id, id)) ||
        (rc = v_enum(err, errlen, "status", (int)to, 4)))
        return rc;
    if (!st->ops->gap_update_status_submit)
        return sg_errf(err, errlen, SG_EUNSUPPORTED, "gap status: no asynchronous path");
    store_now(now);
    rc = st->ops->gap_update_status_submit(st, a, id, to, now, out, done, done_arg);
    return rc ? sg_errf(err, errlen, rc, "gap status: could not be queued") : SG_OK;
}

int store_gap_close(struct store *st, const struct store_actor *a, const char *gap_id,
                    struct store_gap *out, char *err, size_t errlen)
{
    return store_gap_update_status(st, a, gap_id, STORE_GAP_CLOSED, out, err, errlen);
}

/* ---- interventions ---- */

int store_intervention_create(struct store *st, const struct store_actor *a,
                              struct store_intervention *iv, char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!iv) return sg_errf(err, errlen, SG_EINVAL, "intervention: required");
    if ((rc = v_id_or_new(err, errlen, "intervention_id", iv->intervention_id)) ||
        (rc = v_hash(err, errlen, "member_hash", terminated(iv->member_hash, STORE_HASH_LEN) ? iv->member_hash : NULL)))
        return rc;
    if (!terminated(iv->gap_id, STORE_ID_LEN)) return sg_errf(err, errlen, SG_EINVAL, "gap_id: not a UUID");
    if (*iv->gap_id) {
        char id[STORE_ID_LEN];
        if ((rc = v_uuid(err, errlen, "gap_id", iv->gap_id, id))) return rc;
        memcpy(iv->gap_id, id, STORE_ID_LEN);
        if (iv->n_measure_codes > 1)
            return sg_errf(err, errlen, SG_EINVAL, "measure_codes: a single-gap intervention has one measure");
    } else if (iv->n_measure_codes < 1) {
        return sg_errf(err, errlen, SG_EINVAL, "measure_codes: a bundle needs at least one measure");
    }
    if (iv->n_measure_codes < 0 || iv->n_measure_codes > STORE_MAX_CODES)
        return sg_errf(err, errlen, SG_EINVAL, "measure_codes: at most %d measures", STORE_MAX_CODES);
    for (int i = 0; i < iv->n_measure_codes; i++) {
        char field[32];
        snprintf(field, sizeof field, "measure_codes[%d]", i);
        if ((rc = v_code(st, err, errlen, field, terminated(iv->measure_codes[i], STORE_CODE_LEN) ? iv->measure_codes[i] : NULL)))
            return rc;
        for (int k = 0; k < i; k++)
            if (!strcmp(iv->measure_codes[k], iv->measure_codes[i]))
                return sg_errf(err, errlen, SG_EINVAL, "%s: duplicate measure", field);
    }
    if ((rc = v_text(err, errlen, "intervention_type", iv->intervention_type, STORE_NAME_LEN, 1)) ||
        (rc = v_text(err, errlen, "description", iv->description, STORE_TEXT_LEN, 0)) ||
        (rc = v_opt_num(err, errlen, "estimated_cost", iv->estimated_cost, 0, INFINITY)) ||
        (rc = v_opt_num(err, errlen, "estimated_value", iv->estimated_value, 0, INFINITY)) ||
        (rc = v_opt_num(err, errlen, "roi", iv->roi, -INFINITY, INFINITY)) ||
        (rc = v_date(err, errlen, "scheduled_date", iv->scheduled_date, 1)))
        return rc;
    if (iv->status != STORE_IV_PLANNED && iv->status != STORE_IV_IN_PROGRESS)
        return sg_errf(err, errlen, SG_EINVAL, "status: a new intervention is planned or in_progress");
    if (iv->outcome != STORE_OUTCOME_NONE)
        return sg_errf(err, errlen, SG_EINVAL, "outcome: only set on completion");
    if (*iv->completed_date) return sg_errf(err, errlen, SG_EINVAL, "completed_date: only set on completion");
    store_now(now);
    return st->ops->intervention_create(st, a, iv, now, err, errlen);
}

int store_intervention_get(struct store *st, const char *id, struct store_intervention *out,
                           char *err, size_t errlen)
{
    char nid[STORE_ID_LEN];
    memset(out, 0, sizeof *out);
    int rc = v_uuid(err, errlen, "intervention_id", id, nid);
    if (rc) return rc;
    return st->ops->intervention_get(st, nid, out, err, errlen);
}

int store_intervention_list(struct store *st, const struct store_actor *a,
                            const struct store_iv_filter *f, struct store_intervention_list *out,
                            char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if (!f) return sg_errf(err, errlen, SG_EINVAL, "filter: required");
    if ((rc = v_actor(err, errlen, a, 0)) ||
        (f->member_hash && (rc = v_hash(err, errlen, "member", f->member_hash))) ||
        (f->has_status && (rc = v_enum(err, errlen, "status", (int)f->status, 4))) ||
        (rc = v_page(err, errlen, &f->page)))
        return rc;
    store_now(now);
    return st->ops->intervention_list(st, a, f, now, out, err, errlen);
}

int store_intervention_get_by_member(struct store *st, const struct store_actor *a,
                                     const char *member_hash, struct store_intervention_list *out,
                                     char *err, size_t errlen)
{
    struct store_iv_filter f = {.member_hash = member_hash, .page = {STORE_MAX_LIMIT, 0}};
    memset(out, 0, sizeof *out);
    if (!member_hash) return sg_errf(err, errlen, SG_EINVAL, "member_hash: required");
    return store_intervention_list(st, a, &f, out, err, errlen);
}

int store_intervention_get_pending(struct store *st, const char *date, const struct store_page *pg,
                                   struct store_intervention_list *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_date(err, errlen, "date", date, 0)) || (rc = v_page(err, errlen, pg))) return rc;
    return st->ops->intervention_get_pending(st, date, pg, out, err, errlen);
}

int store_intervention_update(struct store *st, const struct store_actor *a, const char *id,
                              const struct store_iv_update *u, struct store_intervention *out,
                              char *err, size_t errlen)
{
    char now[STORE_TS_LEN], nid[STORE_ID_LEN];
    struct store_intervention tmp;
    int rc;
    if (out) memset(out, 0, sizeof *out);
    if ((rc = v_actor(err, errlen, a, 0)) || (rc = v_uuid(err, errlen, "intervention_id", id, nid)))
        return rc;
    if (!u) return sg_errf(err, errlen, SG_EINVAL, "update: required");
    if (!u->set_status && !u->set_outcome && !u->set_scheduled_date)
        return sg_errf(err, errlen, SG_EINVAL, "update: no field to change");
    if (u->set_status && (rc = v_enum(err, errlen, "status", (int)u->status, 4))) return rc;
    if (u->set_status && u->status == STORE_IV_COMPLETED)
        return sg_errf(err, errlen, SG_EINVAL, "status: use complete (with an outcome) to complete an intervention");
    if (u->set_outcome && (u->outcome <= STORE_OUTCOME_NONE || u->outcome > STORE_OUTCOME_FAILED))
        return sg_errf(err, errlen, SG_EINVAL, "outcome: must be success, partial or failed");
    if (u->set_scheduled_date && (rc = v_date(err, errlen, "scheduled_date", u->scheduled_date, 1)))
        return rc;
    store_now(now);
    return st->ops->intervention_update(st, a, nid, u, now, out ? out : &tmp, err, errlen);
}

int store_intervention_complete(struct store *st, const struct store_actor *a, const char *id,
                                enum store_outcome outcome, struct store_intervention *out,
                                int *gaps_closed, char *err, size_t errlen)
{
    char now[STORE_TS_LEN], nid[STORE_ID_LEN];
    struct store_intervention tmp;
    int rc, closed = 0;
    if (out) memset(out, 0, sizeof *out);
    if (gaps_closed) *gaps_closed = 0;
    if ((rc = v_actor(err, errlen, a, 0)) || (rc = v_uuid(err, errlen, "intervention_id", id, nid)))
        return rc;
    if (outcome <= STORE_OUTCOME_NONE || outcome > STORE_OUTCOME_FAILED)
        return sg_errf(err, errlen, SG_EINVAL, "outcome: must be success, partial or failed");
    store_now(now);
    rc = st->ops->intervention_complete(st, a, nid, outcome, now, out ? out : &tmp, &closed, err, errlen);
    if (gaps_closed) *gaps_closed = closed;
    return rc;
}

int store_intervention_get_bundles(struct store *st, const struct store_actor *a,
                                   const char *member_hash, struct store_intervention_list *out,
                                   char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_actor(err, errlen, a, 0)) || (rc = v_hash(err, errlen, "member_hash", member_hash)))
        return rc;
    store_now(now);
    return st->ops->intervention_get_bundles(st, a, member_hash, now, out, err, errlen);
}

/* ---- star ratings ---- */

int store_star_rating_create(struct store *st, const struct store_actor *a,
                             struct store_star_rating *r, char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!r) return sg_errf(err, errlen, SG_EINVAL, "star_rating: required");
    store_now(now);
    if ((rc = v_id_or_new(err, errlen, "rating_id", r->rating_id)) ||
        (rc = v_contract(err, errlen, "contract_id", terminated(r->contract_id, STORE_CONTRACT_LEN) ? r->contract_id : "?", 1)) ||
        (rc = v_year(err, errlen, "star_year", r->star_year, 0)) ||
        (rc = v_year(err, errlen, "measurement_year", r->measurement_year, 0)) ||
        (rc = v_ts(err, errlen, "calculation_date", r->calculation_date, now)) ||
        (rc = v_stars(err, errlen, "part_c", r->part_c, 1)) ||
        (rc = v_stars(err, errlen, "part_d", r->part_d, 1)) ||
        (rc = v_stars(err, errlen, "overall", r->overall, 1)) ||
        (rc = v_json(err, errlen, "measure_stars", r->measure_stars, 'o', 1)) ||
        (rc = v_json(err, errlen, "measure_scores", r->measure_scores, 'o', 1)) ||
        (rc = v_opt_num(err, errlen, "reward_factor", r->reward_factor, 0, 1)) ||
        (rc = v_opt_num(err, errlen, "cai", r->cai, -INFINITY, INFINITY)) ||
        (rc = v_json(err, errlen, "details", r->details, 'o', 0)))
        return rc;
    return st->ops->star_rating_create(st, a, r, now, err, errlen);
}

int store_star_rating_get_latest(struct store *st, const char *contract_id, int star_year,
                                 struct store_star_rating *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_contract(err, errlen, "contract", contract_id, 0)) ||
        (rc = v_year(err, errlen, "year", star_year, 1)))
        return rc;
    return st->ops->star_rating_get_latest(st, contract_id && *contract_id ? contract_id : NULL,
                                           star_year, out, err, errlen);
}

int store_star_rating_get_history(struct store *st, const char *contract_id,
                                  const struct store_page *pg, struct store_star_rating_list *out,
                                  char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_contract(err, errlen, "contract", contract_id, 0)) || (rc = v_page(err, errlen, pg)))
        return rc;
    return st->ops->star_rating_get_history(st, contract_id && *contract_id ? contract_id : NULL,
                                            pg, out, err, errlen);
}

/* ---- simulations ---- */

int store_simulation_create(struct store *st, const struct store_actor *a,
                            struct store_simulation *s, char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!s) return sg_errf(err, errlen, SG_EINVAL, "simulation: required");
    store_now(now);
    if ((rc = v_id_or_new(err, errlen, "simulation_id", s->simulation_id)) ||
        (rc = v_contract(err, errlen, "contract_id", terminated(s->contract_id, STORE_CONTRACT_LEN) ? s->contract_id : "?", 0)) ||
        (rc = v_year(err, errlen, "measurement_year", s->measurement_year, 0)) ||
        (rc = v_ts(err, errlen, "simulation_date", s->simulation_date, now)) ||
        (rc = v_token(err, errlen, "strategy", terminated(s->strategy, STORE_NAME_LEN) ? s->strategy : NULL, STORE_NAME_LEN - 1, "_-")) ||
        (rc = v_prob(err, errlen, "closure_rate", s->closure_rate)) ||
        (rc = v_stars(err, errlen, "baseline_stars", s->baseline_stars, 0)) ||
        (rc = v_stars(err, errlen, "projected_stars", s->projected_stars, 0)) ||
        (rc = v_opt_num(err, errlen, "revenue_impact", s->revenue_impact, -INFINITY, INFINITY)) ||
        (rc = v_opt_num(err, errlen, "investment_required", s->investment_required, 0, INFINITY)) ||
        (rc = v_opt_num(err, errlen, "roi", s->roi, -INFINITY, INFINITY)) ||
        (rc = v_json(err, errlen, "scenario_details", s->scenario_details, 'o', 0)))
        return rc;
    if (s->gaps_closed < 0) return sg_errf(err, errlen, SG_EINVAL, "gaps_closed: must be >= 0");
    if (s->members_impacted < 0) return sg_errf(err, errlen, SG_EINVAL, "members_impacted: must be >= 0");
    return st->ops->simulation_create(st, a, s, now, err, errlen);
}

int store_simulation_get(struct store *st, const char *id, struct store_simulation *out, char *err,
                         size_t errlen)
{
    char nid[STORE_ID_LEN];
    memset(out, 0, sizeof *out);
    int rc = v_uuid(err, errlen, "simulation_id", id, nid);
    if (rc) return rc;
    return st->ops->simulation_get(st, nid, out, err, errlen);
}

int store_simulation_get_recent(struct store *st, const struct store_sim_filter *f,
                                struct store_simulation_list *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if (!f) return sg_errf(err, errlen, SG_EINVAL, "filter: required");
    if ((rc = v_year(err, errlen, "year", f->measurement_year, 1)) ||
        (f->strategy && (rc = v_token(err, errlen, "strategy", f->strategy, STORE_NAME_LEN - 1, "_-"))) ||
        (rc = v_contract(err, errlen, "contract", f->contract_id, 0)) ||
        (rc = v_page(err, errlen, &f->page)))
        return rc;
    return st->ops->simulation_list(st, f, out, err, errlen);
}

int store_simulation_compare(struct store *st, const char *const *ids, size_t n,
                             struct store_simulation_list *out, char *err, size_t errlen)
{
    char nid[20][STORE_ID_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if (!ids || n < 2 || n > 20) return sg_errf(err, errlen, SG_EINVAL, "ids: must hold 2..20 simulation ids");
    for (size_t i = 0; i < n; i++) {
        char field[16];
        snprintf(field, sizeof field, "ids[%zu]", i);
        if ((rc = v_uuid(err, errlen, field, ids[i], nid[i]))) return rc;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(nid[k], nid[i])) return sg_errf(err, errlen, SG_EINVAL, "%s: duplicate id", field);
    }
    out->items = calloc(n, sizeof *out->items);
    if (!out->items) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        rc = st->ops->simulation_get(st, nid[i], &out->items[i], err, errlen);
        if (rc == SG_ENOTFOUND) rc = sg_errf(err, errlen, SG_ENOTFOUND, "ids[%zu]: no such simulation", i);
        if (rc) {
            store_simulation_list_free(out);
            return rc;
        }
        out->n = i + 1;
    }
    out->total = (long long)n;
    return SG_OK;
}

/* ---- api logs ---- */

static int v_api_log(char *e, size_t elen, const struct store_api_log *r, const char *now)
{
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    char ts[STORE_TS_LEN];
    int rc, mok = 0;
    for (size_t k = 0; k < 7; k++) mok |= terminated(r->method, 16) && !strcmp(r->method, methods[k]);
    if ((rc = v_text(e, elen, "request_id", r->request_id, STORE_NAME_LEN, 1)) ||
        (rc = v_text(e, elen, "endpoint", r->endpoint, STORE_NAME_LEN, 1)) ||
        (rc = v_text(e, elen, "error_message", r->error_message, STORE_TEXT_LEN, 0)))
        return rc;
    if (!mok) return sg_errf(e, elen, SG_EINVAL, "method: unknown HTTP method");
    if (!terminated(r->api_key_hash, STORE_HASH_LEN) || (*r->api_key_hash && !is_lower_hex64(r->api_key_hash)))
        return sg_errf(e, elen, SG_EINVAL, "api_key_hash: must be 64 lower-case hex characters");
    if (r->status_code < 100 || r->status_code > 599)
        return sg_errf(e, elen, SG_EINVAL, "status_code: must be 100..599");
    if (!isfinite(r->response_time_ms) || r->response_time_ms < 0)
        return sg_errf(e, elen, SG_EINVAL, "response_time_ms: must be >= 0");
    if (r->prediction_count < 0) return sg_errf(e, elen, SG_EINVAL, "prediction_count: must be >= 0");
    memcpy(ts, r->timestamp, STORE_TS_LEN);
    if ((rc = v_ts(e, elen, "timestamp", ts, now))) return rc;
    if (*r->timestamp && strcmp(ts, r->timestamp))
        return sg_errf(e, elen, SG_EINVAL, "timestamp: must be YYYY-MM-DDTHH:MM:SS.ffffffZ");
    return SG_OK;
}

int store_api_log_batch_create(struct store *st, const struct store_api_log *rows, size_t n,
                               char *err, size_t errlen)
{
    char now[STORE_TS_LEN], e[SG_ERRLEN];
    int rc;
    if (!rows || n < 1 || n > 100000) return sg_errf(err, errlen, SG_EINVAL, "rows: must hold 1..100000 log rows");
    store_now(now);
    for (size_t i = 0; i < n; i++)
        if ((rc = v_api_log(e, sizeof e, &rows[i], now))) return sg_errf(err, errlen, rc, "rows[%zu].%s", i, e);
    return st->ops->api_log_batch_create(st, rows, n, now, err, errlen);
}

static int v_hours(char *err, size_t errlen, int hours, int max)
{
    if (hours < 1 || hours > max) return sg_errf(err, errlen, SG_EINVAL, "hours: must be 1..%d", max);
    return SG_OK;
}

int store_api_log_get_stats(struct store *st, int hours, const char *endpoint,
                            struct store_api_stats *out, char *err, size_t errlen)
{
    char since[STORE_TS_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_hours(err, errlen, hours, 8784)) ||
        (endpoint && (rc = v_cstr(err, errlen, "endpoint", endpoint, STORE_NAME_LEN - 1))))
        return rc;
    store_ts_ago((long long)hours * 3600, since);
    return st->ops->api_log_get_stats(st, since, endpoint, out, err, errlen);
}

int store_api_log_get_slowest(struct store *st, int hours, long limit,
                              struct store_api_log_list *out, char *err, size_t errlen)
{
    char since[STORE_TS_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_hours(err, errlen, hours, 8784))) return rc;
    if (limit < 1 || limit > STORE_MAX_LIMIT) return sg_errf(err, errlen, SG_EINVAL, "limit: must be 1..%d", STORE_MAX_LIMIT);
    store_ts_ago((long long)hours * 3600, since);
    return st->ops->api_log_get_slowest(st, since, limit, out, err, errlen);
}

int store_api_log_get_errors(struct store *st, int hours, long limit,
                             struct store_api_log_list *out, char *err, size_t errlen)
{
    char since[STORE_TS_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_hours(err, errlen, hours, 8784))) return rc;
    if (limit < 1 || limit > STORE_MAX_LIMIT) return sg_errf(err, errlen, SG_EINVAL, "limit: must be 1..%d", STORE_MAX_LIMIT);
    store_ts_ago((long long)hours * 3600, since);
    return st->ops->api_log_get_errors(st, since, limit, out, err, errlen);
}

/* ---- audit ---- */

static const char *const event_types[] = {"data_change", "data_access", "security", "maintenance"};

int store_audit_create(struct store *st, const struct store_actor *a,
                       const struct store_audit_event *ev, char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc, ok = 0;
    if ((rc = v_actor(err, errlen, a, 1))) return rc;
    if (!ev) return sg_errf(err, errlen, SG_EINVAL, "event: required");
    for (size_t i = 0; i < 4; i++) ok |= ev->event_type && !strcmp(ev->event_type, event_types[i]);
    if (!ok) return sg_errf(err, errlen, SG_EINVAL, "event_type: must be data_change, data_access, security or maintenance");
    if ((rc = v_token(err, errlen, "entity_type", ev->entity_type, 31, "_")) ||
        (rc = v_token(err, errlen, "action", ev->action, 31, "_")) ||
        (ev->entity_id && strlen(ev->entity_id) >= STORE_NAME_LEN &&
         (rc = sg_errf(err, errlen, SG_EINVAL, "entity_id: longer than %d characters", STORE_NAME_LEN - 1))) ||
        (rc = v_json(err, errlen, "changes", ev->changes, 0, 0)))
        return rc;
    store_now(now);
    return st->ops->audit_create(st, a, ev, now, err, errlen);
}

int store_audit_get_trail(struct store *st, const char *entity_type, const char *entity_id,
                          const struct store_page *pg, struct store_audit_list *out, char *err,
                          size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_token(err, errlen, "entity_type", entity_type, 31, "_")) ||
        (entity_id && (rc = v_cstr(err, errlen, "entity_id", entity_id, STORE_NAME_LEN - 1))) ||
        (rc = v_page(err, errlen, pg)))
        return rc;
    return st->ops->audit_get_trail(st, entity_type, entity_id, pg, out, err, errlen);
}

int store_audit_get_recent(struct store *st, int hours, const struct store_page *pg,
                           struct store_audit_list *out, char *err, size_t errlen)
{
    char since[STORE_TS_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_hours(err, errlen, hours, 87840)) || (rc = v_page(err, errlen, pg))) return rc;
    store_ts_ago((long long)hours * 3600, since);
    return st->ops->audit_get_recent(st, since, pg, out, err, errlen);
}

int store_audit_verify(struct store *st, struct store_audit_verify *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return st->ops->audit_verify(st, out, err, errlen);
}

static void enc_field(struct sg_buf *b, const char *s, int *rc)
{
    if (*rc) return;
    if (!s || !*s) *rc = sg_buf_puts(b, "-;");
    else if ((*rc = sg_buf_printf(b, "%zu:", strlen(s))) == SG_OK && (*rc = sg_buf_puts(b, s)) == SG_OK)
        *rc = sg_buf_puts(b, ";");
}

int store_audit_hash(const struct store_audit *row, char out[STORE_HASH_LEN])
{
    struct sg_buf b;
    char id[32];
    int rc = SG_OK;
    sg_buf_init(&b, (size_t)64 << 20);
    snprintf(id, sizeof id, "%lld", row->audit_id);
    enc_field(&b, id, &rc);
    enc_field(&b, row->event_type, &rc);
    enc_field(&b, row->entity_type, &rc);
    enc_field(&b, row->entity_id, &rc);
    enc_field(&b, row->action, &rc);
    enc_field(&b, row->user_id, &rc);
    enc_field(&b, row->changes, &rc);
    enc_field(&b, row->ip_address, &rc);
    enc_field(&b, row->timestamp, &rc);
    enc_field(&b, row->prev_hash, &rc);
    if (rc == SG_OK) rc = sg_sha256_hex(b.data, b.len, out);
    sg_buf_fini(&b);
    return rc ? SG_EINTERNAL : SG_OK;
}

void store_audit_fill(struct store_audit *row, const struct store_actor *a, const char *event_type,
                      const char *entity_type, const char *entity_id, const char *action,
                      const char *changes, const char *now)
{
    memset(row, 0, sizeof *row);
    snprintf(row->event_type, sizeof row->event_type, "%s", event_type);
    snprintf(row->entity_type, sizeof row->entity_type, "%s", entity_type);
    snprintf(row->entity_id, sizeof row->entity_id, "%s", entity_id ? entity_id : "");
    snprintf(row->action, sizeof row->action, "%s", action);
    snprintf(row->user_id, sizeof row->user_id, "%s", a && a->user_id ? a->user_id : "system");
    snprintf(row->ip_address, sizeof row->ip_address, "%s", a && a->ip_address ? a->ip_address : "");
    snprintf(row->timestamp, sizeof row->timestamp, "%s", now);
    row->changes = (char *)changes;
}

/* ---- JSON of audit changes ---- */

static char *dump(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(j);
    return s;
}

static json_t *jstr_or_null(const char *s) { return s && *s ? json_string(s) : json_null(); }
static json_t *jnum_or_null(double x) { return isnan(x) ? json_null() : json_real(x); }

static json_t *gap_obj(const struct store_gap *g)
{
    json_t *o = json_object();
    json_object_set_new(o, "gap_id", json_string(g->gap_id));
    json_object_set_new(o, "member_hash", json_string(g->member_hash));
    json_object_set_new(o, "measure_code", json_string(g->measure_code));
    json_object_set_new(o, "measurement_year", json_integer(g->measurement_year));
    json_object_set_new(o, "gap_probability", json_real(g->gap_probability));
    json_object_set_new(o, "priority_score", json_real(g->priority_score));
    json_object_set_new(o, "status", json_string(store_gap_status_name((int)g->status)));
    json_object_set_new(o, "assigned_date", jstr_or_null(g->assigned_date));
    json_object_set_new(o, "completed_date", jstr_or_null(g->completed_date));
    json_object_set_new(o, "closed_date", jstr_or_null(g->closed_date));
    return o;
}

char *store_json_gap(const struct store_gap *before, const struct store_gap *after)
{
    json_t *o = json_object();
    if (before) json_object_set_new(o, "before", gap_obj(before));
    if (after) json_object_set_new(o, "after", gap_obj(after));
    return dump(o);
}

static json_t *codes_arr(const struct store_intervention *iv)
{
    json_t *a = json_array();
    for (int i = 0; i < iv->n_measure_codes; i++) json_array_append_new(a, json_string(iv->measure_codes[i]));
    return a;
}

static json_t *iv_obj(const struct store_intervention *iv)
{
    json_t *o = json_object();
    json_object_set_new(o, "intervention_id", json_string(iv->intervention_id));
    json_object_set_new(o, "gap_id", jstr_or_null(iv->gap_id));
    json_object_set_new(o, "member_hash", json_string(iv->member_hash));
    json_object_set_new(o, "measure_codes", codes_arr(iv));
    json_object_set_new(o, "intervention_type", json_string(iv->intervention_type));
    json_object_set_new(o, "status", json_string(store_iv_status_name((int)iv->status)));
    json_object_set_new(o, "scheduled_date", jstr_or_null(iv->scheduled_date));
    json_object_set_new(o, "completed_date", jstr_or_null(iv->completed_date));
    json_object_set_new(o, "outcome", jstr_or_null(store_outcome_name((int)iv->outcome)));
    json_object_set_new(o, "estimated_cost", jnum_or_null(iv->estimated_cost));
    return o;
}

char *store_json_intervention(const struct store_intervention *before,
                              const struct store_intervention *after)
{
    json_t *o = json_object();
    if (before) json_object_set_new(o, "before", iv_obj(before));
    if (after) json_object_set_new(o, "after", iv_obj(after));
    return dump(o);
}

char *store_json_kv(size_t n, const char *const *keys, const char *const *values)
{
    json_t *o = json_object(), *in = json_object();
    for (size_t i = 0; i < n; i++) json_object_set_new(in, keys[i], values[i] ? json_string(values[i]) : json_null());
    json_object_set_new(o, "after", in);
    return dump(o);
}

char *store_json_codes(const struct store_intervention *iv)
{
    return dump(codes_arr(iv));
}

int store_parse_codes(const char *json, struct store_intervention *iv)
{
    json_error_t je;
    json_t *a = json ? json_loads(json, 0, &je) : NULL;
    int rc = SG_OK;
    iv->n_measure_codes = 0;
    if (!json_is_array(a) || json_array_size(a) > STORE_MAX_CODES) {
        rc = SG_EPARSE;
        goto out;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s || strlen(s) >= STORE_CODE_LEN) {
            rc = SG_EPARSE;
            goto out;
        }
        snprintf(iv->measure_codes[i], STORE_CODE_LEN, "%s", s);
        iv->n_measure_codes = (int)i + 1;
    }
out:
    json_decref(a);
    return rc;
}

/* ---- measure results ---- */

int store_measure_result_upsert_batch(struct store *st, const struct store_actor *a,
                                      struct store_measure_result *rows, size_t n, char *err,
                                      size_t errlen)
{
    char now[STORE_TS_LEN], e[SG_ERRLEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!rows || n < 1 || n > 1000000) return sg_errf(err, errlen, SG_EINVAL, "rows: must hold 1..1000000 results");
    store_now(now);
    for (size_t i = 0; i < n; i++) {
        struct store_measure_result *r = &rows[i];
        if ((rc = v_hash(e, sizeof e, "member_hash", terminated(r->member_hash, STORE_HASH_LEN) ? r->member_hash : NULL)) ||
            (rc = v_code(st, e, sizeof e, "measure_code", terminated(r->measure_code, STORE_CODE_LEN) ? r->measure_code : NULL)) ||
            (rc = v_year(e, sizeof e, "measurement_year", r->measurement_year, 0)) ||
            (rc = v_ts(e, sizeof e, "evaluated_at", r->evaluated_at, now)) ||
            (rc = v_text(e, sizeof e, "source", r->source, STORE_NAME_LEN, 1)))
            return sg_errf(err, errlen, rc, "rows[%zu].%s", i, e);
        int f[4] = {r->initial_population, r->denominator, r->denominator_exclusion, r->numerator};
        for (int k = 0; k < 4; k++)
            if (f[k] != 0 && f[k] != 1)
                return sg_errf(err, errlen, SG_EINVAL, "rows[%zu].%s: must be 0 or 1", i,
                               (const char *[]){"initial_population", "denominator", "denominator_exclusion", "numerator"}[k]);
        if (r->denominator > r->initial_population)
            return sg_errf(err, errlen, SG_EINVAL, "rows[%zu].denominator: requires initial_population", i);
        if (r->numerator > r->denominator)
            return sg_errf(err, errlen, SG_EINVAL, "rows[%zu].numerator: requires denominator", i);
        if (r->denominator_exclusion > r->initial_population)
            return sg_errf(err, errlen, SG_EINVAL, "rows[%zu].denominator_exclusion: requires initial_population", i);
        if ((rc = v_numerator_date(e, sizeof e, r)))
            return sg_errf(err, errlen, rc, "rows[%zu].%s", i, e);
    }
    return st->ops->measure_result_upsert_batch(st, a, rows, n, now, err, errlen);
}

int store_measure_result_get_by_member(struct store *st, const char *member_hash, int year,
                                       struct store_measure_result_list *out, char *err,
                                       size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_hash(err, errlen, "member_hash", member_hash)) || (rc = v_year(err, errlen, "year", year, 1)))
        return rc;
    return st->ops->measure_result_get_by_member(st, member_hash, year, out, err, errlen);
}

int store_measure_result_rates(struct store *st, const char *measure_code, const char *contract_id,
                               int year, struct store_measure_rate_list *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((measure_code && (rc = v_code_syntax(err, errlen, "measure", measure_code))) ||
        (rc = v_contract(err, errlen, "contract", contract_id, 0)) ||
        (rc = v_year(err, errlen, "year", year, 1)))
        return rc;
    return st->ops->measure_result_rates(st, measure_code, contract_id && *contract_id ? contract_id : NULL,
                                         year, out, err, errlen);
}

/* ---- measures catalog ---- */

int store_measure_upsert_batch(struct store *st, const struct store_actor *a,
                               const struct store_measure *rows, size_t n, char *err, size_t errlen)
{
    char now[STORE_TS_LEN], e[SG_ERRLEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!rows || n < 1 || n > 1000) return sg_errf(err, errlen, SG_EINVAL, "rows: must hold 1..1000 measures");
    for (size_t i = 0; i < n; i++) {
        const struct store_measure *m = &rows[i];
        if ((rc = v_year(e, sizeof e, "star_year", m->star_year, 0)) ||
            (rc = v_code_syntax(e, sizeof e, "code", terminated(m->code, STORE_CODE_LEN) ? m->code : NULL)) ||
            (rc = v_code_syntax(e, sizeof e, "cms_id", terminated(m->cms_id, STORE_CODE_LEN) ? m->cms_id : NULL)) ||
            (rc = v_text(e, sizeof e, "name", m->name, STORE_NAME_LEN, 1)) ||
            (rc = v_text(e, sizeof e, "domain", m->domain, STORE_NAME_LEN, 1)) ||
            (rc = v_enum(e, sizeof e, "weighting_category", (int)m->weighting_category, 6)) ||
            (rc = v_enum(e, sizeof e, "direction", (int)m->direction, 2)))
            return sg_errf(err, errlen, rc, "rows[%zu].%s", i, e);
        if (m->part != 'C' && m->part != 'D')
            return sg_errf(err, errlen, SG_EINVAL, "rows[%zu].part: must be C or D", i);
        if (!isfinite(m->weight) || m->weight < 0)
            return sg_errf(err, errlen, SG_EINVAL, "rows[%zu].weight: must be >= 0", i);
        if (m->display_precision < 0 || m->display_precision > 6)
            return sg_errf(err, errlen, SG_EINVAL, "rows[%zu].display_precision: must be 0..6", i);
        if (m->member_level != 0 && m->member_level != 1)
            return sg_errf(err, errlen, SG_EINVAL, "rows[%zu].member_level: must be 0 or 1", i);
        for (size_t k = 0; k < i; k++)
            if (rows[k].star_year == m->star_year && !strcmp(rows[k].code, m->code))
                return sg_errf(err, errlen, SG_EINVAL, "rows[%zu].code: duplicate in batch", i);
    }
    store_now(now);
    rc = st->ops->measure_upsert_batch(st, a, rows, n, now, err, errlen);
    codes_invalidate(st);
    return rc;
}

int store_measure_list(struct store *st, int star_year, struct store_measure_list *out, char *err,
                       size_t errlen)
{
    memset(out, 0, sizeof *out);
    int rc = v_year(err, errlen, "star_year", star_year, 1);
    if (rc) return rc;
    return st->ops->measure_list(st, star_year, out, err, errlen);
}

int store_measure_get(struct store *st, int star_year, const char *code, struct store_measure *out,
                      char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_year(err, errlen, "star_year", star_year, 0)) || (rc = v_code_syntax(err, errlen, "code", code)))
        return rc;
    return st->ops->measure_get(st, star_year, code, out, err, errlen);
}

/* ---- api keys ---- */

int store_api_key_create(struct store *st, const struct store_actor *a, const struct store_api_key *k,
                         char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!k) return sg_errf(err, errlen, SG_EINVAL, "key: required");
    if ((rc = v_hash(err, errlen, "key_hash", terminated(k->key_hash, STORE_HASH_LEN) ? k->key_hash : NULL)) ||
        (rc = v_cstr(err, errlen, "name", terminated(k->name, STORE_NAME_LEN) ? k->name : NULL, STORE_NAME_LEN - 1)) ||
        (rc = v_enum(err, errlen, "role", (int)k->role, 3)))
        return rc;
    for (const char *p = k->name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_.-", *p))
            return sg_errf(err, errlen, SG_EINVAL, "name: only A-Z, a-z, 0-9 and '_.-' allowed");
    store_now(now);
    return st->ops->api_key_create(st, a, k, now, err, errlen);
}

int store_api_key_get_by_hash(struct store *st, const char *key_hash, struct store_api_key *out,
                              char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int rc = v_hash(err, errlen, "key_hash", key_hash);
    if (rc) return rc;
    return st->ops->api_key_get_by_hash(st, key_hash, out, err, errlen);
}

int store_api_key_list(struct store *st, struct store_api_key_list *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return st->ops->api_key_list(st, out, err, errlen);
}

int store_api_key_revoke(struct store *st, const struct store_actor *a, const char *name, char *err,
                         size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0)) || (rc = v_cstr(err, errlen, "name", name, STORE_NAME_LEN - 1)))
        return rc;
    store_now(now);
    return st->ops->api_key_revoke(st, a, name, now, err, errlen);
}

/* ---- member history ---- */

int store_member_history(struct store *st, const struct store_actor *a, const char *member_hash,
                         const struct store_page *pg, struct store_history_list *out, char *err,
                         size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_actor(err, errlen, a, 0)) || (rc = v_hash(err, errlen, "member_hash", member_hash)) ||
        (rc = v_page(err, errlen, pg)))
        return rc;
    store_now(now);
    return st->ops->member_history(st, a, member_hash, pg, now, out, err, errlen);
}

int store_member_history_submit(struct store *st, const struct store_actor *a,
                                const char *member_hash, const struct store_page *pg,
                                struct store_history_list *out, store_done_fn done,
                                void *done_arg, char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_actor(err, errlen, a, 1)) || (rc = v_hash(err, errlen, "member_hash", member_hash)) ||
        (rc = v_page(err, errlen, pg)))
        return rc;
    if (!st->ops->member_history_submit)
        return sg_errf(err, errlen, SG_EUNSUPPORTED, "member history: no asynchronous path");
    store_now(now);
    rc = st->ops->member_history_submit(st, a, member_hash, pg, now, out, done, done_arg);
    return rc ? sg_errf(err, errlen, rc, "member history: could not be queued") : SG_OK;
}

/* ---- schema and maintenance ---- */

int store_schema_status(struct store *st, struct store_schema_status *out, char *err, size_t errlen)
{
    struct migrate_row rows[256];
    size_t n;
    memset(out, 0, sizeof *out);
    return migrate_status(st, rows, 256, &n, out, err, errlen);
}

int store_maintain(struct store *st, long api_log_retention_days, long audit_retention_days,
                   struct store_maintain_report *out, char *err, size_t errlen)
{
    char now[STORE_TS_LEN], api_before[STORE_TS_LEN], audit_before[STORE_TS_LEN];
    memset(out, 0, sizeof *out);
    if (api_log_retention_days < 1 || api_log_retention_days > 36500)
        return sg_errf(err, errlen, SG_EINVAL, "api_log_retention_days: must be 1..36500");
    if (audit_retention_days < STORE_AUDIT_MIN_DAYS) audit_retention_days = STORE_AUDIT_MIN_DAYS;
    if (audit_retention_days > 36500) audit_retention_days = 36500;
    store_now(now);
    store_ts_ago((long long)api_log_retention_days * 86400, api_before);
    store_ts_ago((long long)audit_retention_days * 86400, audit_before);
    return st->ops->maintain(st, api_before, audit_before, now, out, err, errlen);
}

/* ---- freeing ---- */

void store_prediction_fini(struct store_prediction *p)
{
    if (!p) return;
    free(p->shap_values);
    free(p->top_features);
    p->shap_values = p->top_features = NULL;
}

void store_snapshot_fini(struct store_snapshot *s)
{
    if (!s) return;
    free(s->gaps_by_measure);
    free(s->gaps_by_tier);
    s->gaps_by_measure = s->gaps_by_tier = NULL;
}

void store_star_rating_fini(struct store_star_rating *r)
{
    if (!r) return;
    free(r->measure_stars);
    free(r->measure_scores);
    free(r->details);
    r->measure_stars = r->measure_scores = r->details = NULL;
}

void store_simulation_fini(struct store_simulation *s)
{
    if (!s) return;
    free(s->scenario_details);
    s->scenario_details = NULL;
}

void store_audit_fini(struct store_audit *a)
{
    if (!a) return;
    free(a->changes);
    a->changes = NULL;
}

void store_api_stats_fini(struct store_api_stats *s)
{
    if (!s) return;
    free(s->by_endpoint);
    s->by_endpoint = NULL;
    s->n_endpoints = 0;
}

#define LIST_FREE(fn, ltype, fini)                                                             \
    void fn(struct ltype *l)                                                                   \
    {                                                                                          \
        if (!l) return;                                                                        \
        for (size_t i = 0; l->items && i < l->n; i++) fini(&l->items[i]);                     \
        free(l->items);                                                                        \
        memset(l, 0, sizeof *l);                                                               \
    }
#define NOFINI(x) (void)(x)

LIST_FREE(store_member_list_free, store_member_list, NOFINI)
LIST_FREE(store_prediction_list_free, store_prediction_list, store_prediction_fini)
LIST_FREE(store_snapshot_list_free, store_snapshot_list, store_snapshot_fini)
LIST_FREE(store_gap_list_free, store_gap_list, NOFINI)
LIST_FREE(store_intervention_list_free, store_intervention_list, NOFINI)
LIST_FREE(store_star_rating_list_free, store_star_rating_list, store_star_rating_fini)
LIST_FREE(store_simulation_list_free, store_simulation_list, store_simulation_fini)
LIST_FREE(store_api_log_list_free, store_api_log_list, NOFINI)
LIST_FREE(store_audit_list_free, store_audit_list, store_audit_fini)
LIST_FREE(store_measure_result_list_free, store_measure_result_list, NOFINI)
LIST_FREE(store_measure_rate_list_free, store_measure_rate_list, NOFINI)
LIST_FREE(store_measure_list_free, store_measure_list, NOFINI)
LIST_FREE(store_api_key_list_free, store_api_key_list, NOFINI)
LIST_FREE(store_history_list_free, store_history_list, NOFINI)

/* ==== predict block (issue 6: import, member features, models) ==== */

static void counts_zero(struct store_merge_counts *c)
{
    if (c) memset(c, 0, sizeof *c);
}

/* ---- unique keys within a merge batch ---- */

/* Writes row i's key (its primary-key columns) as text into buf. */
typedef void (*row_key_fn)(const void *rows, size_t i, char *buf, size_t len);

struct keyed {
    uint64_t h;
    size_t i;
};

static int keyed_cmp(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* SG_EINVAL naming the later of two rows with the same key: a merge batch holds each key once,
 * so both backends treat every row the same way (no "last row wins" inside one batch). Sorts
 * 64-bit FNV-1a hashes of the keys and compares the keys of equal hashes. */
static int v_unique_keys(const char *what, const void *rows, size_t n, row_key_fn key, char *err,
                         size_t errlen)
{
    if (n < 2) return SG_OK;
    struct keyed *k = malloc(n * sizeof *k);
    if (!k) return sg_errf(err, errlen, SG_ENOMEM, "%s: out of memory", what);
    char a[160], b[160];
    for (size_t i = 0; i < n; i++) {
        key(rows, i, a, sizeof a);
        uint64_t h = 1469598103934665603ULL;
        for (const unsigned char *p = (const unsigned char *)a; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        k[i].h = h;
        k[i].i = i;
    }
    qsort(k, n, sizeof *k, keyed_cmp);
    size_t dup = n;
    for (size_t j = 1; j < n; j++) {
        if (k[j].h != k[j - 1].h) continue;
        for (size_t m = j; m > 0 && k[m - 1].h == k[j].h; m--) {
            key(rows, k[m - 1].i, a, sizeof a);
            key(rows, k[j].i, b, sizeof b);
            if (!strcmp(a, b) && k[j].i < dup) dup = k[j].i;
        }
    }
    free(k);
    if (dup < n)
        return sg_errf(err, errlen, SG_EINVAL, "%s[%zu]: duplicate key in batch (an earlier row has it)",
                       what, dup);
    return SG_OK;
}

static void member_key(const void *rows, size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "%s", ((const struct store_member *)rows)[i].member_hash);
}

static void result_key(const void *rows, size_t i, char *buf, size_t len)
{
    const struct store_measure_result *r = &((const struct store_measure_result *)rows)[i];
    snprintf(buf, len, "%s|%s|%d", r->member_hash, r->measure_code, r->measurement_year);
}

static void feature_key(const void *rows, size_t i, char *buf, size_t len)
{
    const struct store_member_feature *f = &((const struct store_member_feature *)rows)[i];
    snprintf(buf, len, "%s|%d", f->member_hash, f->measurement_year);
}

static int v_member_rows(const char *what, const struct store_member *rows, size_t n, char *err,
                         size_t errlen)
{
    char e[SG_ERRLEN];
    int rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = v_member(e, sizeof e, &rows[i]))) return sg_errf(err, errlen, rc, "%s[%zu].%s", what, i, e);
    return v_unique_keys(what, rows, n, member_key, err, errlen);
}

int store_member_upsert_batch(struct store *st, const struct store_actor *a,
                              const struct store_member *rows, size_t n,
                              struct store_merge_counts *counts, char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    struct store_merge_counts tmp;
    int rc;
    counts_zero(counts);
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!rows || n < 1 || n > 1000000) return sg_errf(err, errlen, SG_EINVAL, "rows: must hold 1..1000000 members");
    if ((rc = v_member_rows("rows", rows, n, err, errlen))) return rc;
    store_now(now);
    rc = st->ops->member_upsert_batch(st, a, rows, n, now, counts ? counts : &tmp, err, errlen);
    if (rc) counts_zero(counts);
    return rc;
}

static int v_result_rows(struct store *st, const char *what,
                         const struct store_measure_result *rows, size_t n, const char *now,
                         char *err, size_t errlen)
{
    char e[SG_ERRLEN], ts[STORE_TS_LEN];
    int rc;
    for (size_t i = 0; i < n; i++) {
        const struct store_measure_result *r = &rows[i];
        memcpy(ts, r->evaluated_at, STORE_TS_LEN);
        if ((rc = v_hash(e, sizeof e, "member_hash", terminated(r->member_hash, STORE_HASH_LEN) ? r->member_hash : NULL)) ||
            (rc = v_code(st, e, sizeof e, "measure_code", terminated(r->measure_code, STORE_CODE_LEN) ? r->measure_code : NULL)) ||
            (rc = v_year(e, sizeof e, "measurement_year", r->measurement_year, 0)) ||
            (rc = v_ts(e, sizeof e, "evaluated_at", ts, now)) ||
            (rc = v_text(e, sizeof e, "source", r->source, STORE_NAME_LEN, 1)))
            return sg_errf(err, errlen, rc, "%s[%zu].%s", what, i, e);
        int f[4] = {r->initial_population, r->denominator, r->denominator_exclusion, r->numerator};
        static const char *const fname[4] = {"initial_population", "denominator", "denominator_exclusion", "numerator"};
        for (int k = 0; k < 4; k++)
            if (f[k] != 0 && f[k] != 1)
                return sg_errf(err, errlen, SG_EINVAL, "%s[%zu].%s: must be 0 or 1", what, i, fname[k]);
        if (r->denominator > r->initial_population)
            return sg_errf(err, errlen, SG_EINVAL, "%s[%zu].denominator: requires initial_population", what, i);
        if (r->numerator > r->denominator)
            return sg_errf(err, errlen, SG_EINVAL, "%s[%zu].numerator: requires denominator", what, i);
        if (r->denominator_exclusion > r->initial_population)
            return sg_errf(err, errlen, SG_EINVAL, "%s[%zu].denominator_exclusion: requires initial_population", what, i);
        if ((rc = v_numerator_date(e, sizeof e, r)))
            return sg_errf(err, errlen, rc, "%s[%zu].%s", what, i, e);
    }
    return v_unique_keys(what, rows, n, result_key, err, errlen);
}

int store_measure_result_merge_batch(struct store *st, const struct store_actor *a,
                                     const struct store_measure_result *rows, size_t n,
                                     struct store_merge_counts *counts, char *err, size_t errlen)
{
    return store_measure_result_merge_batch_gated(st, a, rows, n, NULL, counts, err, errlen);
}

int store_batch_writers(const struct store *st)
{
    return st->batch_writers > 1 ? st->batch_writers : 1;
}

int store_measure_result_merge_batch_gated(struct store *st, const struct store_actor *a,
                                           const struct store_measure_result *rows, size_t n,
                                           const struct store_gate *gate,
                                           struct store_merge_counts *counts, char *err,
                                           size_t errlen)
{
    char now[STORE_TS_LEN];
    struct store_merge_counts tmp;
    int rc;
    counts_zero(counts);
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!rows || n < 1 || n > 1000000) return sg_errf(err, errlen, SG_EINVAL, "rows: must hold 1..1000000 results");
    store_now(now);
    if ((rc = v_result_rows(st, "rows", rows, n, now, err, errlen))) return rc;
    rc = st->ops->measure_result_merge_batch(st, a, rows, n, now, gate, counts ? counts : &tmp,
                                             err, errlen);
    if (rc) counts_zero(counts);
    return rc;
}

/* A feature name: 1..63 of [A-Za-z0-9_.-] (the rule of model/matrix.h, repeated here because
 * the storage layer does not depend on the model module). */
static int feature_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-') return 0;
    return 1;
}

/* The common case of v_features decided without jansson (whose tree building was 40% of the cost
 * of merging a feature row): a flat object of at most JS_MAX_KEYS distinct, unescaped feature
 * names (feature_name_ok) with numbers of js_number's subset, which cannot overflow, as values.
 * 1 = valid; 0 = not decided (jansson decides and words the error). */
static int features_scan(const char *s)
{
    const char *key[JS_MAX_KEYS], *p = js_ws(s);
    size_t keylen[JS_MAX_KEYS];
    int nkeys = 0;
    if (*p != '{') return 0;
    p = js_ws(p + 1);
    if (*p == '}') return !*js_ws(p + 1);
    for (;;) {
        if (*p != '"' || nkeys == JS_MAX_KEYS) return 0;
        const char *k = p + 1, *q = k;
        while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
               *q == '_' || *q == '.' || *q == '-')
            q++;
        size_t len = (size_t)(q - k);
        if (*q != '"' || len < 1 || len > 63) return 0;
        for (int i = 0; i < nkeys; i++)
            if (keylen[i] == len && !memcmp(key[i], k, len)) return 0;
        key[nkeys] = k;
        keylen[nkeys++] = len;
        p = js_ws(q + 1);
        if (*p != ':') return 0;
        if (!(p = js_number(js_ws(p + 1)))) return 0;
        p = js_ws(p);
        if (*p == '}') return !*js_ws(p + 1);
        if (*p != ',') return 0;
        p = js_ws(p + 1);
    }
}

static int v_features(char *err, size_t errlen, const char *s)
{
    if (!s) return sg_errf(err, errlen, SG_EINVAL, "features: required");
    if (features_scan(s)) return SG_OK;
    json_error_t je;
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &je);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        return sg_errf(err, errlen, SG_EINVAL, "features: must be a JSON object");
    }
    const char *k;
    json_t *v;
    int rc = SG_OK;
    json_object_foreach(j, k, v) {
        if (!feature_name_ok(k)) {
            rc = sg_errf(err, errlen, SG_EINVAL, "features: bad feature name (1..63 of A-Z a-z 0-9 _ . -)");
            break;
        }
        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            rc = sg_errf(err, errlen, SG_EINVAL, "features.%s: must be a finite number", k);
            break;
        }
    }
    json_decref(j);
    return rc;
}

static int v_feature_rows(const char *what, const struct store_member_feature *rows, size_t n,
                          char *err, size_t errlen)
{
    char e[SG_ERRLEN];
    int rc;
    for (size_t i = 0; i < n; i++) {
        const struct store_member_feature *f = &rows[i];
        if ((rc = v_hash(e, sizeof e, "member_hash", terminated(f->member_hash, STORE_HASH_LEN) ? f->member_hash : NULL)) ||
            (rc = v_year(e, sizeof e, "measurement_year", f->measurement_year, 0)) ||
            (rc = v_features(e, sizeof e, f->features)) ||
            (rc = v_text(e, sizeof e, "source", f->source, STORE_NAME_LEN, 1)))
            return sg_errf(err, errlen, rc, "%s[%zu].%s", what, i, e);
    }
    return v_unique_keys(what, rows, n, feature_key, err, errlen);
}

int store_member_feature_merge_batch(struct store *st, const struct store_actor *a,
                                     const struct store_member_feature *rows, size_t n,
                                     struct store_merge_counts *counts, char *err, size_t errlen)
{
    return store_member_feature_merge_batch_gated(st, a, rows, n, NULL, counts, err, errlen);
}

int store_member_feature_merge_batch_gated(struct store *st, const struct store_actor *a,
                                           const struct store_member_feature *rows, size_t n,
                                           const struct store_gate *gate,
                                           struct store_merge_counts *counts, char *err,
                                           size_t errlen)
{
    char now[STORE_TS_LEN];
    struct store_merge_counts tmp;
    int rc;
    counts_zero(counts);
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!rows || n < 1 || n > 1000000) return sg_errf(err, errlen, SG_EINVAL, "rows: must hold 1..1000000 feature rows");
    if ((rc = v_feature_rows("rows", rows, n, err, errlen))) return rc;
    store_now(now);
    rc = st->ops->member_feature_merge_batch(st, a, rows, n, now, gate, counts ? counts : &tmp,
                                             err, errlen);
    if (rc) counts_zero(counts);
    return rc;
}

int store_import_batch(struct store *st, const struct store_actor *a,
                       const struct store_member *members, size_t n_members,
                       const struct store_measure_result *results, size_t n_results,
                       const struct store_member_feature *features, size_t n_features,
                       struct store_merge_counts counts[3], char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    struct store_merge_counts tmp[3];
    int rc;
    if (counts) memset(counts, 0, 3 * sizeof *counts);
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (n_members + n_results + n_features == 0)
        return sg_errf(err, errlen, SG_EINVAL, "members, results, features: all empty");
    if ((n_members && !members) || n_members > 1000000)
        return sg_errf(err, errlen, SG_EINVAL, "members: must hold 0..1000000 members");
    if ((n_results && !results) || n_results > 1000000)
        return sg_errf(err, errlen, SG_EINVAL, "results: must hold 0..1000000 results");
    if ((n_features && !features) || n_features > 1000000)
        return sg_errf(err, errlen, SG_EINVAL, "features: must hold 0..1000000 feature rows");
    store_now(now);
    if ((rc = v_member_rows("members", members, n_members, err, errlen)) ||
        (rc = v_result_rows(st, "results", results, n_results, now, err, errlen)) ||
        (rc = v_feature_rows("features", features, n_features, err, errlen)))
        return rc;
    rc = st->ops->import_batch(st, a, members, n_members, results, n_results, features, n_features,
                               now, counts ? counts : tmp, err, errlen);
    if (rc && counts) memset(counts, 0, 3 * sizeof *counts);
    return rc;
}

int store_member_scan(struct store *st, store_member_cb cb, void *ctx, char *err, size_t errlen)
{
    if (!cb) return sg_errf(err, errlen, SG_EINVAL, "cb: required");
    return st->ops->member_scan(st, cb, ctx, err, errlen);
}

int store_measure_result_scan(struct store *st, int year, store_result_cb cb, void *ctx,
                              char *err, size_t errlen)
{
    int rc;
    if (!cb) return sg_errf(err, errlen, SG_EINVAL, "cb: required");
    if ((rc = v_year(err, errlen, "year", year, 0))) return rc;
    return st->ops->measure_result_scan(st, year, cb, ctx, err, errlen);
}

int store_member_feature_scan(struct store *st, int year, store_feature_cb cb, void *ctx,
                              char *err, size_t errlen)
{
    int rc;
    if (!cb) return sg_errf(err, errlen, SG_EINVAL, "cb: required");
    if ((rc = v_year(err, errlen, "year", year, 0))) return rc;
    return st->ops->member_feature_scan(st, year, cb, ctx, err, errlen);
}

int store_member_feature_get(struct store *st, const char *member_hash, int year,
                             struct store_member_feature *out, char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_hash(err, errlen, "member_hash", member_hash)) ||
        (rc = v_year(err, errlen, "year", year, 0)))
        return rc;
    return st->ops->member_feature_get(st, member_hash, year, out, err, errlen);
}

int store_measure_result_years(struct store *st, int *years, size_t cap, size_t *n, char *err,
                               size_t errlen)
{
    *n = 0;
    if (!years || cap == 0) return sg_errf(err, errlen, SG_EINVAL, "years: required");
    return st->ops->measure_result_years(st, years, cap, n, err, errlen);
}

int store_model_create(struct store *st, const struct store_actor *a, struct store_model *m,
                       char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    if ((rc = v_actor(err, errlen, a, 0))) return rc;
    if (!m) return sg_errf(err, errlen, SG_EINVAL, "model: required");
    if ((rc = v_code(st, err, errlen, "measure_code", terminated(m->measure_code, STORE_CODE_LEN) ? m->measure_code : NULL)) ||
        (rc = v_year(err, errlen, "trained_year", m->trained_year, 0)) ||
        (rc = v_hash(err, errlen, "fingerprint", terminated(m->fingerprint, STORE_HASH_LEN) ? m->fingerprint : NULL)) ||
        (rc = v_json(err, errlen, "hyperparams", m->hyperparams, 'o', 1)) ||
        (rc = v_json(err, errlen, "metrics", m->metrics, 'o', 1)))
        return rc;
    if (!terminated(m->learner, sizeof m->learner) ||
        (strcmp(m->learner, "logreg") != 0 && strcmp(m->learner, "gbdt") != 0))
        return sg_errf(err, errlen, SG_EINVAL, "learner: must be logreg or gbdt");
    if (!m->model_text || !*m->model_text) return sg_errf(err, errlen, SG_EINVAL, "model_text: required");
    if (sg_uuid_v4(m->model_id) != SG_OK) return sg_errf(err, errlen, SG_EINTERNAL, "uuid generation failed");
    store_now(now);
    memcpy(m->created_at, now, STORE_TS_LEN);
    m->version = 0;
    rc = st->ops->model_create(st, a, m, now, err, errlen);
    if (rc) m->version = 0;
    return rc;
}

int store_model_get(struct store *st, const char *model_id, struct store_model *out, char *err,
                    size_t errlen)
{
    char id[STORE_ID_LEN];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_uuid(err, errlen, "model_id", model_id, id))) return rc;
    return st->ops->model_get(st, id, out, err, errlen);
}

int store_model_get_latest(struct store *st, const char *measure_code, struct store_model *out,
                           char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = v_code_syntax(err, errlen, "measure_code", measure_code))) return rc;
    return st->ops->model_get_latest(st, measure_code, out, err, errlen);
}

int store_model_list(struct store *st, const char *measure_code, struct store_model_list *out,
                     char *err, size_t errlen)
{
    int rc;
    memset(out, 0, sizeof *out);
    if (measure_code && (rc = v_code_syntax(err, errlen, "measure_code", measure_code))) return rc;
    return st->ops->model_list(st, measure_code, out, err, errlen);
}

void store_member_feature_fini(struct store_member_feature *f)
{
    if (!f) return;
    free(f->features);
    f->features = NULL;
}

void store_model_fini(struct store_model *m)
{
    if (!m) return;
    free(m->hyperparams);
    free(m->metrics);
    free(m->model_text);
    m->hyperparams = m->metrics = m->model_text = NULL;
}

LIST_FREE(store_model_list_free, store_model_list, store_model_fini)

/* ==== end predict block ==== */

/* ==== decide block (issue 7: gap refresh, bulk reads for the portfolio wiring) ==== */

int store_prediction_scan_latest(struct store *st, int year, store_prediction_cb cb, void *ctx,
                                 char *err, size_t errlen)
{
    int rc;
    if (!cb) return sg_errf(err, errlen, SG_EINVAL, "cb: required");
    if ((rc = v_year(err, errlen, "year", year, 0))) return rc;
    return st->ops->prediction_scan_latest(st, year, cb, ctx, err, errlen);
}

int store_gap_scan(struct store *st, int year, const char *contract_id, store_gap_cb cb,
                   void *ctx, char *err, size_t errlen)
{
    int rc;
    if (!cb) return sg_errf(err, errlen, SG_EINVAL, "cb: required");
    if ((rc = v_year(err, errlen, "year", year, 0)) ||
        (rc = v_contract(err, errlen, "contract_id", contract_id, 0)))
        return rc;
    return st->ops->gap_scan(st, year, contract_id && *contract_id ? contract_id : NULL, cb, ctx,
                             err, errlen);
}

/* Gap refresh rows are inserted in row order. An id that is not terminated is left for the
 * validation to refuse. */
static char *gap_id_slot(void *rows, const uint32_t *order, size_t k)
{
    (void)order;
    struct store_gap *g = &((struct store_gap *)rows)[k];
    return memchr(g->gap_id, 0, STORE_ID_LEN) && !g->gap_id[0] ? g->gap_id : NULL;
}

/* A gap refresh's shared arguments: every row must be of this year and, when scope is set, of
 * that contract. */
struct gap_scope {
    int year;
    const char *scope;
};

static int gap_check(struct store *st, void *rows, size_t i, const void *ctx, char *e,
                     size_t elen)
{
    const struct gap_scope *gs = ctx;
    struct store_gap *g = &((struct store_gap *)rows)[i];
    int rc;
    if ((rc = v_id_or_new(e, elen, "gap_id", g->gap_id)) ||
        (rc = v_hash(e, elen, "member_hash",
                     terminated(g->member_hash, STORE_HASH_LEN) ? g->member_hash : NULL)) ||
        (rc = v_contract(e, elen, "contract_id",
                         terminated(g->contract_id, STORE_CONTRACT_LEN) ? g->contract_id : NULL, 1)) ||
        (rc = v_code(st, e, elen, "measure_code",
                     terminated(g->measure_code, STORE_CODE_LEN) ? g->measure_code : NULL)) ||
        (rc = v_prob(e, elen, "gap_probability", g->gap_probability)) ||
        (rc = v_text(e, elen, "intervention_type", g->intervention_type, STORE_NAME_LEN, 0)) ||
        (rc = v_opt_num(e, elen, "estimated_cost", g->estimated_cost, 0, INFINITY)) ||
        (rc = v_opt_num(e, elen, "estimated_value", g->estimated_value, 0, INFINITY)))
        return rc;
    if (g->measurement_year != gs->year)
        return sg_errf(e, elen, SG_EINVAL, "measurement_year: must be %d", gs->year);
    if (gs->scope && strcmp(g->contract_id, gs->scope) != 0)
        return sg_errf(e, elen, SG_EINVAL, "contract_id: outside contract %s", gs->scope);
    if (!isfinite(g->priority_score) || g->priority_score < 0)
        return sg_errf(e, elen, SG_EINVAL, "priority_score: must be a number >= 0");
    return SG_OK;
}

int store_gap_refresh_batch(struct store *st, const struct store_actor *a, int year,
                            const char *contract_id, struct store_gap *rows, size_t n,
                            struct store_refresh_counts *counts, char *err, size_t errlen)
{
    char now[STORE_TS_LEN];
    int rc;
    struct store_refresh_counts k;
    memset(&k, 0, sizeof k);
    if (counts) *counts = k;
    if ((rc = v_actor(err, errlen, a, 0)) || (rc = v_year(err, errlen, "year", year, 0)) ||
        (rc = v_contract(err, errlen, "contract_id", contract_id, 0)))
        return rc;
    if (n && !rows) return sg_errf(err, errlen, SG_EINVAL, "rows: required");
    if (n > 5000000) return sg_errf(err, errlen, SG_EINVAL, "rows: at most 5000000");
    const char *scope = contract_id && *contract_id ? contract_id : NULL;
    /* new gaps' ids: v7, ascending in row order (the order the backends insert the rows in: the
     * pipeline's rows come in member order, which the SQLite backend sorts by as well), so the
     * primary key takes them at its right edge (random v4 ids cost the PostgreSQL COPY of 1.46
     * million gaps 3 to 4 s more: docs/BENCHMARKS.md, "PostgreSQL bulk path") */
    if (n && (rc = fill_v7(rows, NULL, n, gap_id_slot, err, errlen))) return rc;
    struct gap_scope gs = {year, scope};
    if ((rc = validate_rows(st, rows, n, &gs, gap_check, err, errlen))) return rc;
    store_now(now);
    rc = st->ops->gap_refresh_batch(st, a, year, scope, rows, n, now, &k, err, errlen);
    if (!rc && counts) *counts = k;
    return rc;
}

/* ==== end decide block ==== */
