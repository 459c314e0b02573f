/* config.c: the configuration table and its loaders (see config.h). */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define STR(field, def, secret, help)                                                          \
    {#field, SG_CFG_STR, offsetof(struct sg_config, field),                                   \
     sizeof(((struct sg_config *)0)->field), def, 0, 0, secret, help}
#define INT(field, def, lo, hi, help)                                                          \
    {#field, SG_CFG_INT, offsetof(struct sg_config, field), sizeof(long), def, lo, hi, 0, help}

static const struct sg_config_entry table[] = {
    STR(db, "sqlite:stargap.db", 0, "database URL: sqlite:PATH, sqlite::memory: or postgres://..."),
    STR(hash_key, "", 1, "HMAC key for member IDs (overrides hash_key_file)"),
    STR(hash_key_file, "stargap.key", 0, "file holding the member-ID HMAC key (created 0600 if missing)"),
    STR(log_level, "info", 0, "log level: debug, info, warn, error, off"),
    STR(listen, "127.0.0.1:8080", 0, "HTTP listen address host:port"),
    INT(pool_min, "5", 0, 1000, "PostgreSQL pool: connections kept open"),
    INT(pool_max, "20", 1, 1000, "PostgreSQL pool: most connections"),
    INT(pool_max_lifetime_s, "3600", 1, 604800, "recycle pooled connections after this many seconds"),
    INT(pool_acquire_timeout_ms, "5000", 1, 600000, "wait for a free pooled connection (ms)"),
    INT(sqlite_busy_timeout_ms, "5000", 0, 600000, "SQLite busy timeout in milliseconds"),
    INT(sqlite_cache_mb, "32", 1, 65536, "SQLite page cache of each connection in MiB"),
    INT(sqlite_bulk_cache_mb, "1024", 1, 65536,
        "SQLite page cache in MiB of the one connection writing a prediction or gap-refresh batch"),
    INT(pg_bulk_maintenance_mb, "512", 1, 65536,
        "PostgreSQL maintenance_work_mem in MiB while a batch rebuilds a table's indexes"),
    INT(store_group_max, "64", 1, 10000, "most audited operations committed in one transaction (group commit)"),
    INT(store_group_overlap, "0", 0, 1,
        "1: a group commit's statements run while the previous group waits for its WAL flush (PostgreSQL)"),
    INT(api_log_retention_days, "90", 1, 36500, "days of api_logs kept by maintenance"),
    INT(audit_retention_days, "2557", 2557, 36500, "days of audit_log kept (at least 7 years)"),
    INT(body_limit, "1048576", 1024, 1073741824, "largest HTTP request body in bytes"),
    INT(rate_limit_per_min, "6000", 1, 100000000, "requests per minute per API key"),
    INT(http_threads, "0", 0, 256,
        "HTTP worker threads (0 = PostgreSQL: pool_max; SQLite: 32 per core, at most 128)"),
    INT(http_queue_workers, "128", 0, 4096,
        "HTTP threads running audited and long requests off the connection threads (0 = none)"),
    INT(http_max_connections, "12000", 1, 1000000, "most concurrent HTTP connections"),
    INT(http_conn_timeout_s, "60", 1, 3600, "idle HTTP connection timeout in seconds"),
    INT(http_conn_memory, "8192", 4096, 1048576, "per-connection memory limit in bytes"),
    STR(valuesets_dir, "", 0, "FHIR ValueSet directory (default: data_dir/valuesets; none: no measure engine)"),
    STR(data_dir, "", 0, "directory of year data files (default: the shipped data/)"),
    INT(risk_high_pct, "70", 1, 100, "gap probability (percent) from which the risk tier is high"),
    INT(risk_medium_pct, "40", 0, 100, "gap probability (percent) from which the risk tier is medium"),
    INT(bulk_partition_bytes, "16777216", 65536, 68719476736L,
        "Bulk FHIR export reader: bytes per temporary partition (memory bound)"),
};

const struct sg_config_entry *sg_config_table(size_t *n)
{
    *n = sizeof table / sizeof table[0];
    return table;
}

static const struct sg_config_entry *find(const char *name)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0) return &table[i];
    return NULL;
}

static int set_entry(struct sg_config *c, const struct sg_config_entry *e, const char *value,
                     const char *source, char *err, size_t errlen)
{
    char *field = (char *)c + e->offset;
    if (e->type == SG_CFG_STR) {
        size_t len = strlen(value);
        if (len >= e->size)
            return sg_errf(err, errlen, SG_ERANGE, "%s: value for '%s' is too long (max %zu bytes)",
                           source, e->name, e->size - 1);
        memcpy(field, value, len + 1);
        return SG_OK;
    }
    if (e->type == SG_CFG_INT) {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end != '\0')
            return sg_errf(err, errlen, SG_EINVAL, "%s: '%s' expects an integer", source, e->name);
        if (v < e->min || v > e->max)
            return sg_errf(err, errlen, SG_ERANGE, "%s: '%s' must be between %ld and %ld", source,
                           e->name, e->min, e->max);
        memcpy(field, &v, sizeof v);
        return SG_OK;
    }
    long b;
    if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on"))
        b = 1;
    else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off"))
        b = 0;
    else
        return sg_errf(err, errlen, SG_EINVAL, "%s: '%s' expects true or false", source, e->name);
    memcpy(field, &b, sizeof b);
    return SG_OK;
}

int sg_config_init(struct sg_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int rc = set_entry(c, &table[i], table[i].def, "default", NULL, 0);
        if (rc) return rc;
    }
    return SG_OK;
}

int sg_config_set(struct sg_config *c, const char *name, const char *value, const char *source,
                  char *err, size_t errlen)
{
    const struct sg_config_entry *e = find(name);
    if (!e) return sg_errf(err, errlen, SG_ENOTFOUND, "%s: unknown setting '%s'", source, name);
    return set_entry(c, e, value, source, err, errlen);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

int sg_config_load_file(struct sg_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) return sg_errf(err, errlen, SG_EIO, "%s: cannot open config file", path);
    char line[4096];
    int lineno = 0, rc = SG_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = sg_errf(err, errlen, SG_ETOOBIG, "%s:%d: line too long", path, lineno);
            break;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = sg_errf(err, errlen, SG_EPARSE, "%s:%d: expected 'name = value'", path, lineno);
            break;
        }
        *eq = '\0';
        char *name = trim(s), *value = trim(eq + 1);
        size_t vl = strlen(value);
        if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
            value[vl - 1] = '\0';
            value++;
        }
        char src[600];
        snprintf(src, sizeof src, "%s:%d", path, lineno);
        rc = sg_config_set(c, name, value, src, err, errlen);
        if (rc) break;
    }
    fclose(f);
    return rc;
}

int sg_config_load_env(struct sg_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        char var[128] = "STARGAP_";
        size_t k = strlen(var);
        for (const char *p = table[i].name; *p && k < sizeof var - 1; p++)
            var[k++] = (char)toupper((unsigned char)*p);
        var[k] = '\0';
        const char *v = getenv(var);
        if (!v) continue;
        int rc = set_entry(c, &table[i], v, var, err, errlen);
        if (rc) return rc;
    }
    return SG_OK;
}

/* Masks the password of a URL like postgres://user:secret@host/db. */
static void print_masked_url(const char *v, FILE *f)
{
    const char *scheme = strstr(v, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = scheme ? strchr(scheme + 3, ':') : NULL;
    if (at && colon && colon < at) {
        fprintf(f, "%.*s:****%s", (int)(colon - v), v, at);
        return;
    }
    /* key=value conninfo or URL query parameter password=... */
    const char *pw = strstr(v, "password=");
    if (pw) {
        const char *end = pw + strcspn(pw, " &");
        fprintf(f, "%.*spassword=****%s", (int)(pw - v), v, end);
        return;
    }
    fputs(v, f);
}

void sg_config_print(const struct sg_config *c, FILE *f)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const struct sg_config_entry *e = &table[i];
        const char *field = (const char *)c + e->offset;
        fprintf(f, "%s = ", e->name);
        if (e->type == SG_CFG_STR) {
            if (e->secret)
                fputs(*field ? "****" : "", f);
            else if (!strcmp(e->name, "db"))
                print_masked_url(field, f);
            else
                fputs(field, f);
        } else {
            long v;
            memcpy(&v, field, sizeof v);
            if (e->type == SG_CFG_BOOL)
                fputs(v ? "true" : "false", f);
            else
                fprintf(f, "%ld", v);
        }
        fputc('\n', f);
    }
}
