/* pl_test_util.h: the helpers the pipeline tests share (include after <cmocka.h>): run a shell
 * command built from a format, and read a whole file. Static inline so each test includes only
 * what it uses without unused-function warnings. */
#ifndef SG_TESTS_PL_TEST_UTIL_H
#define SG_TESTS_PL_TEST_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/fileio.h"

/* Runs the command (at most 2,047 bytes after formatting) with system(); returns its status and
 * prints the command to stderr when it is not 0. */
static inline int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

/* The whole file at path (at most 1 GiB) as a NUL-terminated heap string the caller frees;
 * fails the test when it cannot be read. */
static inline char *slurp(const char *path)
{
    char *s = NULL, e[256];
    size_t len;
    assert_int_equal(sg_read_file(path, (size_t)1 << 30, &s, &len, e, sizeof e), 0);
    return s;
}

#endif
