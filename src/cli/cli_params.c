/* cli_params.c: where commands find the shipped data files (config data_dir, else the source
 * tree's data/) and the FHIR value sets (config valuesets_dir, else data/valuesets), and the year-parameter loader commands share (it lives in the pipeline layer,
 * src/pipeline/catalog.c, so the catalog seeding reads the same files the same way). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/pipeline.h"

const char *cli_data_dir(const struct sg_config *cfg)
{
    return cfg->data_dir[0] ? cfg->data_dir : STARGAP_SOURCE_DIR "/data";
}

const char *cli_valuesets_dir(const struct sg_config *cfg)
{
    static char dflt[SG_CFG_STRLEN + 16];
    if (!strcmp(cfg->valuesets_dir, "none")) return NULL;
    if (cfg->valuesets_dir[0]) return cfg->valuesets_dir;
    snprintf(dflt, sizeof dflt, "%s/valuesets", cli_data_dir(cfg));
    return dflt;
}

int cli_load_star_params(const struct sg_config *cfg, const char *path_override, int year,
                         struct stars_params *p, char *err, size_t errlen)
{
    return pl_star_params_load(cli_data_dir(cfg), path_override, year, p, err, errlen);
}
