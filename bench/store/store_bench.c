/* store_bench.c: throughput and latency of the storage layer on either backend (by URL).
 *
 *   store_bench --db URL [--members N] [--predictions N] [--gaps N] [--interventions N]
 *               [--queries N] [--threads N] [--queries-only]
 *               [--members-exist] [--batch-threads N]
 *   store_bench --db URL --audited 2,4,8,16,32,64 [--ops N]
 *
 * On a fresh database it migrates, seeds a small synthetic measure catalog (codes only; the
 * bench needs known codes, not CMS weights), creates the members, then times
 *   1. one store_prediction_batch_create of all predictions (one transaction): rows/s;
 *   2. gap and intervention creation (one audited transaction each, --threads writers): rows/s;
 *   3. store_maintain, as the server runs it at start (SQLite: planner statistics);
 *   4. p50/p99 latency of get_by_member, get_latest, gap get_with_filters (status=identified,
 *      limit 50, random offset; with a measure filter; with measure and contract filters sorted
 *      by probability) and intervention get_pending, each
 *      --queries times with random arguments from a fixed seed.
 * --queries-only skips the loading and times the reads of a database loaded by an earlier run
 * with the same sizes; --members-exist skips creating the members (a copy of a database where an
 * earlier run created them, e.g. to profile only the batch insert under callgrind).
 * --batch-threads N (N > 1) sends the predictions as N independent batches at once, each one
 * transaction over its own members (a separate figure; the headline is the one-call batch).
 * --audited runs only the audited-operation throughput (the group commit of store_group.h): for
 * each listed thread count, on fresh members with one gap each, the threads move their own gaps
 * identified -> assigned -> completed -> closed (three audited updates per gap, --ops updates in
 * all), then make --ops audited member-history reads (each appends an access row): ops/s.
 * The data is synthetic and deterministic (member i's hash is SHA-256 of "bench-member-i");
 * nothing here is a result about members. Not a test: it is run by hand (docs/BENCHMARKS.md). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/hash.h"
#include "core/log.h"
#include "db/migrate.h"
#include "db/store.h"

static const char *const codes[] = {"BCS", "COL", "CBP", "GSD", "EED",
                                    "KED", "BPD", "SUPD", "PDC-DR", "PDC-RASA"};
#define NCODES 10
#define YEAR 2026

struct opts {
    const char *db;
    long members, predictions, gaps, interventions, queries;
    int threads;
    int queries_only; /* the database is already loaded by an earlier run with the same sizes */
    int members_exist; /* the members were created by an earlier run (e.g. a copied database) */
    const char *audited; /* comma-separated thread counts: audited-throughput mode */
    long ops;            /* audited operations per thread count */
    int batch_threads;   /* > 1: the predictions as that many independent concurrent batches */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) /* this process's user + system CPU time */
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds (user + system) of the PostgreSQL server whose postmaster has the process id in
 * the environment variable STORE_BENCH_PG_PID (itself and its child processes: backends, WAL
 * writer, checkpointer), read from /proc; NAN when the variable is unset or /proc unreadable.
 * Lets --audited report the database's CPU per operation next to the client's. */
static double pg_cpu_s(void)
{
    const char *env = getenv("STORE_BENCH_PG_PID");
    if (!env || !*env) return NAN;
    long pm = strtol(env, NULL, 10);
    DIR *d = opendir("/proc");
    if (!d) return NAN;
    double ticks = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[300], line[1024];
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[n] = '\0';
        char *q = strrchr(line, ')'); /* after the command name, which may hold spaces */
        if (!q) continue;
        long ppid = 0;
        unsigned long ut = 0, st = 0;
        if (sscanf(q + 2, "%*c %ld %*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %lu", &ppid, &ut, &st) != 3)
            continue;
        if (ppid == pm || strtol(e->d_name, NULL, 10) == pm) ticks += (double)(ut + st);
    }
    closedir(d);
    return ticks / (double)sysconf(_SC_CLK_TCK);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) /* xorshift64*: reproducible arguments, not security */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static void member_hash(long i, char out[SG_HEX64_LEN])
{
    char s[64];
    int n = snprintf(s, sizeof s, "bench-member-%ld", i);
    if (sg_sha256_hex(s, (size_t)n, out)) out[0] = '\0';
}

static void die(const char *what, int rc, const char *err)
{
    fprintf(stderr, "store_bench: %s: %s (%s)\n", what, err, sg_strerror(rc));
    exit(1);
}

static const struct store_actor actor = {"store_bench", "127.0.0.1"};

/* ---- parallel writers ---- */

struct job {
    struct store *st;
    long from, to; /* half-open index range */
    const struct opts *o;
    int kind;      /* 0 members, 1 gaps, 2 interventions */
    int rc;
    char err[SG_ERRLEN];
};

static void gap_id_of(long k, char out[STORE_ID_LEN])
{
    /* Deterministic UUIDs so interventions can address gaps without reading them back. */
    snprintf(out, STORE_ID_LEN, "00000000-0000-4000-8000-%012lx", (unsigned long)k);
}

static void *writer(void *arg)
{
    struct job *j = arg;
    for (long k = j->from; k < j->to && !j->rc; k++) {
        if (j->kind == 0) {
            struct store_member m = {0};
            member_hash(k, m.member_hash);
            snprintf(m.contract_id, sizeof m.contract_id, "H%04ld", k % 20);
            m.active = 1;
            m.birth_year = 1930 + (int)(k % 40);
            m.sex = (k & 1) ? STORE_SEX_FEMALE : STORE_SEX_MALE;
            m.dual_eligible = m.lis = m.disabled = -1;
            j->rc = store_member_create(j->st, &actor, &m, j->err, sizeof j->err);
        } else if (j->kind == 1) {
            struct store_gap g = {0};
            long mi = k % j->o->members;
            gap_id_of(k, g.gap_id);
            member_hash(mi, g.member_hash);
            snprintf(g.measure_code, sizeof g.measure_code, "%s", codes[(k / j->o->members) % NCODES]);
            g.measurement_year = YEAR;
            g.gap_probability = (double)((k * 7919) % 1000) / 1000.0;
            g.priority_score = (double)((k * 104729) % 100000) / 1000.0;
            g.estimated_cost = 25.0 + (double)(k % 50);
            g.estimated_value = NAN;
            /* 85 % identified, the rest assigned/completed/closed, like a mid-year book. */
            int r = (int)(k % 20);
            g.status = r < 17 ? STORE_GAP_IDENTIFIED : r == 17 ? STORE_GAP_ASSIGNED
                     : r == 18 ? STORE_GAP_COMPLETED : STORE_GAP_CLOSED;
            if (g.status >= STORE_GAP_ASSIGNED) snprintf(g.assigned_date, sizeof g.assigned_date, "2026-03-01");
            if (g.status >= STORE_GAP_COMPLETED) snprintf(g.completed_date, sizeof g.completed_date, "2026-04-01");
            if (g.status == STORE_GAP_CLOSED) snprintf(g.closed_date, sizeof g.closed_date, "2026-05-01");
            j->rc = store_gap_create(j->st, &actor, &g, j->err, sizeof j->err);
        } else {
            struct store_intervention iv = {0};
            gap_id_of(k, iv.gap_id);
            member_hash(k % j->o->members, iv.member_hash);
            snprintf(iv.intervention_type, sizeof iv.intervention_type, "outreach_call");
            iv.estimated_cost = 30.0;
            iv.estimated_value = NAN;
            iv.roi = NAN;
            iv.status = STORE_IV_PLANNED;
            int doy = (int)(k % 365);
            struct tm tm = {.tm_year = YEAR - 1900, .tm_mon = 0, .tm_mday = 1 + doy};
            timegm(&tm);
            strftime(iv.scheduled_date, sizeof iv.scheduled_date, "%Y-%m-%d", &tm);
            j->rc = store_intervention_create(j->st, &actor, &iv, j->err, sizeof j->err);
        }
    }
    return NULL;
}

static void run_parallel(struct store *st, const struct opts *o, int kind, long n, const char *what)
{
    struct job jobs[16];
    pthread_t th[16];
    int t = o->threads;
    double t0 = now_s();
    for (int i = 0; i < t; i++) {
        jobs[i] = (struct job){st, n * i / t, n * (i + 1) / t, o, kind, 0, ""};
        pthread_create(&th[i], NULL, writer, &jobs[i]);
    }
    for (int i = 0; i < t; i++) pthread_join(th[i], NULL);
    double dt = now_s() - t0;
    for (int i = 0; i < t; i++)
        if (jobs[i].rc) die(what, jobs[i].rc, jobs[i].err);
    printf("%-34s %9ld rows %8.2f s %10.0f rows/s (%d threads, one audited transaction each)\n",
           what, n, dt, (double)n / dt, t);
}

/* ---- audited operations per second (group commit) ---- */

struct aud_job {
    struct store *st;
    long from, to; /* members / gaps of this thread: base + [from, to) */
    long base;
    int phase;     /* 0 create member+gap, 1 three status updates per gap, 2 history reads */
    long reads;
    int rc;
    char err[SG_ERRLEN];
};

static void *aud_worker(void *arg)
{
    struct aud_job *j = arg;
    for (long k = j->from; k < j->to && !j->rc; k++) {
        long id = j->base + k;
        char gid[STORE_ID_LEN];
        gap_id_of(id, gid);
        if (j->phase == 0) {
            struct store_member m = {0};
            member_hash(id, m.member_hash);
            snprintf(m.contract_id, sizeof m.contract_id, "H%04ld", id % 20);
            m.active = 1;
            m.dual_eligible = m.lis = m.disabled = -1;
            j->rc = store_member_create(j->st, &actor, &m, j->err, sizeof j->err);
            if (j->rc) break;
            struct store_gap g = {0};
            memcpy(g.gap_id, gid, STORE_ID_LEN);
            memcpy(g.member_hash, m.member_hash, STORE_HASH_LEN);
            snprintf(g.measure_code, sizeof g.measure_code, "%s", codes[id % NCODES]);
            g.measurement_year = YEAR;
            g.gap_probability = 0.5;
            g.priority_score = 1.0;
            g.estimated_cost = NAN;
            g.estimated_value = NAN;
            g.status = STORE_GAP_IDENTIFIED;
            j->rc = store_gap_create(j->st, &actor, &g, j->err, sizeof j->err);
        } else if (j->phase == 1) {
            for (int to = STORE_GAP_ASSIGNED; to <= STORE_GAP_CLOSED && !j->rc; to++)
                j->rc = store_gap_update_status(j->st, &actor, gid, (enum store_gap_status)to, NULL,
                                                j->err, sizeof j->err);
        } else {
            for (long r = 0; r < j->reads && !j->rc; r++) {
                char h[SG_HEX64_LEN];
                member_hash(j->base + j->from + r % (j->to - j->from), h);
                struct store_page pg = {20, 0};
                struct store_history_list l;
                j->rc = store_member_history(j->st, &actor, h, &pg, &l, j->err, sizeof j->err);
                store_history_list_free(&l);
            }
            break;
        }
    }
    return NULL;
}

/* Runs phase with t threads over n gaps starting at base; returns the elapsed seconds. */
static double aud_run(struct store *st, int t, long base, long n, int phase, long reads_per_thread)
{
    struct aud_job *jobs = calloc((size_t)t, sizeof *jobs);
    pthread_t *th = calloc((size_t)t, sizeof *th);
    if (!jobs || !th) die("audited", SG_ENOMEM, "out of memory");
    double t0 = now_s();
    for (int i = 0; i < t; i++) {
        jobs[i] = (struct aud_job){st, n * i / t, n * (i + 1) / t, base, phase, reads_per_thread, 0, ""};
        if (pthread_create(&th[i], NULL, aud_worker, &jobs[i])) die("audited", SG_EINTERNAL, "pthread_create");
    }
    for (int i = 0; i < t; i++) pthread_join(th[i], NULL);
    double dt = now_s() - t0;
    for (int i = 0; i < t; i++)
        if (jobs[i].rc) die(phase == 0 ? "audited setup" : phase == 1 ? "audited updates" : "audited reads",
                            jobs[i].rc, jobs[i].err);
    free(jobs);
    free(th);
    return dt;
}

static void bench_audited(struct store *st, const struct opts *o)
{
    long base = 20000000; /* members/gaps of this mode live above the loader's index range */
    const char *p = o->audited;
    while (*p) {
        char *end;
        long t = strtol(p, &end, 10);
        if (end == p || t < 1 || t > 256 || (*end && *end != ',')) {
            fprintf(stderr, "store_bench: --audited wants thread counts 1..256 separated by commas\n");
            exit(2);
        }
        p = *end ? end + 1 : end;
        long gaps = o->ops / 3;
        if (gaps < t) gaps = t;
        (void)aud_run(st, (int)t, base, gaps, 0, 0);
        double c0 = cpu_s(), p0 = pg_cpu_s();
        double dt = aud_run(st, (int)t, base, gaps, 1, 0);
        double c1 = cpu_s(), p1 = pg_cpu_s();
        printf("%-34s %3ld threads %7ld ops %8.2f s %10.0f ops/s", "audited gap updates", t,
               3 * gaps, dt, (double)(3 * gaps) / dt);
        printf("  CPU us/op client %.0f", (c1 - c0) * 1e6 / (double)(3 * gaps));
        if (!isnan(p0)) printf(" + PostgreSQL %.0f", (p1 - p0) * 1e6 / (double)(3 * gaps));
        printf("\n");
        long per = (o->ops + t - 1) / t;
        dt = aud_run(st, (int)t, base, gaps, 2, per);
        printf("%-34s %3ld threads %7ld ops %8.2f s %10.0f ops/s\n", "audited member-history reads",
               t, per * t, dt, (double)(per * t) / dt);
        base += gaps;
    }
}

/* ---- latency ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *lat, long n)
{
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    double sum = 0;
    for (long i = 0; i < n; i++) sum += lat[i];
    long i50 = (long)(0.50 * (double)(n - 1)), i99 = (long)(0.99 * (double)(n - 1));
    printf("%-34s %9ld calls  p50 %7.3f ms  p99 %7.3f ms  mean %7.3f ms  max %7.3f ms\n", what, n,
           lat[i50] * 1e3, lat[i99] * 1e3, sum / (double)n * 1e3, lat[n - 1] * 1e3);
}

static void bench_queries(struct store *st, const struct opts *o)
{
    double *lat = calloc((size_t)o->queries, sizeof *lat);
    char err[SG_ERRLEN];
    int rc;
    if (!lat) die("queries", SG_ENOMEM, "out of memory");

    for (long q = 0; q < o->queries; q++) {
        char h[SG_HEX64_LEN];
        member_hash((long)(rng() % (uint64_t)o->members), h);
        struct store_page pg = {50, 0};
        struct store_prediction_list l;
        double t0 = now_s();
        rc = store_prediction_get_by_member(st, h, NULL, 0, &pg, &l, err, sizeof err);
        lat[q] = now_s() - t0;
        if (rc) die("get_by_member", rc, err);
        store_prediction_list_free(&l);
    }
    report("predictions get_by_member", lat, o->queries);

    for (long q = 0; q < o->queries; q++) {
        char h[SG_HEX64_LEN];
        member_hash((long)(rng() % (uint64_t)o->members), h);
        struct store_prediction p;
        double t0 = now_s();
        rc = store_prediction_get_latest(st, h, codes[rng() % NCODES], &p, err, sizeof err);
        lat[q] = now_s() - t0;
        if (rc && rc != SG_ENOTFOUND) die("get_latest", rc, err);
        store_prediction_fini(&p);
    }
    report("predictions get_latest", lat, o->queries);

    /* shape 0: status; 1: status + measure; 2: status + measure + contract sorted by probability */
    for (int shape = 0; o->gaps && shape < 3; shape++) {
        for (long q = 0; q < o->queries; q++) {
            struct store_gap_filter f = {0};
            f.has_status = 1;
            f.status = STORE_GAP_IDENTIFIED;
            f.min_priority = NAN;
            /* Gap k has measure (k / members) % 10: only the first few codes have gaps. */
            long with_gaps = (o->gaps + o->members - 1) / o->members;
            if (with_gaps > NCODES) with_gaps = NCODES;
            if (with_gaps < 1) with_gaps = 1;
            f.measure_code = shape ? codes[rng() % (uint64_t)with_gaps] : NULL;
            char contract[STORE_CODE_LEN];
            snprintf(contract, sizeof contract, "H%04d", (int)(rng() % 20)); /* members' contracts */
            f.contract_id = shape == 2 ? contract : NULL;
            f.sort = shape == 2 ? STORE_SORT_PROBABILITY : STORE_SORT_PRIORITY;
            f.page.limit = 50;
            f.page.offset = shape == 2 ? (long)(rng() % 100) : (long)(rng() % 1000);
            struct store_gap_list l;
            double t0 = now_s();
            rc = store_gap_get_with_filters(st, &f, &l, err, sizeof err);
            lat[q] = now_s() - t0;
            if (rc) die("gap get_with_filters", rc, err);
            if (q == 0 && l.total <= 0) die("gap get_with_filters", SG_EINTERNAL, "no total");
            store_gap_list_free(&l);
        }
        report(shape == 2 ? "gaps status+measure+contract, prob."
               : shape ? "gaps get_with_filters status+measure" : "gaps get_with_filters status",
               lat, o->queries);
    }

    for (long q = 0; q < o->queries; q++) {
        struct tm tm = {.tm_year = YEAR - 1900, .tm_mon = 0, .tm_mday = 1 + (int)(rng() % 365)};
        char date[STORE_DATE_LEN];
        timegm(&tm);
        strftime(date, sizeof date, "%Y-%m-%d", &tm);
        struct store_page pg = {50, 0};
        struct store_intervention_list l;
        double t0 = now_s();
        rc = store_intervention_get_pending(st, date, &pg, &l, err, sizeof err);
        lat[q] = now_s() - t0;
        if (rc) die("get_pending", rc, err);
        store_intervention_list_free(&l);
    }
    report("interventions get_pending", lat, o->queries);
    free(lat);
}

struct batch_job {
    struct store *st;
    struct store_prediction *rows;
    size_t n;
    int rc;
    char err[SG_ERRLEN];
};

static void *batch_worker(void *arg)
{
    struct batch_job *j = arg;
    j->rc = store_prediction_batch_create(j->st, &actor, j->rows, j->n, j->err, sizeof j->err);
    return NULL;
}

/* --batch-threads: the rows (member-major) cut into t slices on member boundaries, one
 * store_prediction_batch_create per slice, all at once. */
static void run_batches(struct store *st, struct store_prediction *rows, long n, int t)
{
    pthread_t th[16];
    struct batch_job jobs[16];
    long members = n / NCODES, at = 0;
    for (int i = 0; i < t; i++) {
        long end = members * (i + 1) / t * NCODES;
        jobs[i] = (struct batch_job){st, rows + at, (size_t)(end - at), 0, ""};
        at = end;
        if (pthread_create(&th[i], NULL, batch_worker, &jobs[i])) die("batches", SG_EINTERNAL, "pthread_create");
    }
    for (int i = 0; i < t; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < t; i++)
        if (jobs[i].rc) die("prediction batch_create", jobs[i].rc, jobs[i].err);
}

static long num_arg(const char *name, const char *v, long min, long max)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < min || x > max) {
        fprintf(stderr, "store_bench: %s must be an integer in %ld..%ld\n", name, min, max);
        exit(2);
    }
    return x;
}

int main(int argc, char **argv)
{
    struct opts o = {NULL, 100000, 1000000, 200000, 20000, 2000, 2, 0, 0, NULL, 3000, 1};
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines appear as they happen */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--queries-only")) {
            o.queries_only = 1;
            continue;
        }
        if (!strcmp(a, "--members-exist")) {
            o.members_exist = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "store_bench: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--db")) o.db = v;
        else if (!strcmp(a, "--members")) o.members = num_arg(a, v, 1, 10000000);
        else if (!strcmp(a, "--predictions")) o.predictions = num_arg(a, v, 0, 1000000);
        else if (!strcmp(a, "--gaps")) o.gaps = num_arg(a, v, 0, 10000000);
        else if (!strcmp(a, "--interventions")) o.interventions = num_arg(a, v, 0, 10000000);
        else if (!strcmp(a, "--queries")) o.queries = num_arg(a, v, 1, 10000000);
        else if (!strcmp(a, "--threads")) o.threads = (int)num_arg(a, v, 1, 16);
        else if (!strcmp(a, "--audited")) o.audited = v;
        else if (!strcmp(a, "--ops")) o.ops = num_arg(a, v, 3, 10000000);
        else if (!strcmp(a, "--batch-threads")) o.batch_threads = (int)num_arg(a, v, 1, 16);
        else {
            fprintf(stderr, "usage: store_bench --db URL [--members N] [--predictions N] [--gaps N]"
                            " [--interventions N] [--queries N] [--threads N] [--queries-only]"
                            " [--members-exist] [--batch-threads N]\n"
                            "       store_bench --db URL --audited T1,T2,... [--ops N]\n");
            return 2;
        }
        i++;
    }
    if (!o.db) {
        fprintf(stderr, "store_bench: --db URL is required\n");
        return 2;
    }
    if (o.predictions > o.members * NCODES || o.gaps > o.members * NCODES ||
        o.predictions % NCODES ||
        o.interventions > o.gaps) {
        fprintf(stderr, "store_bench: need predictions (a multiple of 10), gaps <= 10 x members,"
                        " interventions <= gaps\n");
        return 2;
    }
    struct sg_config cfg;
    char err[SG_ERRLEN];
    if (sg_config_init(&cfg)) return 1;
    if (sg_config_load_env(&cfg, err, sizeof err)) die("environment", SG_EINVAL, err);
    enum sg_log_level lvl;
    if (!sg_log_parse_level(cfg.log_level, &lvl)) sg_log_set_level(lvl);
    cfg.pool_min = o.threads;
    struct store *st;
    int rc = store_open(o.db, &cfg, &st, err, sizeof err);
    if (rc) die("open", rc, err);
    if (o.queries_only) {
        printf("store_bench db=%s members=%ld gaps=%ld (queries only, database loaded earlier)\n",
               st->url_scheme, o.members, o.gaps);
        bench_queries(st, &o);
        store_close(st);
        return 0;
    }
    rc = migrate_up(st, 0, NULL, err, sizeof err);
    if (rc) die("migrate", rc, err);

    struct store_measure cat[NCODES];
    memset(cat, 0, sizeof cat);
    for (int i = 0; i < NCODES; i++) {
        cat[i].star_year = YEAR + 1;
        snprintf(cat[i].code, sizeof cat[i].code, "%s", codes[i]);
        snprintf(cat[i].cms_id, sizeof cat[i].cms_id, "B%02d", i + 1);
        snprintf(cat[i].name, sizeof cat[i].name, "bench measure %s", codes[i]);
        cat[i].part = i < 7 ? 'C' : 'D';
        snprintf(cat[i].domain, sizeof cat[i].domain, "bench");
        cat[i].weighting_category = STORE_WCAT_PROCESS;
        cat[i].weight = 1;
        cat[i].direction = STORE_HIGHER_BETTER;
        cat[i].display_precision = 0;
        cat[i].member_level = 1;
    }
    rc = store_measure_upsert_batch(st, &actor, cat, NCODES, err, sizeof err);
    if (rc) die("seed measures", rc, err);

    if (o.audited) {
        printf("store_bench db=%s audited operations, store_group_max=%ld\n", st->url_scheme,
               cfg.store_group_max);
        bench_audited(st, &o);
        store_close(st);
        return 0;
    }
    printf("store_bench db=%s members=%ld predictions=%ld gaps=%ld interventions=%ld\n",
           st->url_scheme, o.members, o.predictions, o.gaps, o.interventions);

    if (!o.members_exist) run_parallel(st, &o, 0, o.members, "members create");

    struct store_prediction *rows = calloc((size_t)o.predictions + 1, sizeof *rows);
    if (!rows) die("predictions", SG_ENOMEM, "out of memory");
    static char shap[] = "{\"age\":0.12,\"prior_gap\":0.31,\"visits\":-0.05}";
    static char top[] = "[\"prior_gap\",\"age\",\"visits\"]";
    /* Member-major order, as a scoring run emits them (all of a member's measures together). */
    for (long k = 0; k < o.predictions; k++) {
        struct store_prediction *p = &rows[k];
        member_hash(k / NCODES, p->member_hash);
        snprintf(p->measure_code, sizeof p->measure_code, "%s", codes[k % NCODES]);
        p->measurement_year = YEAR;
        p->gap_probability = (double)((k * 7919) % 1001) / 1000.0;
        p->risk_tier = p->gap_probability >= 0.7 ? STORE_TIER_HIGH
                     : p->gap_probability >= 0.4 ? STORE_TIER_MEDIUM : STORE_TIER_LOW;
        p->risk_score = p->gap_probability * 100.0;
        p->shap_values = shap;
        p->top_features = top;
        snprintf(p->recommendation, sizeof p->recommendation, "schedule screening");
        snprintf(p->model_version, sizeof p->model_version, "bench-gbdt-1");
    }
    if (o.batch_threads > 1 && o.predictions) {
        /* Separate figure: independent batches at once (as concurrent scoring runs would send
         * them), each its own all-or-nothing transaction over its own members. */
        double t0 = now_s(), c0 = cpu_s();
        run_batches(st, rows, o.predictions, o.batch_threads);
        double dt = now_s() - t0, dc = cpu_s() - c0;
        printf("%-34s %9ld rows %8.2f s %10.0f rows/s (%d concurrent batches of %ld rows, one transaction"
               " each); CPU %.2f s\n", "predictions batch_create", o.predictions, dt,
               (double)o.predictions / dt, o.batch_threads, o.predictions / o.batch_threads, dc);
        free(rows);
        o.predictions = 0;
    }
    double t0 = now_s(), c0 = cpu_s();
    rc = o.predictions ? store_prediction_batch_create(st, &actor, rows, (size_t)o.predictions, err, sizeof err) : 0;
    double dt = now_s() - t0, dc = cpu_s() - c0;
    if (rc) die("prediction batch_create", rc, err);
    /* CPU seconds too: on a shared machine they show the cost without the other processes' share. */
    if (o.predictions) printf("%-34s %9ld rows %8.2f s %10.0f rows/s (one transaction, incl. validation);"
                              " CPU %.2f s, %.0f rows per CPU second\n",
                              "predictions batch_create", o.predictions, dt, (double)o.predictions / dt, dc,
                              (double)o.predictions / dc);
    if (o.predictions) free(rows); /* shap/top are static: nothing per row to free */

    if (o.gaps) run_parallel(st, &o, 1, o.gaps, "gaps create");
    if (o.interventions) run_parallel(st, &o, 2, o.interventions, "interventions create");
    /* As the server does at start and daily: retention and (SQLite) planner statistics. */
    struct store_maintain_report mr;
    t0 = now_s();
    rc = store_maintain(st, 90, 2557, &mr, err, sizeof err);
    if (rc) die("maintain", rc, err);
    printf("%-34s %9s      %8.2f s\n", "maintain (retention, statistics)", "", now_s() - t0);
    bench_queries(st, &o);
    store_close(st);
    return 0;
}
