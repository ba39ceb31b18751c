/* config.h — the settings of idflow's subcommands (in cli/: only they read
 * them, and checking the evaluator's limits needs expr/, which core/ must not
 * include): defaults, then idflow.yaml, then IDFLOW_*
 * environment variables, then command-line flags (each overrides the one
 * before). The file is a flat YAML mapping of the keys below. */
#ifndef IDF_CLI_CONFIG_H
#define IDF_CLI_CONFIG_H

#include <stdint.h>

#include "core/err.h"

#define CFG_MAX_VALUE 1024

struct cfg {
    char db[CFG_MAX_VALUE];        /* db:        IDFLOW_DB         default sqlite:idflow.db */
    char listen[CFG_MAX_VALUE];    /* listen:    IDFLOW_LISTEN     default 127.0.0.1:8080 */
    char workflows[CFG_MAX_VALUE]; /* workflows: IDFLOW_WORKFLOWS  default ./workflows */
    char log_level[32];            /* log_level: IDFLOW_LOG_LEVEL  default info */
    char node_id[256];             /* node_id:   IDFLOW_NODE_ID    default the host name */
    int workers;                   /* workers:   IDFLOW_WORKERS    default 4 */
    int max_interruptions;         /* max_interruptions: IDFLOW_MAX_INTERRUPTIONS  default 3: a run whose
                                      process died this many times in a row at one step is failed */
    char public_url[CFG_MAX_VALUE];    /* public_url:    IDFLOW_PUBLIC_URL     "https://host[:port]", default none */
    char allowed_hosts[CFG_MAX_VALUE]; /* allowed_hosts: IDFLOW_ALLOWED_HOSTS  "a.example.com, b:8443", default none */
    int expr_timeout_ms; /* expr_timeout_ms: IDFLOW_EXPR_TIMEOUT_MS  one expression evaluation's time budget, default 1000 */
    int expr_memory_mb;  /* expr_memory_mb:  IDFLOW_EXPR_MEMORY_MB   an expression evaluator's memory budget, default 256 */
    /* (helper "keeper") */
    int64_t lease_ms;    /* lease_ms: IDFLOW_LEASE_MS  a run's lease (how long a dead node's runs wait before
                            another node takes them over), default ENGINE_DEFAULT_LEASE_MS (60000) */
};

#define CFG_MAX_HOSTS 32 /* names in allowed_hosts */
#define CFG_MAX_INTERRUPTIONS 1000 /* highest max_interruptions accepted */
#define CFG_LEASE_MIN_MS 2000       /* lease_ms: below this, renewals (every third) crowd the database */
#define CFG_LEASE_MAX_MS 3600000    /* lease_ms: above this, a dead node's runs wait more than an hour */

/* Splits allowed_hosts (names separated by commas and/or spaces) into at
 * most CFG_MAX_HOSTS strings: hosts[] points into buf (a copy made here,
 * CFG_MAX_VALUE bytes), NULL-terminated. IDF_EINVAL when there are more. */
int cfg_hosts(const struct cfg *c, char buf[CFG_MAX_VALUE], const char *hosts[CFG_MAX_HOSTS + 1]) IDF_MUST_USE;

/* The origin ("scheme://host[:port]", lower-cased) of public_url into out;
 * "" when public_url is unset. IDF_EINVAL when it is not an http(s) URL. */
int cfg_public_origin(const struct cfg *c, char *out, size_t n) IDF_MUST_USE;

/* Fills defaults, then reads path (NULL: "idflow.yaml" if it exists, else
 * nothing), then the environment. IDF_EINVAL with file:line for a bad file or
 * an unknown key; a missing explicit path is IDF_ENOTFOUND. */
int cfg_load(const char *path, struct cfg *out, struct idf_err *err) IDF_MUST_USE;

/* Sets one setting as the file or the environment would (a command-line
 * flag: where names it in the error). IDF_EINVAL for an unknown key or a bad
 * value, and c is unchanged. */
int cfg_set(struct cfg *c, const char *key, const char *value, const char *where, struct idf_err *err) IDF_MUST_USE;

/* Splits "ADDR:PORT" ("[::1]:8080" for IPv6) into addr and port. */
int cfg_split_listen(const char *s, char *addr, size_t addr_len, int *port) IDF_MUST_USE;

#endif
