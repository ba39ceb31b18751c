/* common.c — what several subcommands share: the store URL, the store
 * itself, the actor name the audit log records for the command line, and
 * time formatting for listings. Main thread only. */
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/config.h"
#include "core/timeutil.h"
#include "store/store.h"

const char *cli_db_url(const char *flag, char *buf, unsigned long n)
{
    struct cfg cfg;
    struct idf_err err;
    if (flag)
        return flag;
    if (cfg_load(NULL, &cfg, &err) == 0) {
        snprintf(buf, n, "%s", cfg.db);
        return buf;
    }
    return "sqlite:idflow.db";
}

int cli_open_store(const char *db, struct store **st)
{
    char buf[1100];
    struct idf_err err;
    if (store_open(cli_db_url(db, buf, sizeof buf), st, &err)) {
        fprintf(stderr, "idflow: %s\n", err.msg);
        return CLI_FAIL;
    }
    return CLI_OK;
}

void cli_actor(char *out, unsigned long n)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        snprintf(out, n, "cli:%s", pw->pw_name);
    else
        snprintf(out, n, "cli:uid%u", (unsigned)geteuid());
}

void cli_fmt_time(int64_t ms, char *out, unsigned long n)
{
    if (ms <= 0)
        snprintf(out, n, "-");
    else
        time_format_iso(ms, out, n);
}
