/* jsonw.h: a small streaming JSON writer for the hot responses (gap lists, single gaps, member
 * history). Building a jansson tree and dumping it cost about 12 us per gap object (630 us for a
 * page of 50 on the benchmark machine); writing the text directly into a bounded buffer costs a
 * fraction of that. Output matches the jansson encoders of encode.c: same keys in the same
 * shapes, reals with 10 significant digits, NULL columns as null. Private to src/api. */
#ifndef SG_API_JSONW_H
#define SG_API_JSONW_H

#include "core/buf.h"
#include "db/store.h"

#define JW_MAX_DEPTH 8

struct jw {
    struct sg_buf *b;
    int depth;
    int count[JW_MAX_DEPTH]; /* members written at each open level */
    int after_key;           /* a key was written; its value needs no comma */
    int err;                 /* first sg_buf error; later writes are no-ops */
};

/* Starts writing into b (borrowed). */
void jw_init(struct jw *w, struct sg_buf *b);

/* Structure: objects and arrays; a key precedes each value inside an object. */
void jw_obj(struct jw *w);
void jw_obj_end(struct jw *w);
void jw_arr(struct jw *w);
void jw_arr_end(struct jw *w);
void jw_key(struct jw *w, const char *key); /* key must need no escaping */

/* Values. jw_str escapes; jw_strn writes null for NULL or "". jw_real writes null for NAN/inf. */
void jw_str(struct jw *w, const char *s);
void jw_strn(struct jw *w, const char *s);
void jw_real(struct jw *w, double v);
void jw_int(struct jw *w, long long v);
void jw_bool(struct jw *w, int v);
void jw_null(struct jw *w);

/* The gap and history-item objects (same shape as api_enc_gap / api_enc_history_item). */
void jw_gap(struct jw *w, const struct store_gap *g);
void jw_history_item(struct jw *w, const struct store_history_item *h);

#endif
