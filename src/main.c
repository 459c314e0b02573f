/* main.c: the stargap entry point. Pulls the global options (--db, --config, --log-level) out of
 * argv wherever they stand, builds the effective configuration (defaults -> config file ->
 * STARGAP_* environment -> flags), and dispatches to a command from the table below. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/config.h"
#include "core/log.h"

static const struct cli_command commands[] = {
    {"config", "print the effective configuration (secrets masked)", cli_config_usage, cli_config_run},
    {"version", "print the version", "usage: stargap version\n", cli_version_run},
    {"migrate", "apply, revert or list schema migrations", cli_migrate_usage, cli_migrate_run},
    {"maintain", "retention of logs and audit rows; next partitions", cli_maintain_usage, cli_maintain_run},
    {"generate", "write a synthetic MA portfolio (CSV) for tests and benchmarks", cli_generate_usage, cli_generate_run},
    {"measure", "evaluate the eCQMs (BCS, COL, CBP, GSD, EED) over FHIR data", cli_measure_usage, cli_measure_run},
    {"stars", "CMS Star Ratings: rate, measure-stars, cutpoints, compare", cli_stars_usage, cli_stars_run},
    {"serve", "run the HTTP API server", cli_serve_usage, cli_serve_run},
    {"keys", "create, list and revoke API keys", cli_keys_usage, cli_keys_run},
    {"import", "import members, measure results and features (CSV; or FHIR via the measure engine)", cli_import_usage, cli_import_run},
    {"train", "train the gap models (labels year Y, features Y-1) and store them", cli_train_usage, cli_train_run},
    {"models", "list the stored gap models", cli_models_usage, cli_models_run},
    {"predict", "score every open gap of a year and store the predictions", cli_predict_usage, cli_predict_run},
    {"gaps", "value and refresh every open gap of a year (gap_analysis)", cli_gaps_usage, cli_gaps_run},
    {"optimize", "choose interventions under a budget to raise the expected rating", cli_optimize_usage, cli_optimize_run},
    {"simulate", "project stars, revenue and ROI of a strategy or closure rates", cli_simulate_usage, cli_simulate_run},
    {"snapshot", "write portfolio snapshots per contract and overall", cli_snapshot_usage, cli_snapshot_run},
    {"run", "the whole pipeline: import, train, predict, gaps, stars, snapshot", cli_run_usage, cli_run_run},
    {"demo", "generate a portfolio, run the pipeline on SQLite and serve the API", cli_demo_usage, cli_demo_run},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void print_help(FILE *f)
{
    fprintf(f, "usage: stargap [--db URL] [--config FILE] [--log-level LEVEL] COMMAND [ARGS]\n\n"
               "Medicare Advantage Star Ratings and HEDIS care-gap analytics.\n\nCommands:\n");
    fprintf(f, "  %-12s %s\n", "help", "show this help, or 'help COMMAND' for a command's help");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nGlobal options (before or after the command):\n"
               "  --db URL          sqlite:PATH, sqlite::memory: or postgres://... (STARGAP_DB)\n"
               "  --config FILE     read settings from FILE (STARGAP_CONFIG)\n"
               "  --log-level LVL   debug, info, warn, error or off (STARGAP_LOG_LEVEL)\n"
               "Exit codes: 0 success, 1 failure, 2 usage error.\n");
}

static const struct cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, name)) return &commands[i];
    return NULL;
}

struct global_opts {
    const char *db, *config, *log_level;
};

/* Removes the global options from argv (compacting it) and records their values.
 * Returns the new argc, or -1 with a message when an option lacks its value. */
static int take_globals(int argc, char **argv, struct global_opts *g)
{
    static const char *const names[] = {"--db", "--config", "--log-level"};
    const char **targets[] = {&g->db, &g->config, &g->log_level};
    int out = 1;
    for (int i = 1; i < argc; i++) {
        int matched = 0;
        if (!strcmp(argv[i], "--")) { /* everything after -- belongs to the command */
            while (i < argc) argv[out++] = argv[i++];
            break;
        }
        for (int k = 0; k < 3 && !matched; k++) {
            size_t n = strlen(names[k]);
            if (!strcmp(argv[i], names[k])) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "stargap: option %s needs a value\n", names[k]);
                    return -1;
                }
                *targets[k] = argv[++i];
                matched = 1;
            } else if (!strncmp(argv[i], names[k], n) && argv[i][n] == '=') {
                *targets[k] = argv[i] + n + 1;
                matched = 1;
            }
        }
        if (!matched) argv[out++] = argv[i];
    }
    argv[out] = NULL;
    return out;
}

int main(int argc, char **argv)
{
    struct global_opts g = {0};
    argc = take_globals(argc, argv, &g);
    if (argc < 0) return CLI_USAGE;
    if (argc < 2) {
        print_help(stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
        if (argc > 2) {
            const struct cli_command *c = find_command(argv[2]);
            if (!c) {
                fprintf(stderr, "stargap: unknown command '%s'\n", argv[2]);
                return CLI_USAGE;
            }
            fputs(c->usage, stdout);
            return CLI_OK;
        }
        print_help(stdout);
        return CLI_OK;
    }
    const struct cli_command *cmd = find_command(name);
    if (!cmd) {
        fprintf(stderr, "stargap: unknown command '%s' (see 'stargap help')\n", name);
        return CLI_USAGE;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        fputs(cmd->usage, stdout);
        return CLI_OK;
    }

    struct sg_config cfg;
    char err[SG_ERRLEN];
    if (sg_config_init(&cfg) != SG_OK) return CLI_FAIL;
    const char *cfgfile = g.config ? g.config : getenv("STARGAP_CONFIG");
    if (cfgfile && sg_config_load_file(&cfg, cfgfile, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap: %s\n", err);
        return CLI_FAIL;
    }
    if (sg_config_load_env(&cfg, err, sizeof err) != SG_OK ||
        (g.db && sg_config_set(&cfg, "db", g.db, "--db", err, sizeof err) != SG_OK) ||
        (g.log_level &&
         sg_config_set(&cfg, "log_level", g.log_level, "--log-level", err, sizeof err) != SG_OK)) {
        fprintf(stderr, "stargap: %s\n", err);
        return CLI_USAGE;
    }
    enum sg_log_level lvl;
    if (sg_log_parse_level(cfg.log_level, &lvl) != SG_OK) {
        fprintf(stderr, "stargap: log_level: unknown level '%s'\n", cfg.log_level);
        return CLI_USAGE;
    }
    sg_log_set_level(lvl);

    struct cli_ctx ctx = {.cfg = &cfg, .db_flag = g.db};
    return cmd->run(&ctx, argc - 1, argv + 1);
}
