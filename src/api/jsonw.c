/* jsonw.c: the streaming JSON writer (see jsonw.h). */
#include "api/jsonw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void jw_init(struct jw *w, struct sg_buf *b)
{
    memset(w, 0, sizeof *w);
    w->b = b;
}

static void put(struct jw *w, const char *s, size_t n)
{
    if (!w->err) w->err = sg_buf_append(w->b, s, n);
}

/* Comma before the second and later members of the current level; none between a key and its
 * value. */
static void sep(struct jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0 && w->depth <= JW_MAX_DEPTH && w->count[w->depth - 1]++ > 0) put(w, ",", 1);
}

static void open_level(struct jw *w, char c)
{
    sep(w);
    put(w, &c, 1);
    if (w->depth < JW_MAX_DEPTH) w->count[w->depth] = 0;
    w->depth++;
}

static void close_level(struct jw *w, char c)
{
    put(w, &c, 1);
    if (w->depth > 0) w->depth--;
}

void jw_obj(struct jw *w) { open_level(w, '{'); }
void jw_obj_end(struct jw *w) { close_level(w, '}'); }
void jw_arr(struct jw *w) { open_level(w, '['); }
void jw_arr_end(struct jw *w) { close_level(w, ']'); }

void jw_key(struct jw *w, const char *key)
{
    sep(w);
    put(w, "\"", 1);
    put(w, key, strlen(key));
    put(w, "\":", 2);
    w->after_key = 1;
}

void jw_str(struct jw *w, const char *s)
{
    sep(w);
    put(w, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(w, run, (size_t)(p - run));
        char esc[8];
        if (c == '"') memcpy(esc, "\\\"", 3);
        else if (c == '\\') memcpy(esc, "\\\\", 3);
        else if (c == '\n') memcpy(esc, "\\n", 3);
        else if (c == '\t') memcpy(esc, "\\t", 3);
        else if (c == '\r') memcpy(esc, "\\r", 3);
        else snprintf(esc, sizeof esc, "\\u%04x", c);
        put(w, esc, strlen(esc));
        run = p + 1;
    }
    put(w, run, strlen(run));
    put(w, "\"", 1);
}

void jw_null(struct jw *w)
{
    sep(w);
    put(w, "null", 4);
}

void jw_strn(struct jw *w, const char *s)
{
    if (s && *s) jw_str(w, s);
    else jw_null(w);
}

void jw_real(struct jw *w, double v)
{
    if (!isfinite(v)) {
        jw_null(w);
        return;
    }
    sep(w);
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.10g", v);
    /* keep it a real, as jansson prints it: 100 -> 100.0 */
    if (!strpbrk(tmp, ".eE") && n + 2 < (int)sizeof tmp) {
        memcpy(tmp + n, ".0", 3);
        n += 2;
    }
    put(w, tmp, (size_t)n);
}

void jw_int(struct jw *w, long long v)
{
    sep(w);
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    put(w, tmp, (size_t)n);
}

void jw_bool(struct jw *w, int v)
{
    sep(w);
    if (v) put(w, "true", 4);
    else put(w, "false", 5);
}

void jw_gap(struct jw *w, const struct store_gap *g)
{
    jw_obj(w);
    jw_key(w, "gap_id"); jw_str(w, g->gap_id);
    jw_key(w, "member_hash"); jw_str(w, g->member_hash);
    jw_key(w, "contract_id"); jw_str(w, g->contract_id);
    jw_key(w, "measure_code"); jw_str(w, g->measure_code);
    jw_key(w, "measurement_year"); jw_int(w, g->measurement_year);
    jw_key(w, "gap_probability"); jw_real(w, g->gap_probability);
    jw_key(w, "priority_score"); jw_real(w, g->priority_score);
    jw_key(w, "intervention_type"); jw_strn(w, g->intervention_type);
    jw_key(w, "estimated_cost"); jw_real(w, g->estimated_cost);
    jw_key(w, "estimated_value"); jw_real(w, g->estimated_value);
    jw_key(w, "status"); jw_strn(w, store_gap_status_name(g->status));
    jw_key(w, "assigned_date"); jw_strn(w, g->assigned_date);
    jw_key(w, "completed_date"); jw_strn(w, g->completed_date);
    jw_key(w, "closed_date"); jw_strn(w, g->closed_date);
    jw_key(w, "created_at"); jw_strn(w, g->created_at);
    jw_key(w, "updated_at"); jw_strn(w, g->updated_at);
    jw_obj_end(w);
}

void jw_history_item(struct jw *w, const struct store_history_item *h)
{
    jw_obj(w);
    jw_key(w, "kind"); jw_strn(w, store_history_kind_name(h->kind));
    jw_key(w, "id"); jw_strn(w, h->id);
    jw_key(w, "measure_code"); jw_str(w, h->measure_code);
    jw_key(w, "measurement_year");
    if (h->measurement_year) jw_int(w, h->measurement_year);
    else jw_null(w);
    jw_key(w, "at"); jw_str(w, h->at);
    jw_key(w, "status"); jw_str(w, h->status);
    jw_key(w, "value"); jw_real(w, h->value);
    jw_obj_end(w);
}
