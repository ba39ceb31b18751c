/* storeurl.c — the database of one contract test (storeurl.h): substitutes
 * the tag, and creates the PostgreSQL schema it names over libpq; opens
 * and closes a test's store on it (tu_store_fx_*). */
#include "support/storeurl.h"

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "store/store.h"
#include "support/testutil.h"

static int is_pg(const char *url)
{
    return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

/* Creates schema tag on url's database. */
static int create_schema(const char *url, const char *tag)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r = NULL;
    char *ident = NULL;
    char sql[256];
    int rc = -1;

    if (!c || PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "storeurl: cannot connect to create schema %s: %s\n", tag, c ? PQerrorMessage(c) : "no memory");
        goto out;
    }
    ident = PQescapeIdentifier(c, tag, strlen(tag));
    if (!ident)
        goto out;
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", ident);
    r = PQexec(c, sql);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "storeurl: %s: %s\n", sql, PQerrorMessage(c));
        goto out;
    }
    rc = 0;
out:
    PQclear(r);
    PQfreemem(ident);
    PQfinish(c);
    return rc;
}

int tu_store_url(const char *tmpl, const char *tag, char *out, size_t n)
{
    const char *p = strstr(tmpl, "%s");
    int w;

    if (p)
        w = snprintf(out, n, "%.*s%s%s", (int)(p - tmpl), tmpl, tag, p + 2);
    else
        w = snprintf(out, n, "%s", tmpl);
    if (w < 0 || (size_t)w >= n) {
        fprintf(stderr, "storeurl: the test's database URL is longer than %zu bytes\n", n);
        return -1;
    }
    if (p && is_pg(out))
        return create_schema(out, tag);
    return 0;
}

int tu_pg_fresh_url(const char *what, char *out, size_t n)
{
    static int seq;
    const char *base = getenv("IDFLOW_TEST_PG_URL");
    char tmpl[1024], tag[64];

    if (!base || !*base) {
        fprintf(stderr, "IDFLOW_TEST_PG_URL is not set: this suite needs a PostgreSQL server; run it through "
                        "tests/pg/run.sh (make test), which starts one\n");
        return -1;
    }
    snprintf(tmpl, sizeof tmpl, "%s?options=-csearch_path%%3D%%s", base);
    snprintf(tag, sizeof tag, "tpg_%s_%d_%d", what, (int)getpid(), ++seq);
    return tu_store_url(tmpl, tag, out, n);
}

int tu_store_fx_open(const char *prefix, struct tu_store_fx *f)
{
    static atomic_int seq;
    const char *env = getenv("IDFLOW_TEST_STORE_URL");
    struct idf_err err = {0};
    char tag[64];

    memset(f, 0, sizeof *f);
    snprintf(tag, sizeof tag, "%s%d_%d", prefix, (int)getpid(), atomic_fetch_add(&seq, 1) + 1);
    if (env && *env) {
        if (tu_store_url(env, tag, f->url, sizeof f->url) != 0)
            return -1;
    } else {
        snprintf(f->dir, sizeof f->dir, "%s/idflow-%s-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", prefix);
        if (!mkdtemp(f->dir))
            return -1;
        snprintf(f->url, sizeof f->url, "sqlite:%s/test.db", f->dir);
    }
    if (store_open(f->url, &f->s, &err) != 0) {
        fprintf(stderr, "store_open(%s): %s\n", f->url, err.msg);
        return -1;
    }
    return 0;
}

void tu_store_fx_close(struct tu_store_fx *f)
{
    store_close(f->s);
    f->s = NULL;
    if (f->dir[0])
        tu_rm_rf(f->dir);
}
