/* import_fhir.c: `stargap import --fhir` — measure results, member attributes and member
 * features from FHIR input through the measure engine (src/measures, public API only).
 *
 * Patients are read with meas_input (Bundle files, NDJSON, directories or a Bulk FHIR export),
 * the five FHIR eCQMs (BCS CMS125, COL CMS130, CBP CMS165, GSD CMS122, EED CMS131) are evaluated
 * for the calendar year, and the populations are merged into measure_results (source "ecqm") like
 * the CSV rows. GSD is stored in the direction of the Star measure: CMS122's numerator is poor
 * control (HbA1c > 9% or missing), so the stored numerator is "in the denominator, not excluded,
 * not in CMS122's numerator". The member ID (Patient.identifier of type MB, else Patient.id) is
 * hashed at once. A member not yet stored is created with `contract` when one is given, else the
 * patient is rejected as an unknown member; a stored member keeps its contract, flags and
 * `active`. Every accepted patient's birth year and sex (meas_patient_demographics; a value the
 * Patient lacks keeps the stored one) go through the member upsert, and its features of the year
 * (meas_features: age, sex, encounter counts, chronic conditions, observation and procedure
 * counts) through the member feature merge as one JSON object (source "fhir", missing values left
 * out). Each batch (at most opts->batch_rows measure results and at most 50,000 patients) is
 * written with store_import_batch: members, results and features in one store transaction, so
 * a failed batch writes nothing. A patient the reader
 * rejects (bad JSON, wrong resource, bad date) goes to the rejects file with file and line. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "measures/measures.h"
#include "model/matrix.h"
#include "pipeline/pipeline.h"

static int fx_reject(FILE *rej, const char *file, long line, const char *reason,
                     struct pl_import_summary *sum, enum pl_reject r)
{
    sum->results.rejected++;
    sum->by_reason[r]++;
    const char *base = file ? strrchr(file, '/') : NULL;
    return fprintf(rej, "%s,%ld,\"%s\"\n",
                   base   ? base + 1
                   : file ? file
                          : "<fhir>",
                   line, reason) < 0
               ? SG_EIO
               : SG_OK;
}

#define FX_MAX_PATIENTS 50000

/* The rows of one batch, written together: members (the others refer to them), results and
 * features. */
struct fx_batch {
    struct store_member *members;
    struct store_measure_result *rows;
    struct store_member_feature *feats; /* features strings owned (malloc) */
    size_t n_members, n_rows, n_feats, cap;
};

static void add_counts(struct store_merge_counts *to, const struct store_merge_counts *k)
{
    to->inserted += k->inserted;
    to->updated += k->updated;
    to->unchanged += k->unchanged;
}

static void fx_batch_clear(struct fx_batch *b)
{
    for (size_t i = 0; i < b->n_feats; i++)
        free(b->feats[i].features);
    b->n_members = b->n_rows = b->n_feats = 0;
}

/* Writes the batch in one store transaction (store_import_batch): all of it or nothing. */
static int fx_flush(struct store *st, const struct store_actor *a, struct fx_batch *b,
                    struct pl_import_summary *sum, char *err, size_t errlen)
{
    struct store_merge_counts k[3];
    int rc = SG_OK;
    if (b->n_members + b->n_rows + b->n_feats)
        rc = store_import_batch(st, a, b->members, b->n_members, b->rows, b->n_rows, b->feats,
                                b->n_feats, k, err, errlen);
    if (!rc && b->n_members + b->n_rows + b->n_feats) {
        add_counts(&sum->members.merged, &k[0]);
        add_counts(&sum->results.merged, &k[1]);
        add_counts(&sum->features.merged, &k[2]);
    }
    fx_batch_clear(b);
    return rc;
}

/* The features of one patient as a JSON object {"name":value,...} (NAN values left out);
 * malloc'd at its exact size (a batch holds one per patient), NULL on allocation failure. Names
 * are fixed snake_case: no escaping needed. */
static char *features_json(const double *v)
{
    char buf[MEAS_FEATURES_N * (MODEL_NAME_MAX + 32) + 4];
    size_t n = 0;
    buf[n++] = '{';
    for (int i = 0; i < MEAS_FEATURES_N; i++) {
        if (isnan(v[i])) continue;
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\"%s\":%.17g", n > 1 ? "," : "",
                              meas_feature_names[i], v[i]);
    }
    buf[n++] = '}';
    buf[n] = '\0';
    char *s = malloc(n + 1);
    if (s) memcpy(s, buf, n + 1);
    return s;
}

int pl_import_fhir(struct store *st, const struct store_actor *a, const struct sg_memberid *mid,
                   const char *path, const char *valuesets_dir, int year, const char *contract,
                   const struct pl_import_opts *opts, struct pl_import_summary *sum, char *err,
                   size_t errlen)
{
    memset(sum, 0, sizeof *sum);
    if (!opts || !opts->rejects_path || !path || !valuesets_dir || !*valuesets_dir)
        return sg_errf(err, errlen, SG_EINVAL,
                       "import --fhir: input, value sets and rejects path are required");
    if (year < 2000 || year > 2100)
        return sg_errf(err, errlen, SG_EINVAL, "year: must be 2000..2100");
    struct meas_period period;
    char ps[16], pe[16];
    snprintf(ps, sizeof ps, "%04d-01-01", year);
    snprintf(pe, sizeof pe, "%04d-12-31", year);
    int rc = meas_period_parse(ps, pe, &period, err, errlen);
    if (rc) return rc;
    if ((rc = pl_catalog_ensure(st, a, opts->data_dir, NULL, err, errlen))) return rc;
    struct meas_engine *eng = NULL;
    struct meas_input *in = NULL;
    struct meas_patient *p = meas_patient_new();
    size_t batch = opts->batch_rows ? opts->batch_rows : 200000;
    /* patients per batch: at most `batch`, and at most FX_MAX_PATIENTS so that the member rows
     * and feature JSON held until the flush stay near 50 MB */
    size_t pcap = batch < FX_MAX_PATIENTS ? batch : FX_MAX_PATIENTS;
    struct fx_batch b = {0};
    b.cap = pcap;
    b.members = calloc(pcap, sizeof *b.members);
    b.rows = calloc(batch + MEAS_COUNT, sizeof *b.rows);
    b.feats = calloc(pcap, sizeof *b.feats);
    FILE *rej = fopen(opts->rejects_path, "w");
    if (!rej) {
        rc = sg_errf(err, errlen, SG_EIO, "%s: cannot create: %s", opts->rejects_path,
                     strerror(errno));
        goto out;
    }
    fputs("file,line,reason\n", rej);
    if (!p || !b.members || !b.rows || !b.feats) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = meas_engine_new(valuesets_dir, &eng, err, errlen))) goto out;
    char *paths[1] = {(char *)path};
    if ((rc = meas_input_open(paths, 1, &in, err, errlen))) goto out;
    for (;;) {
        const char *file = NULL;
        long line = 0;
        struct meas_error e;
        memset(&e, 0, sizeof e);
        int r = meas_input_next(in, eng, p, &file, &line, &e);
        if (r == 0) break;
        if (r == SG_EPARSE || r == SG_EINVAL) { /* one patient rejected; go on */
            sum->results.rows++;
            char why[600];
            snprintf(why, sizeof why, "bad FHIR patient: %.200s: %.300s", e.where, e.msg);
            for (char *q = why; *q; q++)
                if (*q == '"') *q = '\'';
            if ((rc = fx_reject(rej, file, e.line ? e.line : line, why, sum, PL_REJ_FHIR)))
                goto out;
            continue;
        }
        if (r < 0) {
            rc = sg_errf(err, errlen, r, "%s: reading FHIR input failed", file ? file : path);
            goto out;
        }
        sum->results.rows++;
        char hash[STORE_HASH_LEN], e2[128];
        if (sg_memberid_hash(mid, meas_patient_member_id(p), hash, e2, sizeof e2) != SG_OK) {
            if ((rc = fx_reject(rej, file, line,
                                "bad member_id: empty, too long or control characters", sum,
                                PL_REJ_MEMBER_ID)))
                goto out;
            continue;
        }
        struct store_member m;
        char se[SG_ERRLEN];
        int grc = store_member_get(st, hash, &m, se, sizeof se);
        if (grc != SG_OK && grc != SG_ENOTFOUND) {
            rc = sg_errf(err, errlen, grc, "%s", se);
            goto out;
        }
        if (grc == SG_ENOTFOUND) {
            if (!contract) {
                if ((rc = fx_reject(rej, file, line,
                                    "unknown member: not in the database (import members.csv first "
                                    "or give --contract)",
                                    sum, PL_REJ_UNKNOWN_MEMBER)))
                    goto out;
                continue;
            }
            memset(&m, 0, sizeof m);
            m.active = 1;
            m.dual_eligible = m.lis = m.disabled = -1;
            m.sex = STORE_SEX_UNKNOWN;
            memcpy(m.member_hash, hash, STORE_HASH_LEN);
            snprintf(m.contract_id, sizeof m.contract_id, "%s", contract);
        }
        struct meas_demographics dem;
        meas_patient_demographics(p, &dem);
        if (dem.birth_year >= 1900 && dem.birth_year <= 2100) m.birth_year = dem.birth_year;
        if (dem.sex == 'F')
            m.sex = STORE_SEX_FEMALE;
        else if (dem.sex == 'M')
            m.sex = STORE_SEX_MALE;
        b.members[b.n_members++] = m;
        sum->members.accepted++;
        sum->results.accepted++;
        for (int id = 0; id < MEAS_COUNT; id++) {
            struct meas_pops pops;
            char nd[MEAS_DATE_LEN];
            if ((rc = meas_evaluate_dated(eng, p, (enum meas_id)id, &period, &pops, nd))) {
                rc = sg_errf(err, errlen, rc, "measure engine: evaluation failed");
                goto out;
            }
            if (!pops.initial_population) continue; /* no row: not in the measure's population */
            struct store_measure_result *row = &b.rows[b.n_rows++];
            memset(row, 0, sizeof *row);
            memcpy(row->member_hash, hash, STORE_HASH_LEN);
            snprintf(row->measure_code, sizeof row->measure_code, "%s",
                     meas_info((enum meas_id)id)->code);
            row->measurement_year = year;
            row->initial_population = pops.initial_population;
            row->denominator = pops.denominator;
            row->denominator_exclusion = pops.denominator_exclusion;
            /* GSD: controlled = not poor control; the date the Star numerator was met */
            row->numerator = meas_star_numerator((enum meas_id)id, &pops, nd, row->numerator_date);
            if (row->denominator_exclusion) row->numerator = 0; /* (then no date either) */
            snprintf(row->source, sizeof row->source, "ecqm");
        }
        double fv[MEAS_FEATURES_N];
        meas_features(p, &period, fv);
        struct store_member_feature *fr = &b.feats[b.n_feats];
        memset(fr, 0, sizeof *fr);
        if (!(fr->features = features_json(fv))) {
            rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
            goto out;
        }
        b.n_feats++;
        memcpy(fr->member_hash, hash, STORE_HASH_LEN);
        fr->measurement_year = year;
        snprintf(fr->source, sizeof fr->source, "fhir");
        sum->features.rows++;
        sum->features.accepted++;
        if ((b.n_members >= pcap || b.n_rows >= batch) &&
            (rc = fx_flush(st, a, &b, sum, err, errlen)))
            goto out;
    }
    rc = fx_flush(st, a, &b, sum, err, errlen);
out:
    if (rej && fclose(rej) && !rc)
        rc = sg_errf(err, errlen, SG_EIO, "%s: write failed", opts->rejects_path);
    meas_input_close(in);
    meas_engine_free(eng);
    meas_patient_free(p);
    fx_batch_clear(&b);
    free(b.members);
    free(b.rows);
    free(b.feats);
    LOG_INFO("event=import_fhir patients=%lld accepted=%lld rejected=%lld rc=%d", sum->results.rows,
             sum->results.accepted, sum->results.rejected, rc);
    return rc;
}
