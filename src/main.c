/* main.c — the idflow command line: parses the subcommand and dispatches to
 * src/cli/. Sets up logging from the environment before anything else; no
 * other global state. The hidden command `__expr-worker` is the expression
 * evaluator child that isolated expression contexts start (src/expr/). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "expr/expr.h"

int sandbox_main(int argc, char **argv);

static const char usage[] =
    "idflow " IDFLOW_VERSION " — workflows for IT identity operations (Okta + HappyFox)\n"
    "\n"
    "usage: idflow COMMAND [OPTIONS]\n"
    "\n"
    "  serve    [--config FILE] [--db URL] [--listen ADDR:PORT] [--workflows DIR] [--workers N]\n"
    "           run the engine and the HTTP API (defaults: --db sqlite:idflow.db\n"
    "           --listen 127.0.0.1:8080 --workflows ./workflows)\n"
    "  validate [--db URL] FILE...\n"
    "           check workflow files; every error as file:line:column: message, and a warning for\n"
    "           a trigger whose events could never arrive on a stored connection (the store: --db, else\n"
    "           the configured one when it exists)\n"
    "  run      FILE [--event EVENT.json] [--input NAME=VALUE]... [--dry-run] [--db URL]\n"
    "           one run in the foreground (--dry-run calls nothing and prints what it would call);\n"
    "           --input sets one of a manual workflow's inputs (checked against its declaration)\n"
    "  replay   FILE --since 7d|TIME [--db URL] [--json]\n"
    "           the workflow as edited, dry-run over the events recorded since then, side by side with\n"
    "           what its stored version did (nothing is called or stored); exit 3 when it would make a\n"
    "           destructive call the stored version did not\n"
    "  runs     [--status S] [--workflow NAME] [--subject|--user LOGIN|ID|TICKET] [--source SRC[/VIA]]\n"
    "           [--since TIME] [--until TIME] [--before RUN] [--limit N] [--json] [--db URL]\n"
    "  history  USER|TICKET [--json] [--db URL]   every run that touched them, newest first, with what it changed\n"
    "  show     RUN [--json] [--db URL]    a run with each step's input, output and error\n"
    "  rerun    RUN [--force] [--db URL]   start a failed run again from its failed step (once)\n"
    "  approve  RUN [--comment TEXT]      approve the run's pending approval step\n"
    "  reject   RUN [--comment TEXT]      reject it (the step fails)\n"
    "  cancel   RUN [--reason TEXT]       stop a run: at once when it waits, after its current step when it runs\n"
    "  release  RUN... [--reject] [--comment TEXT]   let runs held at a connection's guardrail (budget of\n"
    "           destructive calls spent) go on, or fail them with --reject\n"
    "  sandbox  [--listen ADDR:PORT] [--seed FILE] [--token T] [--faults SPEC] [--rate-limit N]\n"
    "           the local Okta + HappyFox emulator\n"
    "  connect  okta|happyfox NAME ...  store a connection (secrets sealed); --test re-checks one\n"
    "  connections                  list connections (never their secrets)\n"
    "  init     [--db URL]   close the API for good: every request needs a token from now on\n"
    "  token    create NAME --role R [--expires-in 90d] | list | revoke NAME [--force]\n"
    "           API tokens; roles: viewer, approver, operator, admin (idflow token help)\n"
    "  audit    [--limit N] [--json]   who changed what: connections, tokens, approvals, re-runs\n"
    "  demo     [--once]            the sandbox, serve and the shipped workflows, played with a report\n"
    "  catalogue [--markdown]       every trigger and action with its parameters\n"
    "  migrate  [--db URL]          create or upgrade the database schema\n"
    "  prune    --older-than 90d [--db URL]   delete finished runs (and their steps) older than that\n"
    "  version                      print the version\n"
    "  help                         this text\n"
    "\n"
    "Exit status: 0 ok, 1 the thing asked failed, 2 usage error (replay: 3, see above).\n"
    "Settings: idflow.yaml (or --config FILE), overridden by IDFLOW_* variables, then by flags.\n";

/* The heap settings of a long-running server (serve, sandbox, demo), unless
 * the operator set glibc's own (GLIBC_TUNABLES wins). glibc gives a thread
 * arena's free top back to the kernel once it passes 128 KiB; each event's
 * work peaks at ~30 KiB a thread, so under a flood the arenas shrank and
 * grew thousands of times a second (madvise(MADV_DONTNEED), then page
 * faults and zeroed pages to grow again): ~30 % of the server's CPU per
 * event (docs/internals/performance.md). Keeping up to 8 MiB free per arena
 * (and growing 1 MiB at a time; blocks under 1 MiB from the heap, not mmap)
 * ends that; RSS at the peak of a flood did not change. */
static void heap_settings_for_a_server(void)
{
    if (getenv("GLIBC_TUNABLES"))
        return;
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    mallopt(M_TOP_PAD, 1 << 20);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

int main(int argc, char **argv)
{
    const char *cmd;
    const char *lvl = getenv("IDFLOW_LOG_LEVEL");
    enum log_level level;

    /* the expression evaluator child (src/expr/worker.c): nothing else runs */
    if (argc >= 2 && !strcmp(argv[1], "__expr-worker"))
        return expr_worker_main(argc - 1, argv + 1);
    if (lvl && log_level_parse(lvl, &level) == 0)
        log_set_level(level);
    /* The schedule trigger computes local times by setting TZ under a lock
     * (core/cron.c). Put TZ in the environment now, before any thread: later
     * changes then replace it in place, and never reallocate the environment
     * under a thread reading it (libjq and libcurl call getenv). Nothing in
     * idflow reads local time otherwise: logs and timestamps are UTC. */
    if (!getenv("TZ"))
        setenv("TZ", "UTC", 0);
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    cmd = argv[1];
    if (!strcmp(cmd, "serve") || !strcmp(cmd, "sandbox") || !strcmp(cmd, "demo"))
        heap_settings_for_a_server();
    argc--;
    argv++;
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("idflow %s\n", IDFLOW_VERSION);
        return CLI_OK;
    }
    if (!strcmp(cmd, "serve"))
        return cli_serve(argc, argv);
    if (!strcmp(cmd, "validate"))
        return cli_validate(argc, argv);
    if (!strcmp(cmd, "run"))
        return cli_run(argc, argv);
    if (!strcmp(cmd, "replay"))
        return cli_replay(argc, argv);
    if (!strcmp(cmd, "runs"))
        return cli_runs(argc, argv);
    if (!strcmp(cmd, "show"))
        return cli_show(argc, argv);
    if (!strcmp(cmd, "history"))
        return cli_history(argc, argv);
    if (!strcmp(cmd, "rerun"))
        return cli_rerun(argc, argv);
    if (!strcmp(cmd, "cancel"))
        return cli_cancel(argc, argv);
    if (!strcmp(cmd, "approve") || !strcmp(cmd, "reject"))
        return cli_decide(argc, argv);
    if (!strcmp(cmd, "release"))
        return cli_release(argc, argv);
    if (!strcmp(cmd, "sandbox"))
        return sandbox_main(argc, argv);
    if (!strcmp(cmd, "catalogue") || !strcmp(cmd, "catalog"))
        return cli_catalogue(argc, argv);
    if (!strcmp(cmd, "connect"))
        return cli_connect(argc, argv);
    if (!strcmp(cmd, "connections"))
        return cli_connections(argc, argv);
    if (!strcmp(cmd, "demo"))
        return cli_demo(argc, argv);
    if (!strcmp(cmd, "prune"))
        return cli_prune(argc, argv);
    if (!strcmp(cmd, "token") || !strcmp(cmd, "tokens"))
        return cli_token(argc, argv);
    if (!strcmp(cmd, "audit"))
        return cli_audit(argc, argv);
    if (!strcmp(cmd, "init"))
        return cli_init(argc, argv);
    if (!strcmp(cmd, "migrate"))
        return cli_migrate(argc, argv);
    fprintf(stderr, "idflow: unknown command '%s' (try: idflow help)\n", cmd);
    return CLI_USAGE;
}
