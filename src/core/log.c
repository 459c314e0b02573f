/* log.c: the logger behind log.h. One formatted line per call, written with a single fwrite
 * under a mutex so concurrent lines never interleave. */
#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int sg_log_level_current = SG_LOG_INFO;
static FILE *log_file;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

void sg_log_set_level(enum sg_log_level level) { sg_log_level_current = (int)level; }

int sg_log_parse_level(const char *name, enum sg_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++) {
        if (name && strcasecmp(name, names[i]) == 0) {
            *out = (enum sg_log_level)i;
            return SG_OK;
        }
    }
    *out = SG_LOG_INFO;
    return SG_EINVAL;
}

void sg_log_set_file(FILE *f) { log_file = f; }

void sg_log_write(enum sg_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000L, names[level < 0 || level > 4 ? 1 : level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2;
    line[len++] = '\n';
    pthread_mutex_lock(&log_mu);
    FILE *f = log_file ? log_file : stderr;
    fwrite(line, 1, len, f);
    fflush(f);
    pthread_mutex_unlock(&log_mu);
}
