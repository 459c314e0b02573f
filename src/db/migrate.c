/* migrate.c: applies and reverts the embedded schema migrations of the store's backend.
 *
 * The migrations are compiled in (migrations_gen.c, generated from migrations/<backend>/NNNN_*.sql).
 * Before doing anything, every applied migration recorded in schema_migrations is compared with
 * the embedded text by SHA-256: if one changed, or one is applied that this binary does not
 * know, `up` and `down` refuse (SG_ECHANGED) rather than build on a schema they cannot vouch
 * for. Each migration runs in its own transaction through the backend's migrate_apply. */
#include <stdio.h>
#include <string.h>

#include "core/hash.h"
#include "core/log.h"
#include "db/migrate.h"

#define MAX_APPLIED 1024

const struct store_migration *migrate_for_backend(const char *backend, size_t *n)
{
    const struct store_migration *first = NULL;
    *n = 0;
    for (size_t i = 0; i < store_migrations_count; i++) {
        if (!store_migrations[i].backend || strcmp(store_migrations[i].backend, backend)) continue;
        if (!first) first = &store_migrations[i];
        (*n)++;
    }
    return first;
}

struct applied {
    int versions[MAX_APPLIED];
    char sums[MAX_APPLIED][STORE_HASH_LEN];
    size_t n;
};

static int load_applied(struct store *st, struct applied *ap, char *err, size_t errlen)
{
    return st->ops->migrate_applied(st, ap->versions, ap->sums, MAX_APPLIED, &ap->n, err, errlen);
}

static const struct store_migration *find(const struct store_migration *ms, size_t n, int version)
{
    for (size_t i = 0; i < n; i++)
        if (ms[i].version == version) return &ms[i];
    return NULL;
}

static int checksum(const struct store_migration *m, char out[STORE_HASH_LEN])
{
    return sg_sha256_hex(m->up, strlen(m->up), out);
}

/* Refuses when an applied migration is unknown or its text changed. */
static int check_applied(const struct store_migration *ms, size_t n, const struct applied *ap,
                         char *err, size_t errlen)
{
    for (size_t i = 0; i < ap->n; i++) {
        const struct store_migration *m = find(ms, n, ap->versions[i]);
        char sum[STORE_HASH_LEN];
        if (!m)
            return sg_errf(err, errlen, SG_ECHANGED,
                           "migration %04d is applied but unknown to this binary (newer schema?)",
                           ap->versions[i]);
        if (checksum(m, sum) != SG_OK) return sg_errf(err, errlen, SG_EINTERNAL, "sha-256 failed");
        if (strcmp(sum, ap->sums[i]))
            return sg_errf(err, errlen, SG_ECHANGED,
                           "migration %04d_%s: its text changed since it was applied (checksum "
                           "mismatch); refusing to migrate",
                           m->version, m->name);
    }
    return SG_OK;
}

static int is_applied(const struct applied *ap, int version)
{
    for (size_t i = 0; i < ap->n; i++)
        if (ap->versions[i] == version) return 1;
    return 0;
}

int migrate_up(struct store *st, int to, int *applied, char *err, size_t errlen)
{
    static struct applied ap_zero;
    struct applied ap = ap_zero;
    size_t n;
    int rc, count = 0;
    if (applied) *applied = 0;
    const struct store_migration *ms = migrate_for_backend(st->ops->name, &n);
    if (to < 0 || (to > 0 && !find(ms, n, to)))
        return sg_errf(err, errlen, SG_EINVAL, "--to: no migration %d for %s", to, st->ops->name);
    if ((rc = load_applied(st, &ap, err, errlen)) || (rc = check_applied(ms, n, &ap, err, errlen)))
        return rc;
    for (size_t i = 0; i < n; i++) {
        const struct store_migration *m = &ms[i];
        char sum[STORE_HASH_LEN];
        if (to > 0 && m->version > to) break;
        if (is_applied(&ap, m->version)) continue;
        if (checksum(m, sum) != SG_OK) return sg_errf(err, errlen, SG_EINTERNAL, "sha-256 failed");
        char e[SG_ERRLEN];
        rc = st->ops->migrate_apply(st, 1, m->version, m->name, sum, m->up, e, sizeof e);
        if (rc) return sg_errf(err, errlen, rc, "migration %04d_%s up: %s", m->version, m->name, e);
        LOG_INFO("event=migrate_up version=%d name=%s", m->version, m->name);
        count++;
    }
    if (applied) *applied = count;
    return SG_OK;
}

int migrate_down(struct store *st, int to, int *reverted, char *err, size_t errlen)
{
    static struct applied ap_zero;
    struct applied ap = ap_zero;
    size_t n;
    int rc, count = 0;
    if (reverted) *reverted = 0;
    if (to < 0) return sg_errf(err, errlen, SG_EINVAL, "version: must be >= 0");
    const struct store_migration *ms = migrate_for_backend(st->ops->name, &n);
    if ((rc = load_applied(st, &ap, err, errlen)) || (rc = check_applied(ms, n, &ap, err, errlen)))
        return rc;
    for (size_t i = ap.n; i-- > 0;) {
        if (ap.versions[i] <= to) break;
        const struct store_migration *m = find(ms, n, ap.versions[i]);
        char e[SG_ERRLEN];
        rc = st->ops->migrate_apply(st, 0, m->version, m->name, ap.sums[i], m->down, e, sizeof e);
        if (rc) return sg_errf(err, errlen, rc, "migration %04d_%s down: %s", m->version, m->name, e);
        LOG_INFO("event=migrate_down version=%d name=%s", m->version, m->name);
        count++;
    }
    if (reverted) *reverted = count;
    return SG_OK;
}

int migrate_status(struct store *st, struct migrate_row *rows, size_t cap, size_t *nrows,
                   struct store_schema_status *status, char *err, size_t errlen)
{
    static struct applied ap_zero;
    struct applied ap = ap_zero;
    size_t n, k = 0;
    int rc;
    *nrows = 0;
    memset(status, 0, sizeof *status);
    const struct store_migration *ms = migrate_for_backend(st->ops->name, &n);
    if ((rc = load_applied(st, &ap, err, errlen))) return rc;
    for (size_t i = 0; i < n; i++) {
        char sum[STORE_HASH_LEN];
        struct migrate_row r = {.version = ms[i].version, .embedded = 1};
        snprintf(r.name, sizeof r.name, "%s", ms[i].name);
        if (checksum(&ms[i], sum) != SG_OK) return sg_errf(err, errlen, SG_EINTERNAL, "sha-256 failed");
        for (size_t j = 0; j < ap.n; j++)
            if (ap.versions[j] == ms[i].version) {
                r.applied = 1;
                r.changed = strcmp(sum, ap.sums[j]) != 0;
            }
        if (r.version > status->latest_version) status->latest_version = r.version;
        if (r.applied && r.version > status->current_version) status->current_version = r.version;
        status->pending += !r.applied;
        status->changed += r.changed;
        if (k < cap) rows[k++] = r;
    }
    for (size_t j = 0; j < ap.n; j++) /* applied but unknown to this binary */
        if (!find(ms, n, ap.versions[j])) {
            struct migrate_row r = {.version = ap.versions[j], .applied = 1, .changed = 1};
            snprintf(r.name, sizeof r.name, "(unknown)");
            if (r.version > status->current_version) status->current_version = r.version;
            status->changed++;
            if (k < cap) rows[k++] = r;
        }
    *nrows = k;
    return SG_OK;
}
