/* cli_migrate.c: `stargap migrate up|down|status` (embedded schema migrations) and
 * `stargap maintain` (retention of api_logs and audit_log; PostgreSQL partitions).
 * `migrate up` also makes sure the member-ID key exists, generating it on the first run. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/memberid.h"
#include "db/migrate.h"
#include "db/store.h"
#include "pipeline/pipeline.h"

const char cli_migrate_usage[] =
    "usage: stargap migrate up [--to N]    apply pending migrations (up to version N)\n"
    "       stargap migrate down [N]       revert to version N (default: revert the newest one;\n"
    "                                      0 reverts everything)\n"
    "       stargap migrate status         list migrations and whether each is applied\n"
    "The database comes from --db / STARGAP_DB (default sqlite:stargap.db). Each migration runs in\n"
    "its own transaction; `up` refuses to run when an applied migration's text has changed.\n"
    "`up` then seeds the measures catalog from the year-parameter files (data/stars) and\n"
    "creates the member-ID key file (hash_key_file, mode 0600) when no key exists.\n";

const char cli_maintain_usage[] =
    "usage: stargap maintain\n"
    "Deletes api_logs older than api_log_retention_days and audit_log rows older than\n"
    "audit_retention_days (never less than 7 years); on PostgreSQL also creates the next months'\n"
    "partitions. The run itself is recorded in the audit log.\n";

static int open_store(struct cli_ctx *ctx, const char *cmd, struct store **st)
{
    char err[SG_ERRLEN];
    if (store_open(ctx->cfg->db, ctx->cfg, st, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap %s: %s\n", cmd, err);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int print_status(struct store *st)
{
    struct migrate_row rows[256];
    struct store_schema_status s;
    size_t n;
    char err[SG_ERRLEN];
    if (migrate_status(st, rows, 256, &n, &s, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap migrate status: %s\n", err);
        return CLI_FAIL;
    }
    printf("backend %s: schema version %d of %d, %d pending%s\n", st->ops->name, s.current_version,
           s.latest_version, s.pending, s.changed ? ", CHANGED migrations present" : "");
    for (size_t i = 0; i < n; i++)
        printf("  %04d %-28s %s%s\n", rows[i].version, rows[i].name,
               rows[i].applied ? "applied" : "pending",
               rows[i].changed ? (rows[i].embedded ? " (text changed since applied)" : " (unknown to this binary)") : "");
    return s.changed ? CLI_FAIL : CLI_OK;
}

static int ensure_key(struct cli_ctx *ctx)
{
    struct sg_memberid m;
    char err[SG_ERRLEN];
    int created = 0;
    if (sg_memberid_init(&m, ctx->cfg, &created, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap migrate: %s\n", err);
        return CLI_FAIL;
    }
    sg_memberid_fini(&m);
    if (created)
        printf("created member-ID key file %s (mode 0600); keep it: member hashes depend on it\n",
               ctx->cfg->hash_key_file);
    return CLI_OK;
}

int cli_migrate_run(struct cli_ctx *ctx, int argc, char **argv)
{
    struct store *st = NULL;
    char err[SG_ERRLEN];
    int rc = CLI_OK, n = 0;
    if (argc < 2) return cli_usage_error("migrate", "missing subcommand (up, down or status)");
    const char *sub = argv[1];
    long to = 0;
    if (!strcmp(sub, "up")) {
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--to") && i + 1 < argc) {
                if (cli_parse_long(argv[++i], &to) != 0 || to < 1 || to > 9999)
                    return cli_usage_error("migrate", "--to: expected a version 1..9999");
            } else {
                return cli_usage_error("migrate", "unexpected argument '%s'", argv[i]);
            }
        }
        if ((rc = open_store(ctx, "migrate", &st))) return rc;
        if (migrate_up(st, (int)to, &n, err, sizeof err) != SG_OK) {
            fprintf(stderr, "stargap migrate up: %s\n", err);
            rc = CLI_FAIL;
        } else {
            printf("applied %d migration%s\n", n, n == 1 ? "" : "s");
            int nm = 0;
            const struct store_actor seed_actor = {.user_id = "system:migrate", .ip_address = NULL};
            if (pl_catalog_seed(st, &seed_actor, cli_data_dir(ctx->cfg), &nm, err, sizeof err) != SG_OK) {
                fprintf(stderr, "stargap migrate up: seeding the measures catalog: %s\n", err);
                rc = CLI_FAIL;
            } else {
                printf("measures catalog: %d rows from the year-parameter files\n", nm);
                rc = ensure_key(ctx);
            }
        }
    } else if (!strcmp(sub, "down")) {
        long target = -1;
        if (argc > 3) return cli_usage_error("migrate", "unexpected argument '%s'", argv[3]);
        if (argc == 3 && (cli_parse_long(argv[2], &target) != 0 || target > 9999))
            return cli_usage_error("migrate", "down: expected a version 0..9999");
        if ((rc = open_store(ctx, "migrate", &st))) return rc;
        if (target < 0) { /* one step: to the version below the current one */
            struct migrate_row rows[256];
            struct store_schema_status s;
            size_t nr;
            if (migrate_status(st, rows, 256, &nr, &s, err, sizeof err) != SG_OK) {
                fprintf(stderr, "stargap migrate down: %s\n", err);
                store_close(st);
                return CLI_FAIL;
            }
            target = 0;
            for (size_t i = 0; i < nr; i++)
                if (rows[i].applied && rows[i].version < s.current_version && rows[i].version > target)
                    target = rows[i].version;
        }
        if (migrate_down(st, (int)target, &n, err, sizeof err) != SG_OK) {
            fprintf(stderr, "stargap migrate down: %s\n", err);
            rc = CLI_FAIL;
        } else {
            printf("reverted %d migration%s (now at version %ld)\n", n, n == 1 ? "" : "s", target);
        }
    } else if (!strcmp(sub, "status")) {
        if (argc > 2) return cli_usage_error("migrate", "unexpected argument '%s'", argv[2]);
        if ((rc = open_store(ctx, "migrate", &st))) return rc;
        rc = print_status(st);
    } else {
        return cli_usage_error("migrate", "unknown subcommand '%s'", sub);
    }
    store_close(st);
    return rc;
}

int cli_maintain_run(struct cli_ctx *ctx, int argc, char **argv)
{
    struct store *st = NULL;
    struct store_maintain_report r;
    char err[SG_ERRLEN];
    if (argc > 1) return cli_usage_error("maintain", "unexpected argument '%s'", argv[1]);
    int rc = open_store(ctx, "maintain", &st);
    if (rc) return rc;
    if (store_maintain(st, ctx->cfg->api_log_retention_days, ctx->cfg->audit_retention_days, &r, err,
                       sizeof err) != SG_OK) {
        fprintf(stderr, "stargap maintain: %s\n", err);
        rc = CLI_FAIL;
    } else {
        printf("api_logs deleted: %lld\naudit_log deleted: %lld\npartitions created: %d\n",
               r.api_logs_deleted, r.audit_deleted, r.partitions_created);
    }
    store_close(st);
    return rc;
}
