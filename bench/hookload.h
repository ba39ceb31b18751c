/* hookload.h — what the benchmarks that post Okta hooks share: the
 * delivery (a user.account.lock, ~1.9 KB) and its POST, the one-step
 * lockout-to-ticket workflow, the setup of a database with an Okta
 * connection (and optionally a HappyFox one) whose hook secrets they know,
 * and starting `idflow serve` on it. Header-only, for bench programs. */
#ifndef IDF_BENCH_HOOKLOAD_H
#define IDF_BENCH_HOOKLOAD_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "net/http.h"
#include "support/testutil.h"

#define BENCH_SANDBOX_TOKEN "sbx-0123456789-abcdefghij-TOKEN"
#define BENCH_HOOK_SECRET "bench-hook-secret-0123456789abcdef"
#define BENCH_HF_SECRET "bench-hf-secret-0123456789abcdef0"
#define BENCH_HF_BASIC "Authorization: Basic c2FuZGJveC1oZi1rZXk6c2FuZGJveC1oZi1jb2Rl" /* sandbox-hf-key:code */

/* One Okta event-hook delivery of a user.account.lock, padded with the
 * client, request and transaction blocks Okta sends to about 1.9 KB. */
static inline void bench_okta_lock_delivery(char *out, size_t n, int round, int i)
{
    snprintf(out, n,
             "{\"eventType\":\"com.okta.event_hook\",\"eventTypeVersion\":\"1.0\",\"cloudEventsVersion\":\"0.1\","
             "\"source\":\"https://acme.okta.com/api/v1/eventHooks/who8bench\",\"eventId\":\"hook-%d-%d\","
             "\"data\":{\"events\":[{\"uuid\":\"flood-%d-%d\",\"published\":\"2026-12-07T10:00:00.000Z\","
             "\"eventType\":\"user.account.lock\",\"version\":\"0\",\"displayMessage\":\"Max sign in attempts "
             "exceeded\",\"severity\":\"WARN\",\"client\":{\"userAgent\":{\"rawUserAgent\":\"Mozilla/5.0 (X11; "
             "Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\",\"os\":\"Linux\","
             "\"browser\":\"CHROME\"},\"zone\":\"null\",\"device\":\"Computer\",\"id\":null,\"ipAddress\":"
             "\"198.51.100.7\",\"geographicalContext\":{\"city\":\"Chennai\",\"state\":\"Tamil Nadu\",\"country\":"
             "\"India\",\"postalCode\":\"600001\",\"geolocation\":{\"lat\":13.0878,\"lon\":80.2785}}},"
             "\"device\":null,\"actor\":{\"id\":\"00ub%07d\",\"type\":\"User\",\"alternateId\":"
             "\"user%d@acme.example\",\"displayName\":\"User %d\",\"detailEntry\":null},\"outcome\":{\"result\":"
             "\"FAILURE\",\"reason\":\"LOCKED_OUT\"},\"target\":null,\"transaction\":{\"type\":\"WEB\",\"id\":"
             "\"Xbench%d\",\"detail\":{}},\"debugContext\":{\"debugData\":{\"requestId\":\"Xbench%d\",\"dtHash\":"
             "\"d6ac8c1ea12a2f7c4f4c3c7f0d2a1b5e9e0f8a7b6c5d4e3f2a1b0c9d8e7f6a5b\",\"requestUri\":"
             "\"/idp/idx/challenge/answer\",\"threatSuspected\":\"false\",\"url\":\"/idp/idx/challenge/answer?\"}},"
             "\"legacyEventType\":\"core.user_auth.account_locked\",\"authenticationContext\":{\"authenticationStep\":"
             "0,\"externalSessionId\":\"102bench%d\",\"interface\":null,\"credentialProvider\":null,"
             "\"credentialType\":null,\"issuer\":null,\"authenticationProvider\":null},\"securityContext\":"
             "{\"asNumber\":64496,\"asOrg\":\"example\",\"isp\":\"example\",\"domain\":\"example.net\",\"isProxy\":"
             "false},\"insertionTimestamp\":null}]}}",
             round, i, round, i, i % 10000000, i, i, i, i, i);
}

/* POSTs body, an Okta event-hook delivery, to url with the connection's
 * hook secret on client c: true when it was acknowledged (200). */
static inline bool bench_post_delivery(struct http_client *c, const char *url, const char *body)
{
    const char *h[] = {"Content-Type: application/json", "Authorization: " BENCH_HOOK_SECRET, NULL};
    struct http_request rq;
    struct http_response rs;
    struct idf_err err;
    bool ok;

    memset(&rq, 0, sizeof rq);
    rq.method = "POST";
    rq.url = url;
    rq.headers = h;
    rq.body = body;
    rq.body_len = strlen(body);
    rq.timeout_ms = 60000;
    ok = http_client_do(c, &rq, &rs, &err) == 0 && rs.status == 200;
    http_response_free(&rs);
    return ok;
}

/* Creates the folder wfdir (0700) with the one-step workflow in
 * lock.yaml: okta.user_locked -> http.request POSTing a ticket to
 * stub_url/tickets (a loopback stub). 0, or -1 when it cannot. */
static inline int bench_lockout_workflow(const char *wfdir, const char *stub_url)
{
    char wf[1200], path[700];

    snprintf(wf, sizeof wf,
             "name: lockout-ticket\non:\n  okta.user_locked: {}\n"
             "allow_private_network: true # the ticket stub is on loopback\n"
             "steps:\n  - id: ticket\n    do: http.request\n    with:\n      method: POST\n"
             "      url: \"%s/tickets\"\n      json:\n        subject: \"Locked out: ${{ .event.user.login }}\"\n"
             "        login: \"${{ .event.user.login }}\"\n",
             stub_url);
    snprintf(path, sizeof path, "%s/lock.yaml", wfdir);
    return mkdir(wfdir, 0700) || tu_write_file(path, wf) ? -1 : 0;
}

/* The ticket stub's answer to a created ticket: 201 {"id":1} (500 when the
 * body cannot be written). */
static inline void bench_answer_ticket(struct http_resp *resp)
{
    resp->status = 201;
    if (buf_puts(&resp->body, "{\"id\":1}"))
        resp->status = 500;
}

/* Starts `idflow serve` on db with the workflows of wfdir, 4 workers (the
 * default), on a free loopback port (its base URL into base), and waits
 * up to 60 s for /readyz: 0 when it is ready; else it is stopped. */
static inline int bench_serve_start(const char *bin, const char *db, const char *wfdir, struct tu_proc *srv, char *base,
                                    size_t base_n)
{
    char listen[64], url[200];
    const char *argv[] = {bin, "serve", "--db", db, "--listen", listen, "--workflows", wfdir, "--workers", "4", NULL};
    const char *env[] = {"IDFLOW_LOG_LEVEL=warn", NULL};

    snprintf(listen, sizeof listen, "127.0.0.1:%d", tu_free_port());
    snprintf(base, base_n, "http://%s", listen);
    snprintf(url, sizeof url, "%s/readyz", base);
    if (tu_spawn(argv, env, srv))
        return 1;
    if (tu_wait_http_ok(url, 60000)) {
        tu_kill(srv, SIGTERM);
        tu_wait(srv, 10000);
        tu_proc_cleanup(srv);
        return 1;
    }
    return 0;
}

/* The value of the /metrics line that starts with name (give the name with
 * its labels and a trailing space: "idflow_events_total "), or -1 when
 * there is none or /metrics did not answer 200. auth_header: an
 * "Authorization: ..." line, or NULL. */
static inline long bench_metric(const char *base, const char *auth_header, const char *name)
{
    char url[200], *body = NULL, *p;
    const char *h[] = {auth_header, NULL};
    long status = 0, v = -1;

    snprintf(url, sizeof url, "%s/metrics", base);
    if (tu_http("GET", url, NULL, h, &status, &body) || status != 200) {
        free(body);
        return -1;
    }
    for (p = body; p; p = strchr(p, '\n')) { /* a line that starts with name (not a # HELP line) */
        p += *p == '\n';
        if (strncmp(p, name, strlen(name)) == 0) {
            v = atol(p + strlen(name));
            break;
        }
    }
    free(body);
    return v;
}

/* Starts `idflow sandbox`, connects the Okta connection "bench" (hook secret
 * BENCH_HOOK_SECRET) into db, and with happyfox the HappyFox connection "hd"
 * (webhook secret BENCH_HF_SECRET, hook mode). With keep, the sandbox is
 * left running in *keep (its URL in sburl) for the caller to stop; else it
 * is stopped. 0 on success. */
static inline int bench_hook_setup(const char *bin, const char *dir, const char *db, bool happyfox,
                                   struct tu_proc *keep, char *sburl_out, size_t sburl_n)
{
    struct tu_proc sb, c;
    char sburl[200] = "", tok[700], hs[700], hfs[700], cmd[2500];
    int64_t deadline;
    int rc = 1;

    snprintf(tok, sizeof tok, "%s/tok", dir);
    snprintf(hs, sizeof hs, "%s/hs", dir);
    snprintf(hfs, sizeof hfs, "%s/hfs", dir);
    snprintf(cmd, sizeof cmd,
             "printf %%s '%s' > '%s' && printf %%s '%s' > '%s' && printf %%s '%s' > '%s' && chmod 600 '%s' '%s' '%s'",
             BENCH_SANDBOX_TOKEN, tok, BENCH_HOOK_SECRET, hs, BENCH_HF_SECRET, hfs, tok, hs, hfs);
    if (system(cmd) != 0)
        return 1;
    {
        const char *argv[] = {bin, "sandbox", "--listen", "127.0.0.1:0", "--token", BENCH_SANDBOX_TOKEN, NULL};
        if (tu_spawn(argv, NULL, &sb))
            return 1;
    }
    deadline = tu_now_ms() + 15000;
    while (!tu_sandbox_url(&sb, sburl, sizeof sburl) && tu_now_ms() < deadline) {
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    {
        const char *argv[] = {
            bin, "connect", "okta", "bench", "--url", sburl, "--sandbox", "--token-file", tok, "--hook-secret-file",
            hs,  "--db",    db,     NULL};
        if (sburl[0] && tu_spawn(argv, NULL, &c) == 0) {
            rc = tu_wait(&c, 30000) != 0;
            tu_proc_cleanup(&c);
        }
    }
    if (rc == 0 && happyfox) {
        const char *argv[] = {bin,
                              "connect",
                              "happyfox",
                              "hd",
                              "--url",
                              sburl,
                              "--api-key-env",
                              "HF_KEY",
                              "--auth-code-env",
                              "HF_CODE",
                              "--sandbox",
                              "--hook-secret-file",
                              hfs,
                              "--mode",
                              "hook",
                              "--db",
                              db,
                              NULL};
        const char *env[] = {"HF_KEY=sandbox-hf-key", "HF_CODE=sandbox-hf-code", NULL};
        rc = 1;
        if (tu_spawn(argv, env, &c) == 0) {
            rc = tu_wait(&c, 30000) != 0;
            tu_proc_cleanup(&c);
        }
    }
    if (keep && rc == 0) {
        *keep = sb;
        snprintf(sburl_out, sburl_n, "%s", sburl);
        return 0;
    }
    tu_kill(&sb, SIGTERM);
    tu_wait(&sb, 10000);
    tu_proc_cleanup(&sb);
    return rc;
}

#endif
