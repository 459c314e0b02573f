/* migrate.h: versioned schema migrations embedded in the binary.
 *
 * The SQL files migrations/<backend>/NNNN_name.up.sql and .down.sql are turned into a C source at
 * build time (cmake/embed_migrations.cmake), so the binary needs no files at run time. Each
 * migration is applied in its own transaction; schema_migrations records the version, the name
 * and the SHA-256 (hex) of the up script. `migrate up` refuses to run when the text of an applied
 * migration differs from the embedded one (SG_ECHANGED). */
#ifndef SG_DB_MIGRATE_H
#define SG_DB_MIGRATE_H

#include <stddef.h>

#include "db/store.h"

struct store_migration {
    const char *backend; /* "sqlite" or "postgres" */
    int version;         /* NNNN */
    const char *name;    /* the _name part of the file name */
    const char *up;      /* up script */
    const char *down;    /* down script ("" when the file is missing) */
};

/* The embedded migrations of every backend, ordered by backend then version (generated). */
extern const struct store_migration store_migrations[];
extern const size_t store_migrations_count;

/* The migrations for one backend: pointer to the first (borrowed, static) and count in *n. */
const struct store_migration *migrate_for_backend(const char *backend, size_t *n);

/* Applies pending migrations up to version `to` (0 = latest), each in its own transaction.
 * *applied (may be NULL) receives how many were applied. Fails with SG_ECHANGED (an applied
 * migration's text changed, or one is applied that this binary does not know), SG_EINVAL (`to`
 * unknown) or the backend's error (the failing migration's changes are rolled back). */
int migrate_up(struct store *st, int to, int *applied, char *err, size_t errlen) SG_WUR;

/* Reverts applied migrations, newest first, down to version `to` (0 = everything).
 * *reverted (may be NULL) receives how many. Errors as migrate_up. */
int migrate_down(struct store *st, int to, int *reverted, char *err, size_t errlen) SG_WUR;

/* One line per embedded or applied migration, for `stargap migrate status`. */
struct migrate_row {
    int version;
    char name[64];
    int applied;  /* recorded in schema_migrations */
    int changed;  /* applied, but its recorded checksum differs from the embedded text */
    int embedded; /* known to this binary */
};

/* Fills rows (cap entries) with the status of each migration, ascending, count in *n, and the
 * summary in *status. Errors: the backend's. */
int migrate_status(struct store *st, struct migrate_row *rows, size_t cap, size_t *n,
                   struct store_schema_status *status, char *err, size_t errlen) SG_WUR;

#endif
