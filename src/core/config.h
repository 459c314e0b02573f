/* config.h: the one configuration table of stargap (after PgBouncer's CF_ABS and Redis's
 * standardConfig).
 *
 * Every setting is one row of the table in config.c: name, type, target field, default, whether
 * it is a secret, and a help line. Values are layered: defaults, then an optional config file
 * (`name = value` lines, # comments), then STARGAP_<NAME> environment variables (name upper-cased,
 * '-' and '.' become '_'), then command-line flags. `stargap config` prints the result with secrets
 * masked. To add a setting: add a field to struct sg_config and a row to the table. */
#ifndef SG_CORE_CONFIG_H
#define SG_CORE_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "core/err.h"

#define SG_CFG_STRLEN 1024

struct sg_config {
    char db[SG_CFG_STRLEN];            /* database URL: sqlite:PATH, sqlite::memory:, postgres://... */
    char hash_key[SG_CFG_STRLEN];      /* member-ID HMAC key (secret); empty = use hash_key_file */
    char hash_key_file[SG_CFG_STRLEN]; /* file holding the HMAC key; created (0600) when missing */
    char log_level[16];                /* debug, info, warn, error, off */
    char listen[256];                  /* HTTP listen address host:port */
    long pool_min;                     /* PostgreSQL pool: connections kept open */
    long pool_max;                     /* PostgreSQL pool: most connections */
    long pool_max_lifetime_s;          /* recycle a pooled connection after this many seconds */
    long pool_acquire_timeout_ms;      /* wait this long for a free pooled connection (SG_EBUSY) */
    long sqlite_busy_timeout_ms;       /* SQLite busy timeout per connection */
    long sqlite_cache_mb;              /* SQLite page cache of each connection, MiB */
    long sqlite_bulk_cache_mb;         /* SQLite page cache while writing a prediction/gap batch, MiB */
    long pg_bulk_maintenance_mb;       /* PostgreSQL maintenance_work_mem of a batch's index rebuild, MiB */
    long store_group_max;              /* most audited operations committed in one transaction */
    long store_group_overlap;          /* 1: two group commits in flight (PostgreSQL) */
    long api_log_retention_days;       /* api_logs rows older than this are dropped by maintenance */
    long audit_retention_days;         /* audit_log retention; never below 7 years (2557 days) */
    long body_limit;                   /* largest HTTP request body in bytes */
    long rate_limit_per_min;           /* per-key request limit (token bucket) */
    long http_threads;                 /* HTTP worker threads (0 = serve's default: see config.c) */
    long http_queue_workers;           /* threads running queued routes (http.h); 0 = none */
    long http_max_connections;         /* most concurrent HTTP connections */
    long http_conn_timeout_s;          /* idle connection timeout */
    long http_conn_memory;             /* per-connection memory limit in bytes */
    char valuesets_dir[SG_CFG_STRLEN]; /* directory of FHIR ValueSet JSON files */
    char data_dir[SG_CFG_STRLEN];      /* directory of the shipped year data files */
    long risk_high_pct;                /* gap-probability risk tier "high" from this percent */
    long risk_medium_pct;              /* risk tier "medium" from this percent (below: "low") */
    long bulk_partition_bytes;         /* Bulk FHIR export reader: memory budget of one partition */
};

enum sg_cfg_type { SG_CFG_STR, SG_CFG_INT, SG_CFG_BOOL };

struct sg_config_entry {
    const char *name;      /* setting name as used in files and flags (snake_case) */
    enum sg_cfg_type type; /* how the value is parsed */
    size_t offset;         /* offsetof the field in struct sg_config */
    size_t size;           /* field size (strings: buffer size) */
    const char *def;       /* default value as text */
    long min, max;         /* allowed range for integers */
    int secret;            /* masked when printed */
    const char *help;      /* one line */
};

/* Returns the table (borrowed, static) and its length in *n. */
const struct sg_config_entry *sg_config_table(size_t *n);

/* Fills c with the defaults of every entry. Returns SG_OK (the defaults are valid by construction). */
int sg_config_init(struct sg_config *c) SG_WUR;

/* Sets one setting by name from text, validating type and range. `source` names where the value
 * came from for the error message ("--db", "STARGAP_DB", "file.conf:3"). Returns SG_OK, or
 * SG_EINVAL/SG_ERANGE/SG_ENOTFOUND (unknown name) with a message in err. */
int sg_config_set(struct sg_config *c, const char *name, const char *value, const char *source,
                  char *err, size_t errlen) SG_WUR;

/* Reads `name = value` lines from path. Returns SG_OK, SG_EIO (cannot open) or the first error of
 * sg_config_set, naming file and line in err. */
int sg_config_load_file(struct sg_config *c, const char *path, char *err, size_t errlen) SG_WUR;

/* Applies every STARGAP_<NAME> variable present in the environment. Errors as sg_config_set. */
int sg_config_load_env(struct sg_config *c, char *err, size_t errlen) SG_WUR;

/* Writes every setting as `name = value`, secrets masked, to f. */
void sg_config_print(const struct sg_config *c, FILE *f);

#endif
