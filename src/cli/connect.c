/* connect.c — `idflow connect KIND NAME ...` (store, re-check or remove a
 * connection) and `idflow connections` (list them, never their secrets).
 *
 * Generic over the connector's connection descriptor (conn_field list): each
 * non-secret field is an option `--<field> VALUE`; each secret field is read
 * from `--<field>-file F`, `--<field>-env VAR` or `--<field> -` (stdin) and
 * never taken as a plain argument (argv is visible to every local user in
 * ps). Field names with '_' are spelled with '-' on the command line
 * (api_key -> --api-key-file). Saving runs: validate (the connector's rules),
 * a real call (the connector's check, which says whom the credentials belong
 * to), then seal and store with an audit record by "cli:<user>".
 *
 * Exit codes: 0 ok, 1 the thing asked failed (invalid value, check failed,
 * store failed), 2 usage. Single-threaded (the CLI). Secrets read here are
 * wiped before exit and registered with the logger's mask. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/render.h"
#include "cli/cli.h"
#include "cli/cli_hooks.h"
#include "credentials/credentials.h"
#include "connectors/connector.h"
#include "cli/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/seal.h"
#include "net/http.h"
#include "store/store.h"

#define OPT_MAX 96 /* bytes of one option name */
#define PROTECT_FIELD "protected" /* the config field --protect fills, of a connector with a `protect` (issue 19) */

struct opts {
    const struct connector *conn; /* the kind */
    const char *name;             /* the connection's name */
    const char *db;               /* --db or NULL */
    const char *key_file;         /* --key-file or NULL */
    bool test, remove, sandbox, help;
    bool no_protect;              /* --no-protect: store no protected accounts (a reconnect keeps them otherwise) */
    const char *register_hook;    /* --register-hook URL or NULL */
    bool stdin_used;              /* one secret may come from stdin */
    json_t *config;               /* fields given (secrets included): wiped at the end */
};

static const char *field_opt(const char *field, char *buf, size_t n)
{
    snprintf(buf, n, "%s", field);
    for (char *p = buf; *p; p++)
        if (*p == '_')
            *p = '-';
    return buf;
}

static void usage_kind(FILE *f, const struct connector *c)
{
    char o[OPT_MAX];
    fprintf(f, "usage: idflow connect %s NAME [options] [--sandbox] [--db URL] [--key-file F]\n"
               "       idflow connect %s NAME --test | --remove [--db URL] [--key-file F]\n",
            c->name, c->name);
    if (c->ingress && c->ingress->register_hook)
        fprintf(f, "       idflow connect %s NAME --register-hook https://HOST/hooks/%s/NAME [--db URL]\n", c->name,
                c->name);
    for (const struct conn_field *fl = c->connection->fields; fl && fl->name; fl++) {
        field_opt(fl->name, o, sizeof o);
        if (c->protect && !strcmp(fl->name, PROTECT_FIELD))
            fprintf(f, "  --protect LOGIN|GROUP   repeatable: an account no destructive action may touch: a login "
                       "(with '@', or ending in '*' for a prefix) or a group (exact name or 00g id, looked up now);\n"
                       "              a reconnect without --protect keeps the stored ones\n"
                       "  --no-protect   store no protected accounts\n");
        else if (!strcmp(fl->name, "sandbox"))
            fprintf(f, "  --sandbox   %s\n", fl->doc ? fl->doc : "");
        else if (fl->secret)
            fprintf(f, "  --%s-file F | --%s-env VAR | --%s -   %s%s (secret)\n", o, o, o, fl->doc ? fl->doc : "",
                    fl->required ? ", required" : "");
        else
            fprintf(f, "  --%s VALUE   %s%s\n", o, fl->doc ? fl->doc : "", fl->required ? ", required" : "");
    }
    fprintf(f,
            "  --max-destructive N/PERIOD|off   destructive calls allowed on this connection in any window of "
            "PERIOD,\n      over every workflow and node; over it a run is held for an admin (default %s)\n",
            CONN_MAX_DESTRUCTIVE_DEFAULT);
}

static void usage_all(FILE *f)
{
    fprintf(f, "usage: idflow connect KIND NAME [options]   (idflow connect KIND --help lists the options)\n"
               "kinds:");
    const struct registry *reg = registry_default();

    for (size_t i = 0; i < reg->n; i++)
        if (reg->list[i]->connection)
            fprintf(f, " %s", reg->list[i]->name);
    fputc('\n', f);
}

/* Reads at most CRED_SECRET_MAX bytes of fd into a JSON string with
 * trailing white space (the newline of `echo` or an editor) removed. */
static int read_secret_fd(int fd, const char *what, json_t **out)
{
    size_t cap = CRED_SECRET_MAX + 2, len = 0;
    char *b = malloc(cap);
    int rc = CLI_OK;

    *out = NULL;
    if (!b)
        return CLI_FAIL;
    for (;;) {
        ssize_t r = read(fd, b + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "idflow connect: cannot read %s: %s\n", what, strerror(errno));
            rc = CLI_FAIL;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len > CRED_SECRET_MAX) {
            fprintf(stderr, "idflow connect: %s is larger than %u bytes\n", what, CRED_SECRET_MAX);
            rc = CLI_FAIL;
            goto out;
        }
    }
    while (len && (b[len - 1] == '\n' || b[len - 1] == '\r' || b[len - 1] == ' ' || b[len - 1] == '\t'))
        len--;
    if (len == 0 || memchr(b, '\0', len)) {
        fprintf(stderr, "idflow connect: %s is empty or not text\n", what);
        rc = CLI_FAIL;
        goto out;
    }
    *out = json_stringn(b, len);
    if (!*out)
        rc = CLI_FAIL;
out:
    seal_wipe(b, cap);
    free(b);
    return rc;
}

static int secret_from_file(const char *path, json_t **out)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0) {
        fprintf(stderr, "idflow connect: cannot open %s: %s\n", path, strerror(errno));
        return CLI_FAIL;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IROTH))
        fprintf(stderr, "idflow connect: warning: %s is readable by every local user (chmod 600 %s, or delete it "
                        "once the connection is saved)\n",
                path, path);
    rc = read_secret_fd(fd, path, out);
    close(fd);
    return rc;
}

static int secret_from_env(const char *var, json_t **out)
{
    const char *v = getenv(var);

    *out = NULL;
    if (!v || !*v) {
        fprintf(stderr, "idflow connect: environment variable %s is not set\n", var);
        return CLI_USAGE;
    }
    if (strlen(v) > CRED_SECRET_MAX) {
        fprintf(stderr, "idflow connect: %s is longer than %u bytes\n", var, CRED_SECRET_MAX);
        return CLI_FAIL;
    }
    *out = json_string(v);
    return *out ? CLI_OK : CLI_FAIL;
}

/* A non-secret value as JSON. conn_field carries no type, so the command
 * line's text is typed here: true/false become booleans and plain decimal
 * integers numbers (a connector's validate accepts either form); anything
 * else stays a string. */
static json_t *plain_value(const char *s)
{
    size_t n = strlen(s), i = s[0] == '-' ? 1 : 0;

    if (!strcmp(s, "true") || !strcmp(s, "false"))
        return json_boolean(s[0] == 't');
    if (n > i && n - i <= 15 && strspn(s + i, "0123456789") == n - i && (s[i] != '0' || n - i == 1))
        return json_integer(strtoll(s, NULL, 10));
    return json_string(s);
}

/* Takes the value of option `opt`: after '=' or the next argument. */
static const char *opt_value(const char *eq, int argc, char **argv, int *i, const char *opt)
{
    if (eq)
        return eq + 1;
    if (*i + 1 < argc)
        return argv[++*i];
    fprintf(stderr, "idflow connect: --%s needs a value\n", opt);
    return NULL;
}

/* Handles --<field>, --<field>-file, --<field>-env for the connector's fields. */
static int field_option(struct opts *o, const char *opt, const char *eq, int argc, char **argv, int *i)
{
    char fo[OPT_MAX], want_file[OPT_MAX + 8], want_env[OPT_MAX + 8];
    json_t *v = NULL;
    const char *val;
    int rc;

    for (const struct conn_field *f = o->conn->connection->fields; f && f->name; f++) {
        enum { PLAIN, FROM_FILE, FROM_ENV } how;
        field_opt(f->name, fo, sizeof fo);
        snprintf(want_file, sizeof want_file, "%s-file", fo);
        snprintf(want_env, sizeof want_env, "%s-env", fo);
        if (!strcmp(opt, fo) || !strcmp(opt, f->name))
            how = PLAIN;
        else if (f->secret && !strcmp(opt, want_file))
            how = FROM_FILE;
        else if (f->secret && !strcmp(opt, want_env))
            how = FROM_ENV;
        else
            continue;
        if (json_object_get(o->config, f->name)) {
            fprintf(stderr, "idflow connect: %s given twice\n", f->name);
            return CLI_USAGE;
        }
        if (f->secret && how == PLAIN) {
            if (!eq && *i + 1 < argc && !strcmp(argv[*i + 1], "-"))
                (*i)++;
            else if (!eq || strcmp(eq + 1, "-") != 0) {
                /* Skip the value so it is not mistaken for NAME, but never echo it. */
                fprintf(stderr,
                        "idflow connect: refusing a %s on the command line: arguments are visible to every local "
                        "user (ps, /proc). Use --%s-file F, --%s-env VAR, or --%s - to read it from stdin\n",
                        f->name, fo, fo, fo);
                return CLI_USAGE;
            }
            if (o->stdin_used) {
                fprintf(stderr, "idflow connect: only one secret can be read from stdin\n");
                return CLI_USAGE;
            }
            o->stdin_used = true;
            rc = read_secret_fd(0, "stdin", &v);
        } else {
            val = opt_value(eq, argc, argv, i, opt);
            if (!val)
                return CLI_USAGE;
            if (how == FROM_FILE)
                rc = secret_from_file(val, &v);
            else if (how == FROM_ENV)
                rc = secret_from_env(val, &v);
            else
                rc = (v = plain_value(val)) ? CLI_OK : CLI_FAIL;
        }
        if (rc)
            return rc;
        if (f->secret)
            log_add_secret(json_string_value(v));
        json_object_set_new(o->config, f->name, v);
        return CLI_OK;
    }
    /* issue 19: every kind's budget of destructive calls (checked with the config by cred_validate) */
    if (!strcmp(opt, "max-destructive") || !strcmp(opt, CONN_MAX_DESTRUCTIVE_FIELD)) {
        if (json_object_get(o->config, CONN_MAX_DESTRUCTIVE_FIELD)) {
            fprintf(stderr, "idflow connect: %s given twice\n", CONN_MAX_DESTRUCTIVE_FIELD);
            return CLI_USAGE;
        }
        val = opt_value(eq, argc, argv, i, opt);
        if (!val)
            return CLI_USAGE;
        json_object_set_new(o->config, CONN_MAX_DESTRUCTIVE_FIELD, json_string(val));
        return CLI_OK;
    }
    fprintf(stderr, "idflow connect: unknown option --%s for %s (idflow connect %s --help)\n", opt, o->conn->name,
            o->conn->name);
    return CLI_USAGE;
}

/* --protect VALUE: a login pattern (has '@' or ends in '*') or a group
 * (name or id, completed with its id by the connector's prepare before the
 * connection is stored), appended to the config's protected list. */
static int protect_option(struct opts *o, const char *v)
{
    json_t *list = json_object_get(o->config, PROTECT_FIELD);
    size_t n = strlen(v);
    bool login = strchr(v, '@') || (n && v[n - 1] == '*');

    if (!o->conn->protect || !o->conn->connection) {
        fprintf(stderr, "idflow connect: %s connections protect no account (no --protect)\n", o->conn->name);
        return CLI_USAGE;
    }
    if (n == 0) {
        fprintf(stderr, "idflow connect: --protect needs a login or a group\n");
        return CLI_USAGE;
    }
    if (!list) {
        list = json_array();
        if (!list || json_object_set_new(o->config, PROTECT_FIELD, list))
            return CLI_FAIL;
    }
    return json_array_append_new(list, json_pack("{s:s}", login ? "login" : "group", v)) ? CLI_FAIL : CLI_OK;
}

static const struct connector *find_kind(const char *kind)
{
    const struct connector *c = registry_find(registry_default(), kind);
    return c && c->connection ? c : NULL;
}

static int parse(struct opts *o, int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    int npos = 0, rc;

    if (argc >= 2 && strncmp(argv[1], "--", 2) != 0) {
        o->conn = find_kind(argv[1]);
        if (!o->conn) {
            fprintf(stderr, "idflow connect: unknown kind '%s'\n", argv[1]);
            usage_all(stderr);
            return CLI_USAGE;
        }
        pos[npos++] = argv[1];
    }
    for (int i = pos[0] ? 2 : 1; i < argc; i++) {
        char opt[OPT_MAX];
        const char *a = argv[i], *eq;
        if (strncmp(a, "--", 2) != 0) {
            if (npos == 2) {
                fprintf(stderr, "idflow connect: unexpected argument (values go after their --option)\n");
                return CLI_USAGE;
            }
            pos[npos++] = a;
            continue;
        }
        eq = strchr(a, '=');
        snprintf(opt, sizeof opt, "%.*s", (int)(eq ? (size_t)(eq - a - 2) : strlen(a + 2)), a + 2);
        if (!strcmp(opt, "help")) {
            o->help = true;
        } else if (!strcmp(opt, "test")) {
            o->test = true;
        } else if (!strcmp(opt, "remove")) {
            o->remove = true;
        } else if (!strcmp(opt, "sandbox")) {
            o->sandbox = true;
        } else if (o->conn && !strcmp(opt, "protect")) {
            const char *v = opt_value(eq, argc, argv, &i, opt);
            if (!v)
                return CLI_USAGE;
            if ((rc = protect_option(o, v)) != 0)
                return rc;
        } else if (o->conn && !strcmp(opt, "no-protect") && o->conn->protect) {
            o->no_protect = true;
        } else if (o->conn && o->conn->protect && !strcmp(opt, PROTECT_FIELD)) {
            fprintf(stderr, "idflow connect: give protected accounts with --protect LOGIN|GROUP (repeatable)\n");
            return CLI_USAGE;
        } else if (!strcmp(opt, "register-hook")) {
            if (!(o->register_hook = opt_value(eq, argc, argv, &i, opt)))
                return CLI_USAGE;
        } else if (!strcmp(opt, "db") || !strcmp(opt, "key-file")) {
            const char *v = opt_value(eq, argc, argv, &i, opt);
            if (!v)
                return CLI_USAGE;
            *(!strcmp(opt, "db") ? &o->db : &o->key_file) = v;
        } else if (!o->conn) {
            break; /* options before KIND: report the usage below */
        } else {
            rc = field_option(o, opt, eq, argc, argv, &i);
            if (rc)
                return rc;
        }
    }
    if (o->help)
        return CLI_OK;
    if (o->no_protect && json_object_get(o->config, PROTECT_FIELD)) {
        fprintf(stderr, "idflow connect: --protect and --no-protect together\n");
        return CLI_USAGE;
    }
    if (!o->conn || npos < 2) {
        if (o->conn)
            usage_kind(stderr, o->conn);
        else
            usage_all(stderr);
        return CLI_USAGE;
    }
    o->name = pos[1];
    if (!cred_name_valid(o->name)) {
        fprintf(stderr,
                "idflow connect: '%.80s' is not a valid name (1 to %d letters, digits, '-', '_' or '.', starting "
                "with a letter or digit)\n",
                o->name, CRED_NAME_MAX);
        return CLI_USAGE;
    }
    if (o->test + o->remove + !!o->register_hook > 1 ||
        ((o->test || o->remove || o->register_hook) && (json_object_size(o->config) || o->sandbox || o->no_protect))) {
        fprintf(stderr, "idflow connect: --test, --remove and --register-hook take no other field and not each "
                        "other\n");
        return CLI_USAGE;
    }
    for (const struct conn_field *f = o->conn->connection->fields;
         !o->test && !o->remove && !o->register_hook && f && f->name; f++) {
        char fo[OPT_MAX];
        if (!f->required || json_object_get(o->config, f->name))
            continue;
        field_opt(f->name, fo, sizeof fo);
        if (f->secret)
            fprintf(stderr, "idflow connect: %s is required: --%s-file F, --%s-env VAR or --%s - (stdin)\n", f->name,
                    fo, fo, fo);
        else
            fprintf(stderr, "idflow connect: %s is required: --%s VALUE\n", f->name, fo);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* Runs the connector's check; prints whom the credentials belong to. */
static int check(const struct connector *c, const json_t *config, const char *name)
{
    json_t *who = NULL;
    struct idf_err err;
    char *w = NULL;

    if (!c->connection->check) {
        printf("%s connection %s: this kind has no credential check\n", c->name, name);
        return CLI_OK;
    }
    if (cred_check(c, name, config, &who, &err)) {
        fprintf(stderr, "idflow connect: %s connection %s: the credential check failed: %s\n", c->name, name,
                err.msg);
        return CLI_FAIL;
    }
    w = who ? json_dumps(who, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (w)
        log_mask_secrets(w);
    printf("%s connection %s: credentials checked; they belong to %s\n", c->name, name, w ? w : "(not reported)");
    free(w);
    json_decref(who);
    return CLI_OK;
}

static int do_remove(struct store *st, const struct opts *o)
{
    struct idf_err err;
    char actor[300];

    cli_actor(actor, sizeof actor);
    if (store_connection_delete(st, o->name, actor, &err)) {
        fprintf(stderr, "idflow connect: %s\n", err.msg);
        return CLI_FAIL;
    }
    printf("%s connection %s removed\n", o->conn->name, o->name);
    return CLI_OK;
}

static int do_test(struct store *st, const struct seal_key *key, const struct opts *o)
{
    struct idf_err err;
    json_t *conn = NULL;
    const char *kind;
    int rc = CLI_FAIL;

    if (cred_load(st, key, o->name, &conn, &err)) {
        fprintf(stderr, "idflow connect: %s\n", err.msg);
        return CLI_FAIL;
    }
    kind = json_string_value(json_object_get(conn, "kind"));
    if (!kind || strcmp(kind, o->conn->name) != 0)
        fprintf(stderr, "idflow connect: connection %s is a %s connection, not %s\n", o->name, kind ? kind : "?",
                o->conn->name);
    else
        rc = check(o->conn, conn, o->name);
    cred_wipe_free(conn);
    return rc;
}

/* For a connector whose webhook takes its secret in the URL, and a
 * connection that receives webhooks: prints the URL to paste into the
 * remote's webhook setting, with the secret percent-encoded. Printed on
 * stdout, once, for the operator: never logged. The host is public_url
 * (idflow.yaml or IDFLOW_PUBLIC_URL) when set, else a placeholder. */
static void print_hook_url(const struct opts *o)
{
    const struct conn_ingress *in = o->conn->ingress;
    const char *secret;
    char *enc;
    struct cfg cfg;
    struct idf_err err;
    char origin[CFG_MAX_VALUE] = "";

    if (!in || !in->hook || !in->secret_in_path || !in->hook_secret_field ||
        !(conn_ingress_mode(o->config) & CONN_MODE_HOOK))
        return;
    secret = json_string_value(json_object_get(o->config, in->hook_secret_field));
    if (!secret || !*secret)
        return;
    if (cfg_load(NULL, &cfg, &err) != 0 || cfg_public_origin(&cfg, origin, sizeof origin) != 0)
        origin[0] = '\0';
    enc = http_urlencode(secret);
    if (!enc) {
        fprintf(stderr, "idflow connect: out of memory: the webhook URL was not printed\n");
        return;
    }
    printf("webhook URL (POST; it holds the secret: paste it into %s's webhook setting and keep it private):\n"
           "  %s/hooks/%s/%s/%s\n",
           o->conn->name, origin[0] ? origin : "https://<idflow host>", o->conn->name, o->name, enc);
    seal_wipe(enc, strlen(enc));
    free(enc);
    if (!origin[0])
        printf("  (replace <idflow host> with the address HappyFox reaches idflow serve at, or set public_url)\n");
}

/* A reconnect without --protect (or --no-protect) keeps the protected
 * accounts of the stored connection of that name and kind: rotating a token
 * must not quietly lift them. */
static void keep_protected(struct store *st, const struct seal_key *key, struct opts *o)
{
    json_t *stored = NULL;
    const json_t *list;
    struct idf_err err;
    const char *kind;

    if (!o->conn->protect || o->no_protect || json_object_get(o->config, PROTECT_FIELD) ||
        cred_load(st, key, o->name, &stored, &err) != 0)
        return; /* asked for, none wanted, or nothing stored to keep */
    kind = json_string_value(json_object_get(stored, "kind"));
    list = json_object_get(stored, PROTECT_FIELD);
    if (kind && !strcmp(kind, o->conn->name) && json_is_array(list) && json_array_size(list) > 0 &&
        json_object_set_new(o->config, PROTECT_FIELD, json_deep_copy(list)) == 0)
        printf("%s connection %s: keeping its %zu protected account(s) (--protect replaces them, --no-protect "
               "clears them)\n",
               o->conn->name, o->name, json_array_size(list));
    cred_wipe_free(stored);
}

static int do_save(struct store *st, const struct seal_key *key, struct opts *o)
{
    struct idf_err err;
    char actor[300];
    bool created = false;
    int rc;

    keep_protected(st, key, o);
    if (cred_validate(o->conn, o->config, &err)) {
        log_mask_secrets(err.msg);
        fprintf(stderr, "idflow connect: %s\n", err.msg);
        return CLI_FAIL;
    }
    rc = check(o->conn, o->config, o->name);
    if (rc) {
        fprintf(stderr, "idflow connect: nothing was stored\n");
        return rc;
    }
    if (cred_prepare(o->conn, o->name, o->config, &err)) { /* e.g. the protected groups' ids */
        fprintf(stderr, "idflow connect: %s connection %s: %s\n", o->conn->name, o->name, err.msg);
        return CLI_FAIL;
    }
    cli_actor(actor, sizeof actor);
    if (cred_save(st, key, o->conn, o->name, o->config, actor, &created, &err)) {
        log_mask_secrets(err.msg);
        fprintf(stderr, "idflow connect: %s\n", err.msg);
        return CLI_FAIL;
    }
    printf("%s connection %s %s (secrets sealed)\n", o->conn->name, o->name, created ? "saved" : "replaced");
    print_hook_url(o);
    return CLI_OK;
}

int cli_connect(int argc, char **argv)
{
    struct opts o;
    struct store *st = NULL;
    struct seal_key *key = NULL;
    struct idf_err err;
    char dbbuf[1100], keypath[4200];
    const char *db;
    bool created = false;
    int rc;

    memset(&o, 0, sizeof o);
    o.config = json_object();
    if (!o.config)
        return CLI_FAIL;
    rc = parse(&o, argc, argv);
    if (rc || o.help) {
        if (o.help) {
            if (o.conn)
                usage_kind(stdout, o.conn);
            else
                usage_all(stdout);
        }
        goto out;
    }
    if (o.sandbox && json_object_set_new(o.config, "sandbox", json_true())) {
        rc = CLI_FAIL;
        goto out;
    }
    db = cli_db_url(o.db, dbbuf, sizeof dbbuf);
    /* The key first: IDFLOW_MASTER_KEY leaves the environment before anything
     * else runs, and a key problem stops us before any remote call. */
    if (!o.remove) {
        rc = cred_load_key(db, o.key_file, !o.test, &key, &created, &err);
        if (rc) {
            fprintf(stderr, "idflow connect: %s\n", err.msg);
            rc = CLI_FAIL;
            goto out;
        }
        if (created && cred_key_path(db, o.key_file, keypath, sizeof keypath, &err) == 0)
            fprintf(stderr,
                    "idflow connect: created the master key file %s (mode 0600); back it up: without it the "
                    "stored secrets cannot be opened\n",
                    keypath);
    }
    if (store_open(db, &st, &err)) {
        fprintf(stderr, "idflow connect: %s\n", err.msg);
        rc = CLI_FAIL;
        goto out;
    }
    if (o.remove)
        rc = do_remove(st, &o);
    else if (o.test)
        rc = do_test(st, key, &o);
    else if (o.register_hook)
        rc = cli__register_hook(st, key, o.conn, o.name, o.register_hook);
    else
        rc = do_save(st, key, &o);
out:
    store_close(st);
    seal_key_free(key);
    cred_wipe_free(o.config);
    return rc;
}

int cli_connections(int argc, char **argv)
{
    const char *db = NULL;
    bool as_json = false;
    struct store *st = NULL;
    struct idf_err err;
    struct store_connection_info *rows = NULL;
    json_t *list = NULL, *row;
    char dbbuf[1100];
    size_t i, n = 0;
    int rc = CLI_FAIL;

    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--json"))
            as_json = true;
        else if (!strcmp(argv[a], "--db") && a + 1 < argc)
            db = argv[++a];
        else if (!strncmp(argv[a], "--db=", 5))
            db = argv[a] + 5;
        else {
            fprintf(stderr, "usage: idflow connections [--json] [--db URL]\n");
            return CLI_USAGE;
        }
    }
    if (store_open(cli_db_url(db, dbbuf, sizeof dbbuf), &st, &err)) {
        fprintf(stderr, "idflow connections: %s\n", err.msg);
        return CLI_FAIL;
    }
    if (store_connection_list(st, &rows, &n) || !(list = render_connections(rows, n))) {
        fprintf(stderr, "idflow connections: cannot list connections\n");
        goto out;
    }
    if (as_json) {
        char *s = json_dumps(list, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (s)
            puts(s);
        free(s);
    } else if (json_array_size(list) == 0) {
        printf("no connections (add one with: idflow connect okta NAME --url URL --token-file F)\n");
    } else {
        printf("%-24s %-10s %-24s %s\n", "NAME", "KIND", "UPDATED", "CONFIG (secrets not shown)");
        json_array_foreach(list, i, row) {
            char ts[40];
            char *cfg = json_dumps(json_object_get(row, "config"), JSON_COMPACT | JSON_SORT_KEYS);
            time_format_iso(json_integer_value(json_object_get(row, "updated_at")), ts, sizeof ts);
            printf("%-24s %-10s %-24s %s\n", json_string_value(json_object_get(row, "name")),
                   json_string_value(json_object_get(row, "kind")), ts, cfg ? cfg : "{}");
            free(cfg);
        }
    }
    rc = CLI_OK;
out:
    json_decref(list);
    store_connection_list_free(rows, n);
    store_close(st);
    return rc;
}
