/* bench_measures.c: throughput of the measure engine over NDJSON of synthetic patients.
 *
 * Generates N synthetic patients (deterministic RNG) as one collection Bundle per NDJSON line,
 * each with 15-45 resources drawn from the measures' value sets (outpatient visits, hypertension,
 * diabetes, blood pressures, HbA1c, mammograms, colonoscopies, eye exams, some exclusions and
 * unrelated resources), writes them to a temporary file, then times, per run:
 *   read+parse: reading the file line by line and jansson json_loadb of each line,
 *   model:      meas_patient_from_json (the FHIR reader into the compact model),
 *   evaluate:   meas_evaluate of all five measures for every patient (models kept in memory).
 * Single-threaded: the rates are per core. Prints the median of R runs.
 * usage: bench_measures VALUESETS_DIR [patients=20000] [runs=5] */
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "measures/measures.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* CPU time of this (single) thread: the per-core cost, not inflated when other processes share
 * the machine (wall-clock is printed too). */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define CPT "http://www.ama-assn.org/go/cpt"
#define SCT "http://snomed.info/sct"
#define LNC "http://loinc.org"
#define ICD "http://hl7.org/fhir/sid/icd-10-cm"

static void date(char *out, int y)
{
    sprintf(out, "%04d-%02d-%02dT%02d:%02d:00Z", y, 1 + (int)rnd(12), 1 + (int)rnd(28),
            (int)rnd(24), (int)rnd(60));
}

static int put(struct sg_buf *b, const char *fmt, ...) SG_PRINTF(2, 3);
static int put(struct sg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sg_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* One synthetic patient Bundle (one line). */
static int gen_patient(struct sg_buf *b, long i)
{
    char pid[32], d1[32], d2[32];
    sprintf(pid, "p%ld", i);
    int by = 1940 + (int)rnd(65);
    int rc = put(
        b,
        "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[{\"resource\":{"
        "\"resourceType\":"
        "\"Patient\",\"id\":\"%s\",\"meta\":{\"profile\":[\"http://hl7.org/fhir/us/qicore/"
        "StructureDefinition/"
        "qicore-patient\"]},\"identifier\":[{\"type\":{\"coding\":[{\"system\":\"http://"
        "terminology.hl7.org/"
        "CodeSystem/"
        "v2-0203\",\"code\":\"MB\"}]},\"value\":\"M%08ld\"}],\"name\":[{\"family\":\"Synthetic\","
        "\"given\":[\"Pat\"]}],\"gender\":\"%s\",\"birthDate\":\"%04d-%02d-%02d\"}}",
        pid, i, rnd(2) ? "female" : "male", by, 1 + rnd(12), 1 + rnd(28));
    static const char *const visits[] = {"99202", "99203", "99212", "99213", "99214"};
    int nres = 15 + (int)rnd(31);
    for (int k = 0; k < nres && rc == SG_OK; k++) {
        int kind = (int)rnd(13), y = 2016 + (int)rnd(10);
        date(d1, y);
        strcpy(d2, d1);
        d2[14] = (char)('0' + (d1[14] - '0' + 1) % 6); /* end a few minutes later, same hour slot */
        if (strcmp(d2, d1) < 0) strcpy(d2, d1);
        rc = put(b, ",{\"resource\":");
        if (rc) break;
        switch (kind) {
        case 0:
        case 1:
        case 2:
            rc = put(b,
                     "{\"resourceType\":\"Encounter\",\"id\":\"e%d\",\"status\":\"finished\","
                     "\"class\":{\"system\":"
                     "\"http://terminology.hl7.org/CodeSystem/"
                     "v3-ActCode\",\"code\":\"AMB\"},\"type\":[{\"coding\":[{"
                     "\"system\":\"" CPT
                     "\",\"code\":\"%s\"}]}],\"subject\":{\"reference\":\"Patient/%s\"},"
                     "\"period\":{\"start\":\"%s\",\"end\":\"%s\"}}",
                     k, visits[rnd(5)], pid, d1, d2);
            break;
        case 3:
            rc = put(
                b,
                "{\"resourceType\":\"Condition\",\"clinicalStatus\":{\"coding\":[{\"system\":"
                "\"http://terminology"
                ".hl7.org/CodeSystem/"
                "condition-clinical\",\"code\":\"%s\"}]},\"category\":[{\"coding\":[{\"system\":"
                "\"http://terminology.hl7.org/CodeSystem/"
                "condition-category\",\"code\":\"problem-list-item\"}]}],"
                "\"code\":{\"coding\":[{\"system\":\"" ICD
                "\",\"code\":\"%s\"}]},\"subject\":{\"reference\":"
                "\"Patient/%s\"},\"onsetDateTime\":\"%s\"}",
                rnd(5) ? "active" : "resolved", rnd(2) ? "I10" : (rnd(2) ? "E11.9" : "J45.909"),
                pid, d1);
            break;
        case 4:
        case 5:
            rc = put(b,
                     "{\"resourceType\":\"Observation\",\"status\":\"final\",\"category\":[{"
                     "\"coding\":[{\"system\":"
                     "\"http://terminology.hl7.org/CodeSystem/"
                     "observation-category\",\"code\":\"vital-signs\"}]}],"
                     "\"code\":{\"coding\":[{\"system\":\"" LNC
                     "\",\"code\":\"85354-9\"}]},\"subject\":{\"reference\":"
                     "\"Patient/%s\"},\"encounter\":{\"reference\":\"Encounter/"
                     "e%d\"},\"effectiveDateTime\":\"%s\","
                     "\"component\":[{\"code\":{\"coding\":[{\"system\":\"" LNC
                     "\",\"code\":\"8480-6\"}]},"
                     "\"valueQuantity\":{\"value\":%d,\"unit\":\"mmHg\",\"system\":\"http://"
                     "unitsofmeasure.org\","
                     "\"code\":\"mm[Hg]\"}},{\"code\":{\"coding\":[{\"system\":\"" LNC
                     "\",\"code\":\"8462-4\"}]},"
                     "\"valueQuantity\":{\"value\":%d,\"unit\":\"mmHg\",\"system\":\"http://"
                     "unitsofmeasure.org\","
                     "\"code\":\"mm[Hg]\"}}]}",
                     pid, (int)rnd(nres), d1, 110 + (int)rnd(50), 65 + (int)rnd(35));
            break;
        case 6:
            rc = put(b,
                     "{\"resourceType\":\"Observation\",\"status\":\"final\",\"category\":[{"
                     "\"coding\":[{\"system\":"
                     "\"http://terminology.hl7.org/CodeSystem/"
                     "observation-category\",\"code\":\"laboratory\"}]}],"
                     "\"code\":{\"coding\":[{\"system\":\"" LNC
                     "\",\"code\":\"4548-4\"}]},\"subject\":{\"reference\":"
                     "\"Patient/"
                     "%s\"},\"effectiveDateTime\":\"%s\",\"valueQuantity\":{\"value\":%.1f,"
                     "\"unit\":\"%%\","
                     "\"system\":\"http://unitsofmeasure.org\",\"code\":\"%%\"}}",
                     pid, d1, 5.0 + rnd(70) / 10.0);
            break;
        case 7:
            rc = put(b,
                     "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":["
                     "{\"system\":\"" LNC "\",\"code\":\"%s\"}]},\"subject\":{\"reference\":"
                     "\"Patient/%s\"},\"effectivePeriod\":{\"start\":"
                     "\"%s\",\"end\":\"%s\"}}",
                     rnd(2) ? "24604-1" : "32451-7", pid, d1, d2);
            break;
        case 8:
            rc =
                put(b,
                    "{\"resourceType\":\"Procedure\",\"status\":\"completed\",\"code\":{\"coding\":"
                    "[{\"system\":\"" CPT "\",\"code\":\"%s\"}]},\"subject\":{\"reference\":"
                    "\"Patient/%s\"},\"performedPeriod\":{\"start\":"
                    "\"%s\",\"end\":\"%s\"}}",
                    rnd(2) ? "44388" : "45330", pid, d1, d2);
            break;
        case 9:
            rc = put(b,
                     "{\"resourceType\":\"Encounter\",\"id\":\"h%d\",\"status\":\"finished\","
                     "\"class\":{\"code\":"
                     "\"%s\"},\"type\":[{\"coding\":[{\"system\":\"" SCT
                     "\",\"code\":\"%s\"}]}],\"subject\":{"
                     "\"reference\":\"Patient/%s\"},\"period\":{\"start\":\"%s\",\"end\":\"%s\"}}",
                     k, rnd(2) ? "IMP" : "EMER", rnd(20) ? "183452005" : "183919006", pid, d1, d2);
            break;
        case 10:
            rc = put(b,
                     "{\"resourceType\":\"MedicationRequest\",\"status\":\"active\",\"intent\":"
                     "\"order\","
                     "\"medicationCodeableConcept\":{\"coding\":[{\"system\":\"http://"
                     "www.nlm.nih.gov/research/umls/"
                     "rxnorm\",\"code\":\"%s\"}]},\"subject\":{\"reference\":\"Patient/"
                     "%s\"},\"authoredOn\":\"%s\","
                     "\"dispenseRequest\":{\"expectedSupplyDuration\":{\"value\":90,\"system\":"
                     "\"http://unitsofmeasure.org\",\"code\":\"d\"}}}",
                     rnd(10) ? "197361" : "312836", pid, d1);
            break;
        case 11:
            rc = put(b,
                     "{\"resourceType\":\"Observation\",\"status\":\"final\",\"category\":[{"
                     "\"coding\":[{\"system\":"
                     "\"http://terminology.hl7.org/CodeSystem/"
                     "observation-category\",\"code\":\"exam\"}]}],"
                     "\"code\":{\"coding\":[{\"system\":\"" SCT
                     "\",\"code\":\"252779009\"}]},\"subject\":{"
                     "\"reference\":\"Patient/%s\"},\"effectiveDateTime\":\"%s\"}",
                     pid, d1);
            break;
        default:
            rc = put(b,
                     "{\"resourceType\":\"Immunization\",\"status\":\"completed\",\"vaccineCode\":{"
                     "\"coding\":[{"
                     "\"system\":\"http://hl7.org/fhir/sid/"
                     "cvx\",\"code\":\"140\"}]},\"patient\":{\"reference\":"
                     "\"Patient/%s\"},\"occurrenceDateTime\":\"%s\"}",
                     pid, d1);
        }
        if (rc == SG_OK) rc = put(b, "}");
    }
    return rc == SG_OK ? put(b, "]}\n") : rc;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s VALUESETS_DIR [patients] [runs]\n", argv[0]);
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 20000;
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    if (n <= 0 || runs <= 0 || runs > 50) return 2;
    char err[SG_ERRLEN];
    struct meas_engine *eng;
    if (meas_engine_new(argv[1], &eng, err, sizeof err) != SG_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char path[] = "/tmp/sg_bench_measures_XXXXXX";
    int fd = mkstemp(path);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) return 1;
    struct sg_buf b;
    sg_buf_init(&b, 64u << 20);
    size_t bytes = 0;
    for (long i = 0; i < n; i++) {
        sg_buf_reset(&b);
        if (gen_patient(&b, i) != SG_OK) return 1;
        fwrite(b.data, 1, b.len, out);
        bytes += b.len;
    }
    sg_buf_fini(&b);
    fclose(out);

    struct meas_patient **pats = calloc((size_t)n, sizeof *pats);
    json_t **docs = calloc((size_t)n, sizeof *docs);
    double *tp = calloc((size_t)runs, sizeof *tp), *tm = calloc((size_t)runs, sizeof *tm),
           *te = calloc((size_t)runs, sizeof *te);
    if (!pats || !docs || !tp || !tm || !te) return 1;
    for (long i = 0; i < n; i++)
        if (!(pats[i] = meas_patient_new())) return 1;
    struct meas_period mp;
    if (meas_period_parse("2025-01-01", "2025-12-31", &mp, err, sizeof err) != SG_OK) return 1;
    long totals[MEAS_COUNT][4];
    double w0 = wall();
    for (int r = 0; r < runs; r++) {
        /* read + JSON parse */
        double t0 = now();
        FILE *f = fopen(path, "r");
        char *line = NULL;
        size_t cap = 0;
        long i = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0 && i < n) {
            json_error_t je;
            docs[i] = json_loadb(line, (size_t)len, 0, &je);
            if (!docs[i++]) return 1;
        }
        free(line);
        fclose(f);
        double t1 = now();
        /* FHIR reader into the model */
        for (i = 0; i < n; i++) {
            struct meas_error e;
            if (meas_patient_from_json(eng, docs[i], pats[i], &e) != SG_OK) {
                fprintf(stderr, "patient %ld: %s: %s\n", i, e.where, e.msg);
                return 1;
            }
        }
        double t2 = now();
        for (i = 0; i < n; i++)
            json_decref(docs[i]);
        /* evaluation of all five measures */
        double t3 = now();
        memset(totals, 0, sizeof totals);
        for (i = 0; i < n; i++)
            for (int m = 0; m < MEAS_COUNT; m++) {
                struct meas_pops p;
                if (meas_evaluate(eng, pats[i], (enum meas_id)m, &mp, &p) != SG_OK) return 1;
                totals[m][0] += p.initial_population;
                totals[m][1] += p.denominator;
                totals[m][2] += p.denominator_exclusion;
                totals[m][3] += p.numerator;
            }
        double t4 = now();
        tp[r] = t1 - t0;
        tm[r] = t2 - t1;
        te[r] = t4 - t3;
    }
    double wtotal = wall() - w0, ctotal = 0;
    for (int r = 0; r < runs; r++)
        ctotal += tp[r] + tm[r] + te[r];
    qsort(tp, (size_t)runs, sizeof *tp, cmp_d);
    qsort(tm, (size_t)runs, sizeof *tm, cmp_d);
    qsort(te, (size_t)runs, sizeof *te, cmp_d);
    double p = tp[runs / 2], m = tm[runs / 2], e = te[runs / 2];
    printf("patients=%ld bytes=%zu (%.1f KiB/patient) runs=%d (medians of thread CPU time, one "
           "core; wall/CPU over all runs %.2f)\n",
           n, bytes, (double)bytes / (double)n / 1024.0, runs, wtotal / ctotal);
    printf("read+json_parse  %8.3f s  %10.0f patients/s  %7.1f MB/s\n", p, (double)n / p,
           (double)bytes / p / 1e6);
    printf("fhir_model       %8.3f s  %10.0f patients/s\n", m, (double)n / m);
    printf("evaluate(5)      %8.3f s  %10.0f patients/s  %10.0f patient-measures/s\n", e,
           (double)n / e, 5.0 * (double)n / e);
    printf("whole path       %8.3f s  %10.0f patients/s  (parse %.0f%%, model %.0f%%, evaluate "
           "%.0f%%)\n",
           p + m + e, (double)n / (p + m + e), 100 * p / (p + m + e), 100 * m / (p + m + e),
           100 * e / (p + m + e));
    for (int k = 0; k < MEAS_COUNT; k++)
        printf("  %s ip=%ld den=%ld denex=%ld num=%ld\n", meas_info((enum meas_id)k)->cms,
               totals[k][0], totals[k][1], totals[k][2], totals[k][3]);
    for (long i = 0; i < n; i++)
        meas_patient_free(pats[i]);
    free(pats);
    free(docs);
    free(tp);
    free(tm);
    free(te);
    unlink(path);
    meas_engine_free(eng);
    return 0;
}
