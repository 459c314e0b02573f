/* fileio.h: whole-file reading with a size cap, for data files, configs and test fixtures. */
#ifndef SG_CORE_FILEIO_H
#define SG_CORE_FILEIO_H

#include <stddef.h>

#include "core/err.h"

/* Reads the whole file at path into a NUL-terminated heap buffer (*out, caller frees) of *len
 * bytes. Fails with SG_EIO (cannot open/read, message names the path) or SG_ETOOBIG (larger than
 * max bytes). *out is NULL on failure. */
int sg_read_file(const char *path, size_t max, char **out, size_t *len, char *err,
                 size_t errlen) SG_WUR;

#endif
