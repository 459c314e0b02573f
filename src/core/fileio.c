/* fileio.c: see fileio.h. */
#include "core/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

int sg_read_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return sg_errf(err, errlen, SG_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct sg_buf b;
    sg_buf_init(&b, max);
    char chunk[65536];
    size_t n;
    int rc = SG_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        rc = sg_buf_append(&b, chunk, n);
        if (rc) break;
    }
    if (!rc && ferror(f)) rc = SG_EIO;
    fclose(f);
    if (rc) {
        sg_buf_fini(&b);
        return sg_errf(err, errlen, rc, "%s: %s", path,
                       rc == SG_ETOOBIG ? "file too large" : "read failed");
    }
    if (len) *len = b.len;
    *out = sg_buf_take(&b);
    return *out ? SG_OK : SG_ENOMEM;
}
