/* cli_keys.c: `stargap keys create|list|revoke`: API keys for the HTTP server.
 *
 * A key is "sgk_" followed by 64 hex characters of random bytes (256 bits); it is printed once
 * at creation and only its SHA-256 (hex) is stored, so a lost key cannot be recovered, only
 * revoked and replaced. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/hash.h"
#include "db/store.h"

const char cli_keys_usage[] =
    "usage: stargap keys create --name NAME --role reader|writer|admin\n"
    "       stargap keys list\n"
    "       stargap keys revoke NAME\n"
    "Manages the API keys of the HTTP server. 'create' prints the new key once (only its\n"
    "SHA-256 is stored). Roles: reader (reads aggregates and member-level data), writer (also\n"
    "creates and updates gaps, interventions, predictions, simulations), admin (also request\n"
    "logs, audit trail, keys). Revocation takes effect within 2 seconds on running servers.\n";

static const struct store_actor cli_actor = {.user_id = "cli", .ip_address = ""};

static int keys_create(struct store *st, int argc, char **argv)
{
    const char *name = NULL, *role = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--name") && i + 1 < argc) name = argv[++i];
        else if (!strcmp(argv[i], "--role") && i + 1 < argc) role = argv[++i];
        else return cli_usage_error("keys", "unexpected argument '%s'", argv[i]);
    }
    if (!name || !role) return cli_usage_error("keys", "create needs --name NAME and --role ROLE");
    struct store_api_key k;
    memset(&k, 0, sizeof k);
    if (store_role_parse(role, &k.role) != SG_OK)
        return cli_usage_error("keys", "--role must be reader, writer or admin");
    if (strlen(name) >= sizeof k.name) return cli_usage_error("keys", "--name is too long");
    memcpy(k.name, name, strlen(name) + 1);
    uint8_t raw[32];
    char key[4 + 64 + 1] = "sgk_";
    if (sg_random_bytes(raw, sizeof raw) != SG_OK) {
        fprintf(stderr, "stargap keys: no random bytes available\n");
        return CLI_FAIL;
    }
    sg_hex_encode(raw, sizeof raw, key + 4);
    if (sg_sha256_hex(key, strlen(key), k.key_hash) != SG_OK) return CLI_FAIL;
    char err[SG_ERRLEN];
    int rc = store_api_key_create(st, &cli_actor, &k, err, sizeof err);
    if (rc) {
        fprintf(stderr, "stargap keys: %s\n", err);
        return rc == SG_EINVAL || rc == SG_ECONFLICT ? CLI_USAGE : CLI_FAIL;
    }
    printf("%s\n", key);
    fflush(stdout);
    fprintf(stderr, "stargap keys: created key '%s' with role %s; it is shown only this once\n", name, role);
    return CLI_OK;
}

static int keys_list(struct store *st, int argc, char **argv)
{
    if (argc > 2) return cli_usage_error("keys", "unexpected argument '%s'", argv[2]);
    struct store_api_key_list l = {0};
    char err[SG_ERRLEN];
    int rc = store_api_key_list(st, &l, err, sizeof err);
    if (rc) {
        fprintf(stderr, "stargap keys: %s\n", err);
        return CLI_FAIL;
    }
    printf("%-32s %-7s %-28s %s\n", "NAME", "ROLE", "CREATED", "REVOKED");
    for (size_t i = 0; i < l.n; i++)
        printf("%-32s %-7s %-28s %s\n", l.items[i].name, store_role_name(l.items[i].role),
               l.items[i].created_at, l.items[i].revoked_at[0] ? l.items[i].revoked_at : "-");
    store_api_key_list_free(&l);
    return CLI_OK;
}

static int keys_revoke(struct store *st, int argc, char **argv)
{
    if (argc != 3) return cli_usage_error("keys", "revoke needs exactly one NAME");
    char err[SG_ERRLEN];
    int rc = store_api_key_revoke(st, &cli_actor, argv[2], err, sizeof err);
    if (rc) {
        fprintf(stderr, "stargap keys: %s\n", err);
        return CLI_FAIL;
    }
    printf("revoked %s\n", argv[2]);
    return CLI_OK;
}

int cli_keys_run(struct cli_ctx *ctx, int argc, char **argv)
{
    if (argc < 2) return cli_usage_error("keys", "missing subcommand (create, list, revoke)");
    const char *sub = argv[1];
    if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "revoke"))
        return cli_usage_error("keys", "unknown subcommand '%s'", sub);
    struct store *st = NULL;
    char err[SG_ERRLEN];
    if (store_open(ctx->cfg->db, ctx->cfg, &st, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap keys: %s\n", err);
        return CLI_FAIL;
    }
    int rc = !strcmp(sub, "create") ? keys_create(st, argc, argv)
             : !strcmp(sub, "list") ? keys_list(st, argc, argv)
                                    : keys_revoke(st, argc, argv);
    store_close(st);
    return rc;
}
