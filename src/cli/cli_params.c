/* cli_params.c: where commands find the shipped data files (config data_dir, else the source
 * tree's data/), and the year-parameter loader commands share (it lives in the pipeline layer,
 * src/pipeline/catalog.c, so the catalog seeding reads the same files the same way). */
#include "cli/cli.h"
#include "pipeline/pipeline.h"

const char *cli_data_dir(const struct sg_config *cfg)
{
    return cfg->data_dir[0] ? cfg->data_dir : STARGAP_SOURCE_DIR "/data";
}

int cli_load_star_params(const struct sg_config *cfg, const char *path_override, int year,
                         struct stars_params *p, char *err, size_t errlen)
{
    return pl_star_params_load(cli_data_dir(cfg), path_override, year, p, err, errlen);
}
