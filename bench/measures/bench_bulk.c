/* bench_bulk.c: cost of reading a Bulk FHIR export directory patient by patient (input.c).
 *
 * Times, per run, meas_input_open + meas_input_next over the whole export (grouping by patient,
 * JSON parsing and the FHIR reader into the compact model; no measure evaluation), and prints
 * the median CPU time of this thread (user+sys of the process are printed by /usr/bin/time),
 * the wall-clock median and patients per second. Built against a tree without input_bulk.h
 * (the offset-index reader) it times that reader, so before/after use the same program.
 * usage: bench_bulk VALUESETS_DIR BULK_DIR [runs=5] [partition_bytes=default] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "measures/measures.h"
#if __has_include("measures/input_bulk.h")
#include "measures/input_bulk.h"
#define HAVE_BUDGET 1
#endif

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s VALUESETS_DIR BULK_DIR [runs] [partition_bytes]\n", argv[0]);
        return 2;
    }
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    if (runs < 1 || runs > 100) runs = 5;
    size_t budget = argc > 4 ? (size_t)strtoull(argv[4], NULL, 10) : 0;
    char err[512];
    struct meas_engine *eng = NULL;
    if (meas_engine_new(argv[1], &eng, err, sizeof err) != SG_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct meas_patient *p = meas_patient_new();
    double cpu[100], wall[100];
    long patients = 0, rejects = 0;
    size_t parts = 0;
    int ret = 0;
    for (int r = 0; r < runs && p; r++) {
        struct meas_input *in = NULL;
        double c0 = cpu_now(), w0 = wall_now();
        if (meas_input_open(argv + 2, 1, &in, err, sizeof err) != SG_OK) {
            fprintf(stderr, "%s\n", err);
            ret = 1;
            break;
        }
#ifdef HAVE_BUDGET
        meas_input_set_bulk_budget(in, budget);
#endif
        patients = rejects = 0;
        for (;;) {
            const char *file;
            long line;
            struct meas_error e;
            int got = meas_input_next(in, eng, p, &file, &line, &e);
            if (got == 0) break;
            if (got == 1) {
                patients++;
            } else if (got == SG_EPARSE || got == SG_EINVAL) {
                rejects++;
            } else {
                fprintf(stderr, "%s:%ld: %s\n", file, line, e.msg);
                ret = 1;
                break;
            }
        }
#ifdef HAVE_BUDGET
        parts = meas_input_bulk_partitions(in);
#endif
        meas_input_close(in);
        cpu[r] = cpu_now() - c0;
        wall[r] = wall_now() - w0;
        if (ret) break;
    }
    if (!ret && p) {
        qsort(cpu, (size_t)runs, sizeof *cpu, cmp_d);
        qsort(wall, (size_t)runs, sizeof *wall, cmp_d);
        double mc = cpu[runs / 2], mw = wall[runs / 2];
        printf("patients=%ld rejects=%ld partitions=%zu budget=%zu runs=%d\n", patients, rejects,
               parts, budget, runs);
        printf("cpu median %.3f s (%.0f patients/s)  wall median %.3f s\n", mc,
               mc > 0 ? (double)patients / mc : 0.0, mw);
    }
    meas_patient_free(p);
    meas_engine_free(eng);
    return p ? ret : 1;
}
