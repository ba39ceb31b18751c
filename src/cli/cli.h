/* cli.h — the subcommands of the idflow binary. Each takes the arguments
 * after its own name (argv[0] is the subcommand) and returns the process
 * exit code: 0 ok, 1 the thing asked failed, 2 usage error. */
#ifndef IDF_CLI_CLI_H
#define IDF_CLI_CLI_H

#define IDFLOW_VERSION "0.1.0"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2
#define CLI_REPLAY_DESTRUCTIVE 3 /* `idflow replay`: the edited workflow would make a destructive call the
                                    stored version did not (issue 19) */

int cli_serve(int argc, char **argv);
int cli_validate(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_runs(int argc, char **argv);
int cli_history(int argc, char **argv); /* issue 17: a subject's timeline */
int cli_show(int argc, char **argv);
int cli_rerun(int argc, char **argv);
int cli_decide(int argc, char **argv); /* approve | reject */
int cli_release(int argc, char **argv); /* issue 19: release (or --reject) runs held at a guardrail */
int cli_cancel(int argc, char **argv); /* cancel a queued, waiting or running run */
int cli_catalogue(int argc, char **argv);
int cli_migrate(int argc, char **argv);
int cli_prune(int argc, char **argv);
int cli_demo(int argc, char **argv);        /* the sandbox, serve and the shipped workflows, with a report */
int cli_connect(int argc, char **argv);     /* connect KIND NAME ... (src/cli/connect.c) */
int cli_connections(int argc, char **argv); /* list connections without secrets */

int cli_token(int argc, char **argv);       /* API tokens: create | list | revoke (src/cli/token.c) */
int cli_audit(int argc, char **argv);       /* the audit log, newest first */
int cli_init(int argc, char **argv);        /* marks the store's API initialized (src/cli/token.c) */
int cli_replay(int argc, char **argv);      /* a workflow as edited, dry-run over recorded events (issue 19) */

/* common.c — shared by the subcommands. */
#include <stdint.h>
struct store;
/* Resolves the store URL from --db, then the config/env, then the default. */
const char *cli_db_url(const char *flag, char *buf, unsigned long n);
/* Opens the store at that URL; prints the error and returns CLI_FAIL on failure. */
int cli_open_store(const char *db, struct store **st);
/* "cli:<user name>" of the effective user: the actor of audit records. */
void cli_actor(char *out, unsigned long n);
/* An ISO time, or "-" for 0. */
void cli_fmt_time(int64_t ms, char *out, unsigned long n);

#endif
