/* cli_util.c: helpers shared by the command implementations, and the small `config` and
 * `version` commands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_wants_help(int argc, char **argv)
{
    return argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "stargap %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'stargap %s --help')\n", cmd);
    return CLI_USAGE;
}

int cli_parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < 0) return -1;
    *out = v;
    return 0;
}

const char cli_config_usage[] =
    "usage: stargap config\n"
    "Prints the effective configuration (defaults, then the config file, then STARGAP_*\n"
    "environment variables, then flags), one 'name = value' per line, secrets masked.\n";

int cli_config_run(struct cli_ctx *ctx, int argc, char **argv)
{
    if (argc > 1) return cli_usage_error(argv[0], "unexpected argument '%s'", argv[1]);
    sg_config_print(ctx->cfg, stdout);
    return CLI_OK;
}

int cli_version_run(struct cli_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    if (argc > 1) return cli_usage_error(argv[0], "unexpected argument '%s'", argv[1]);
    printf("stargap %s\n", STARGAP_VERSION);
    return CLI_OK;
}
