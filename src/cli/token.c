/* token.c — `idflow token create|list|revoke` (API tokens, crypto/token.h),
 * `idflow init` (the store's permanent "initialized" mark: the API never
 * serves a request without a token again) and `idflow audit` (the audit
 * log).
 *
 * `create` prints the new token once, alone on standard output, so a script
 * can capture it (`T=$(idflow token create ci --role operator)`); what to do
 * with it goes to standard error. The store keeps only its hash: a lost
 * token is revoked and replaced, never recovered. Every change is audited
 * with the actor "cli:<user>". These commands work on the store directly,
 * also while `idflow serve` runs: a new token works at once, a revoked one
 * stops working with the next request. Main thread only. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/render.h"
#include "cli/cli.h"
#include "core/timeutil.h"
#include "crypto/token.h"
#include "store/store.h"

#define CLI_TOKEN_MAX_TTL_MS (3650LL * 24 * 3600 * 1000) /* ten years */

static const char token_usage[] =
    "usage: idflow token create NAME --role viewer|approver|operator|admin [--expires-in 90d] [--db URL]\n"
    "       idflow token list [--json] [--db URL]\n"
    "       idflow token revoke NAME [--force] [--db URL]\n"
    "       (--force: also the last admin token; the API stays closed, it never reopens)\n"
    "roles, each with what the previous ones may do:\n"
    "  viewer    read runs, workflows, approvals and metrics\n"
    "  approver  approve or reject waiting runs\n"
    "  operator  start manual workflows, re-run failed runs\n"
    "  admin     API tokens and the audit log\n";

static int create(int argc, char **argv)
{
    static const struct option opts[] = {
        {"role", required_argument, NULL, 'r'},
        {"expires-in", required_argument, NULL, 'e'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL, *role = NULL, *name;
    char tok[TOKEN_LEN + 1], hash[TOKEN_HASH_HEX + 1], prefix[TOKEN_PREFIX_LEN + 1], actor[300], when[40];
    int64_t ttl = 0, expires_at = 0;
    struct store *st = NULL;
    struct idf_err err;
    int c, rc = CLI_FAIL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r': role = optarg; break;
        case 'd': db = optarg; break;
        case 'e':
            if (time_parse_duration(optarg, &ttl) || ttl <= 0 || ttl > CLI_TOKEN_MAX_TTL_MS) {
                fprintf(stderr, "idflow token create: --expires-in must be a duration such as 90d or 12h, at most "
                                "3650d\n");
                return CLI_USAGE;
            }
            break;
        default: fputs(token_usage, stderr); return CLI_USAGE;
        }
    }
    if (optind != argc - 1 || !role) {
        fputs(token_usage, stderr);
        return CLI_USAGE;
    }
    name = argv[optind];
    if (!token_name_valid(name)) {
        fprintf(stderr, "idflow token create: a token name is 1 to %u of A-Z a-z 0-9 . _ -\n", TOKEN_NAME_MAX);
        return CLI_USAGE;
    }
    if (!token_role_parse(role)) {
        fprintf(stderr, "idflow token create: unknown role '%s' (viewer, approver, operator or admin)\n", role);
        return CLI_USAGE;
    }
    if (ttl)
        expires_at = time_now_ms() + ttl;
    if (cli_open_store(db, &st))
        return CLI_FAIL;
    if (token_new(tok, sizeof tok, hash, sizeof hash, prefix, sizeof prefix)) {
        fprintf(stderr, "idflow token create: could not generate a token\n");
        goto out;
    }
    cli_actor(actor, sizeof actor);
    if (store_token_create(st, name, role, hash, prefix, expires_at, actor, NULL, &err)) {
        fprintf(stderr, "idflow token create: %s\n", err.msg);
        goto out;
    }
    cli_fmt_time(expires_at, when, sizeof when);
    fprintf(stderr,
            "token '%s' created with the %s role (expires: %s). It is printed once, below, and not stored:\n"
            "send it as \"Authorization: Bearer <token>\". Revoke it with: idflow token revoke %s\n",
            name, role, expires_at ? when : "never", name);
    printf("%s\n", tok);
    fflush(stdout);
    rc = CLI_OK;
out:
    memset(tok, 0, sizeof tok);
    store_close(st);
    return rc;
}

static int list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    bool as_json = false;
    struct store *st = NULL;
    struct store_token *rows = NULL;
    size_t n = 0;
    int64_t now = time_now_ms();
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'j')
            as_json = true;
        else if (c == 'd')
            db = optarg;
        else {
            fputs(token_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc) {
        fputs(token_usage, stderr);
        return CLI_USAGE;
    }
    if (cli_open_store(db, &st))
        return CLI_FAIL;
    if (store_token_list(st, &rows, &n)) {
        fprintf(stderr, "idflow token list: could not read the tokens\n");
        store_close(st);
        return CLI_FAIL;
    }
    store_close(st);
    if (as_json) {
        json_t *list = render_tokens(rows, n, now);
        char *s = list ? json_dumps(list, JSON_INDENT(2)) : NULL;
        printf("%s\n", s ? s : "[]");
        free(s);
        json_decref(list);
    } else if (n == 0) {
        printf("no API tokens: the API answers only on loopback, to anyone there "
               "(idflow token create NAME --role ROLE)\n");
    } else {
        printf("%-24s %-9s %-13s %-24s %-24s %s\n", "NAME", "ROLE", "PREFIX", "CREATED", "LAST USED", "EXPIRES");
        for (size_t i = 0; i < n; i++) {
            const struct store_token *t = &rows[i];
            char c1[40], c2[40], c3[40];
            cli_fmt_time(t->created_at, c1, sizeof c1);
            cli_fmt_time(t->last_used_at, c2, sizeof c2);
            cli_fmt_time(t->expires_at, c3, sizeof c3);
            printf("%-24s %-9s %-13s %-24s %-24s %s%s\n", t->name, t->role, t->prefix, c1, c2,
                   t->expires_at != 0 && t->expires_at <= now ? "EXPIRED " : "", c3);
        }
    }
    store_token_list_free(rows, n);
    return CLI_OK;
}

static int revoke(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    struct store *st = NULL;
    struct idf_err err;
    char actor[300];
    bool force = false;
    int c, rc = CLI_FAIL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'f') {
            force = true;
        } else if (c == 'd') {
            db = optarg;
        } else {
            fputs(token_usage, stderr);
            return CLI_USAGE;
        }
    }
    if (optind != argc - 1 || !token_name_valid(argv[optind])) {
        fputs(token_usage, stderr);
        return CLI_USAGE;
    }
    if (cli_open_store(db, &st))
        return CLI_FAIL;
    cli_actor(actor, sizeof actor);
    if (store_token_revoke(st, argv[optind], actor, force, &err)) {
        fprintf(stderr, "idflow token revoke: %s\n", err.msg);
        if (err.code == IDF_ESTATE)
            fprintf(stderr, "idflow token revoke: --force revokes it anyway: the API then answers 401 to every "
                            "request until `idflow token create NAME --role admin` is run on this store\n");
    } else {
        printf("token '%s' revoked: requests carrying it are refused from now on\n", argv[optind]);
        rc = CLI_OK;
    }
    store_close(st);
    return rc;
}

int cli_token(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "create") == 0)
        return create(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return list(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "revoke") == 0)
        return revoke(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)) {
        fputs(token_usage, stdout);
        return CLI_OK;
    }
    fputs(token_usage, stderr);
    return CLI_USAGE;
}

int cli_init(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'}, {NULL, 0, NULL, 0}};
    const char *db = NULL;
    struct store *st = NULL;
    struct idf_err err;
    char actor[300];
    bool changed = false;
    int c, rc = CLI_FAIL;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'd')
            goto usage;
        db = optarg;
    }
    if (optind != argc)
        goto usage;
    if (cli_open_store(db, &st))
        return CLI_FAIL;
    cli_actor(actor, sizeof actor);
    if (store_initialize(st, actor, &changed, &err)) {
        fprintf(stderr, "idflow init: %s\n", err.msg);
    } else {
        printf("%s: every API request needs a token from now on (a running idflow serve sees it with the next "
               "request); create one with: idflow token create NAME --role admin\n",
               changed ? "initialized" : "already initialized");
        rc = CLI_OK;
    }
    store_close(st);
    return rc;
usage:
    fprintf(stderr, "usage: idflow init [--db URL]\n");
    return CLI_USAGE;
}

int cli_audit(int argc, char **argv)
{
    static const struct option opts[] = {
        {"limit", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"db", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    bool as_json = false;
    int limit = 50, c;
    struct store *st = NULL;
    struct store_audit *recs = NULL;
    json_t *rows = NULL, *r;
    size_t i, n = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n': limit = atoi(optarg); break;
        case 'j': as_json = true; break;
        case 'd': db = optarg; break;
        default: goto usage;
        }
    }
    if (optind != argc || limit < 1)
        goto usage;
    if (cli_open_store(db, &st))
        return CLI_FAIL;
    if (store_audit_list(st, limit, &recs, &n) || !(rows = render_audit(recs, n))) {
        fprintf(stderr, "idflow audit: could not read the audit log\n");
        store_audit_list_free(recs, n);
        store_close(st);
        return CLI_FAIL;
    }
    store_audit_list_free(recs, n);
    store_close(st);
    if (as_json) {
        char *s = json_dumps(rows, JSON_INDENT(2));
        printf("%s\n", s ? s : "[]");
        free(s);
    } else {
        printf("%-24s %-24s %-20s %-28s %s\n", "AT", "ACTOR", "ACTION", "TARGET", "DETAIL");
        json_array_foreach(rows, i, r)
        {
            char at[40];
            json_t *d = json_object_get(r, "detail");
            char *ds = d && !json_is_null(d) ? json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
            cli_fmt_time(json_integer_value(json_object_get(r, "at")), at, sizeof at);
            printf("%-24s %-24s %-20s %-28s %s\n", at, json_string_value(json_object_get(r, "actor")),
                   json_string_value(json_object_get(r, "action")),
                   json_string_value(json_object_get(r, "target")) ? json_string_value(json_object_get(r, "target"))
                                                                   : "-",
                   ds ? ds : "");
            free(ds);
        }
    }
    json_decref(rows);
    return CLI_OK;
usage:
    fprintf(stderr, "usage: idflow audit [--limit N] [--json] [--db URL]\n");
    return CLI_USAGE;
}
