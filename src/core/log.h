/* log.h: level-checked, one-line-per-event logging with key=value fields.
 *
 * Lines go to stderr (or a file set with sg_log_set_file) as
 *   2026-11-25T18:00:00.123Z level=info event text key=value ...
 * The level check happens in the macro, so arguments are not evaluated for disabled levels.
 * Never log a member ID, a secret or a SQL parameter value. Thread-safe. */
#ifndef SG_CORE_LOG_H
#define SG_CORE_LOG_H

#include <stdio.h>

#include "core/err.h"

enum sg_log_level { SG_LOG_DEBUG = 0, SG_LOG_INFO, SG_LOG_WARN, SG_LOG_ERROR, SG_LOG_OFF };

extern int sg_log_level_current; /* read by the macros; set with sg_log_set_level */

/* Sets the minimum level that is written. */
void sg_log_set_level(enum sg_log_level level);

/* Parses "debug", "info", "warn", "error" or "off" into *out. Returns SG_OK or SG_EINVAL. */
int sg_log_parse_level(const char *name, enum sg_log_level *out) SG_WUR;

/* Redirects log output to f (borrowed; NULL restores stderr). */
void sg_log_set_file(FILE *f);

/* Writes one log line at `level` (use the macros instead). */
void sg_log_write(enum sg_log_level level, const char *fmt, ...) SG_PRINTF(2, 3);

#define SG_LOG(level, ...)                                                                     \
    do {                                                                                       \
        if ((int)(level) >= sg_log_level_current) sg_log_write((level), __VA_ARGS__);         \
    } while (0)
#define LOG_DEBUG(...) SG_LOG(SG_LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO(...) SG_LOG(SG_LOG_INFO, __VA_ARGS__)
#define LOG_WARN(...) SG_LOG(SG_LOG_WARN, __VA_ARGS__)
#define LOG_ERROR(...) SG_LOG(SG_LOG_ERROR, __VA_ARGS__)

#endif
