/* cli.h: the command-line layer. One file per command group under src/cli/; main.c holds the
 * dispatch table. Each command receives the effective configuration (defaults, file, environment,
 * global flags already applied) and its own arguments, argv[0] being the command name.
 * Commands return an exit code: 0 success, 1 failure, 2 usage error. */
#ifndef SG_CLI_H
#define SG_CLI_H

#include "core/config.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

struct cli_ctx {
    struct sg_config *cfg; /* effective configuration; commands may override entries from flags */
    const char *db_flag;   /* value of a --db flag on the command line, NULL when not given (a
                              command may treat an explicit --db as a request to write) */
};

struct cli_command {
    const char *name;    /* first word after `stargap` */
    const char *summary; /* one line for `stargap help` */
    const char *usage;   /* full help text for `stargap COMMAND --help` */
    int (*run)(struct cli_ctx *ctx, int argc, char **argv);
};

/* True when argv[1..] asks for help (--help or -h as the first argument). */
int cli_wants_help(int argc, char **argv);

/* Prints "stargap CMD: message" to stderr and returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) SG_PRINTF(2, 3);

/* Parses a non-negative decimal integer argument; returns 0 and sets *out, or -1 on bad text. */
int cli_parse_long(const char *s, long *out);

struct stars_params;

/* Returns the directory of the shipped data files: config data_dir, else the source tree's data/
 * (borrowed). */
const char *cli_data_dir(const struct sg_config *cfg);

/* Returns the directory of the FHIR ValueSet files for the measure engine: config valuesets_dir,
 * else the shipped value sets (data_dir/valuesets), or NULL when valuesets_dir is "none" (the
 * engine is then not loaded). The result is borrowed from cfg or a static buffer (not
 * thread-safe; commands call it once from the main thread). */
const char *cli_valuesets_dir(const struct sg_config *cfg);

/* Reads and parses the year-parameter file of star `year` (data_dir/stars/YEAR.txt, or
 * path_override when non-NULL) into *p. Fails with SG_EIO, SG_EPARSE, SG_ERANGE or SG_EINVAL
 * (file is for another year), naming the file in err. */
int cli_load_star_params(const struct sg_config *cfg, const char *path_override, int year,
                         struct stars_params *p, char *err, size_t errlen) SG_WUR;

/* Command entry points (one per command group file). */
int cli_config_run(struct cli_ctx *ctx, int argc, char **argv);
int cli_version_run(struct cli_ctx *ctx, int argc, char **argv);
int cli_migrate_run(struct cli_ctx *ctx, int argc, char **argv);  /* cli_migrate.c */
int cli_maintain_run(struct cli_ctx *ctx, int argc, char **argv); /* cli_migrate.c */
int cli_generate_run(struct cli_ctx *ctx, int argc, char **argv); /* cli_generate.c */

int cli_stars_run(struct cli_ctx *ctx, int argc, char **argv); /* cli_stars.c */
int cli_serve_run(struct cli_ctx *ctx, int argc, char **argv); /* cli_serve.c */
int cli_keys_run(struct cli_ctx *ctx, int argc, char **argv);  /* cli_keys.c */

extern const char cli_config_usage[];
extern const char cli_generate_usage[];
extern const char cli_stars_usage[];
extern const char cli_migrate_usage[];
extern const char cli_maintain_usage[];
extern const char cli_serve_usage[];
extern const char cli_keys_usage[];

int cli_measure_run(struct cli_ctx *ctx, int argc, char **argv); /* cli_measure.c */
extern const char cli_measure_usage[];

/* cli_pipeline.c (issue 6) */
int cli_import_run(struct cli_ctx *ctx, int argc, char **argv);
int cli_train_run(struct cli_ctx *ctx, int argc, char **argv);
int cli_models_run(struct cli_ctx *ctx, int argc, char **argv);
int cli_predict_run(struct cli_ctx *ctx, int argc, char **argv);
extern const char cli_import_usage[];
extern const char cli_train_usage[];
extern const char cli_models_usage[];
extern const char cli_predict_usage[];


/* cli_decide.c (issue 7) */
int cli_gaps_run(struct cli_ctx *ctx, int argc, char **argv);
int cli_optimize_run(struct cli_ctx *ctx, int argc, char **argv);
int cli_simulate_run(struct cli_ctx *ctx, int argc, char **argv);
int cli_snapshot_run(struct cli_ctx *ctx, int argc, char **argv);
extern const char cli_gaps_usage[];
extern const char cli_optimize_usage[];
extern const char cli_simulate_usage[];
extern const char cli_snapshot_usage[];

/* cli_run.c (issue 7) */
int cli_run_run(struct cli_ctx *ctx, int argc, char **argv);
int cli_demo_run(struct cli_ctx *ctx, int argc, char **argv);
extern const char cli_run_usage[];
extern const char cli_demo_usage[];

#endif
