/* cli_serve.c: `stargap serve`: the HTTP API server.
 *
 * Opens the store, loads the member-ID HMAC key, runs storage maintenance (partitions,
 * retention), starts the server and then waits for SIGINT/SIGTERM in the main thread, running
 * maintenance again every 24 hours. The signals are blocked before any thread starts so that
 * only sigtimedwait() here receives them. On a signal the server stops gracefully: it stops
 * accepting connections, finishes the requests in flight and flushes the api_logs queue (audit
 * rows need no flush: each is written in the transaction of its change). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "cli/cli.h"
#include "core/log.h"
#include "core/memberid.h"
#include "db/store.h"
#include "http/server.h"
#include "measures/measures.h"

#define MAINTAIN_EVERY_S (24L * 3600L)

const char cli_serve_usage[] =
    "usage: stargap serve [--listen HOST:PORT]\n"
    "Starts the HTTP API server on HOST:PORT (default: the 'listen' setting, 127.0.0.1:8080;\n"
    "port 0 picks a free port) over the database given by --db. Prints 'listening on\n"
    "http://HOST:PORT' once ready. Stops gracefully on SIGINT or SIGTERM. Settings: body_limit,\n"
    "rate_limit_per_min, http_threads, http_max_connections, http_conn_timeout_s,\n"
    "http_conn_memory (see 'stargap config'). Create keys with 'stargap keys create'.\n"
    "The FHIR value sets (valuesets_dir, default data_dir/valuesets) are loaded once at start for\n"
    "the FHIR measure operations ($evaluate-measure, $care-gaps); with valuesets_dir = none those\n"
    "answer 503.\n";

static void run_maintenance(struct store *st, const struct sg_config *cfg)
{
    struct store_maintain_report rep;
    char err[SG_ERRLEN] = "";
    int rc = store_maintain(st, cfg->api_log_retention_days, cfg->audit_retention_days, &rep, err, sizeof err);
    if (rc)
        LOG_WARN("maintenance failed code=%s detail=\"%s\"", sg_errcode_name(rc), err);
    else
        LOG_INFO("maintenance done api_logs_deleted=%lld audit_deleted=%lld partitions_created=%d",
                 rep.api_logs_deleted, rep.audit_deleted, rep.partitions_created);
}

int cli_serve_run(struct cli_ctx *ctx, int argc, char **argv)
{
    struct sg_config *cfg = ctx->cfg;
    char err[SG_ERRLEN];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
            if (sg_config_set(cfg, "listen", argv[++i], "--listen", err, sizeof err) != SG_OK)
                return cli_usage_error("serve", "%s", err);
        } else if (!strncmp(argv[i], "--listen=", 9)) {
            if (sg_config_set(cfg, "listen", argv[i] + 9, "--listen", err, sizeof err) != SG_OK)
                return cli_usage_error("serve", "%s", err);
        } else {
            return cli_usage_error("serve", "unexpected argument '%s'", argv[i]);
        }
    }

    /* Block the stop signals in every thread created from here on; SIGPIPE is ignored because a
     * client closing its socket must never kill the server. */
    sigset_t stopset;
    sigemptyset(&stopset);
    sigaddset(&stopset, SIGINT);
    sigaddset(&stopset, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stopset, NULL);
    signal(SIGPIPE, SIG_IGN);

    int ret = CLI_FAIL;
    struct store *st = NULL;
    struct http_server *srv = NULL;
    struct api_app app;
    memset(&app, 0, sizeof app);
    struct sg_memberid member;
    int have_member = 0;
    struct meas_engine *meas = NULL;

    if (store_open(cfg->db, cfg, &st, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap serve: %s\n", err);
        goto out;
    }
    if (sg_memberid_init(&member, cfg, NULL, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap serve: %s\n", err);
        goto out;
    }
    have_member = 1;
    api_init(&app, st, cfg, &member);
    const char *vsdir = cli_valuesets_dir(cfg);
    if (vsdir) {
        if (meas_engine_new(vsdir, &meas, err, sizeof err) != SG_OK) {
            fprintf(stderr, "stargap serve: valuesets_dir: %s\n", err);
            goto out;
        }
        app.meas = meas;
        LOG_INFO("measure engine loaded valuesets_dir=%s", vsdir);
    } else {
        LOG_INFO("measure engine not loaded (valuesets_dir = none): FHIR operations answer 503");
    }
    struct store_schema_status ss;
    if (store_schema_status(st, &ss, err, sizeof err) == SG_OK && (ss.pending || ss.changed))
        LOG_WARN("schema not current version=%d latest=%d pending=%d changed=%d; run 'stargap migrate up'",
                 ss.current_version, ss.latest_version, ss.pending, ss.changed);
    run_maintenance(st, cfg);

    /* On PostgreSQL a connection thread that reads holds a pooled connection while it waits for
     * the answer, so threads beyond the pool's connections only queue for one (the audited routes
     * wait for their group commit without a thread). With 64 threads on a pool of 20, GET
     * /gaps/{id} had bursts of requests taking 0.1-2.5 s (p99 98-2,460 ms between runs); with as
     * many threads as connections, p99 9-50 ms at the same throughput (docs/BENCHMARKS.md,
     * session 7). An explicit http_threads is kept; SQLite keeps the server's default. */
    long threads = cfg->http_threads;
    if (threads == 0 && !strcmp(st->url_scheme, "postgres"))
        threads = cfg->pool_max < 2 ? 2 : cfg->pool_max > 128 ? 128 : cfg->pool_max;
    size_t nroutes;
    const struct http_route *routes = api_routes(&nroutes);
    struct http_server_options o = {
        .listen = cfg->listen,
        .routes = routes,
        .nroutes = nroutes,
        .app = &app,
        .threads = threads,
        .queue_workers = cfg->http_queue_workers,
        .max_connections = cfg->http_max_connections,
        .conn_timeout_s = cfg->http_conn_timeout_s,
        .conn_memory = cfg->http_conn_memory,
        .body_limit = cfg->body_limit,
        .rate_limit_per_min = cfg->rate_limit_per_min,
        .key_lookup = api_key_lookup,
        .key_ctx = &app,
        .log_sink = api_log_sink,
        .log_ctx = &app,
        .metrics_extra = api_metrics_extra,
        .metrics_ctx = &app,
    };
    srv = http_server_start(&o, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "stargap serve: %s\n", err);
        goto out;
    }
    char host[256];
    http_copy(host, sizeof host, cfg->listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = '\0';
    printf("listening on http://%s:%u\n", host, (unsigned)http_server_port(srv));
    fflush(stdout);
    LOG_INFO("server started listen=%s:%u db=%s threads=%ld", host, (unsigned)http_server_port(srv),
             st->url_scheme, http_server_threads(srv));

    time_t next_maint = time(NULL) + MAINTAIN_EVERY_S;
    for (;;) {
        time_t now = time(NULL);
        struct timespec wait = {.tv_sec = next_maint > now ? next_maint - now : 0, .tv_nsec = 0};
        int sig = sigtimedwait(&stopset, NULL, &wait);
        if (sig == SIGINT || sig == SIGTERM) {
            LOG_INFO("server stopping signal=%s", sig == SIGINT ? "SIGINT" : "SIGTERM");
            break;
        }
        if (sig < 0 && errno == EAGAIN) {
            run_maintenance(st, cfg);
            next_maint = time(NULL) + MAINTAIN_EVERY_S;
        }
    }
    http_server_stop(srv, 10000);
    srv = NULL;
    LOG_INFO("server stopped");
    ret = CLI_OK;
out:
    http_server_stop(srv, 0);
    if (have_member) sg_memberid_fini(&member);
    meas_engine_free(meas);
    store_close(st);
    return ret;
}
