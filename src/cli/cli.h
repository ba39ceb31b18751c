/* cli.h — the subcommands of the idflow binary. Each takes the arguments
 * after its own name (argv[0] is the subcommand) and returns the process
 * exit code: 0 ok, 1 the thing asked failed, 2 usage error. */
#ifndef IDF_CLI_CLI_H
#define IDF_CLI_CLI_H

#define IDFLOW_VERSION "0.1.0"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

int cli_serve(int argc, char **argv);
int cli_validate(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_runs(int argc, char **argv);
int cli_show(int argc, char **argv);
int cli_rerun(int argc, char **argv);
int cli_decide(int argc, char **argv); /* approve | reject */
int cli_catalogue(int argc, char **argv);
int cli_migrate(int argc, char **argv);
int cli_prune(int argc, char **argv);
int cli_demo(int argc, char **argv);        /* the sandbox, serve and the shipped workflows, with a report */       /* retention: delete finished runs older than a duration */
int cli_connect(int argc, char **argv);     /* connect KIND NAME ... (src/cli/connect.c) */
int cli_connections(int argc, char **argv); /* list connections without secrets */

/* Resolves the store URL from --db, then the config/env, then the default. */
const char *cli_db_url(const char *flag, char *buf, unsigned long n);

#endif
