/* test_core.c — buffers with caps, redaction, durations, backoff, config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/buf.h"
#include "cli/config.h"
#include "core/log.h"
#include "core/subject.h"
#include "core/timeutil.h"

static void buf_cap_refuses_and_keeps_contents(void **state)
{
    struct buf b;
    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "abcd"), 0);
    assert_int_equal(buf_puts(&b, "efghi"), IDF_ETOOBIG);
    assert_string_equal(b.data, "abcd");
    assert_int_equal(buf_printf(&b, "%d", 1234), 0);
    assert_string_equal(b.data, "abcd1234");
    assert_int_equal(buf_printf(&b, "x"), IDF_ETOOBIG);
    buf_free(&b);
}

static void buf_printf_long_text(void **state)
{
    struct buf b;
    char big[2000];
    (void)state;
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_init(&b, 4096);
    assert_int_equal(buf_printf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 2001);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[2000], '>');
    buf_free(&b);
}

static void redact_secret_keys_at_any_depth(void **state)
{
    json_t *in = json_pack("{s:s,s:{s:s,s:s},s:[{s:s}]}", "url", "https://x", "headers", "Authorization",
                           "SSWS 00abcdefgh", "Accept", "application/json", "items", "api_key", "k-123456");
    json_t *out = log_redact(in);
    (void)state;
    assert_string_equal(json_string_value(json_object_get(out, "url")), "https://x");
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "headers"), "Authorization")),
                        "[redacted]");
    assert_string_equal(json_string_value(json_object_get(json_object_get(out, "headers"), "Accept")),
                        "application/json");
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(out, "items"), 0), "api_key")),
                        "[redacted]");
    json_decref(in);
    json_decref(out);
}

/* Ends a log capture begun with log_set_fd(fd) on the temporary file path:
 * the log goes back to stderr, and what was written is read into text (n
 * bytes at most, NUL-terminated); the file is removed. */
static void log_end_capture(int fd, const char *path, char *text, size_t n)
{
    FILE *f;
    size_t got;

    log_set_fd(2);
    close(fd);
    f = fopen(path, "r");
    assert_non_null(f);
    got = fread(text, 1, n - 1, f);
    text[got] = '\0';
    fclose(f);
    unlink(path);
}

static void registered_secret_masked_in_log_lines(void **state)
{
    char path[] = "/tmp/idflow-log-XXXXXX";
    int fd = mkstemp(path);
    char text[4096] = "";
    (void)state;
    assert_true(fd >= 0);
    log_add_secret("s3cr3t-token-value");
    log_set_fd(fd);
    log_info("calling with token s3cr3t-token-value now");
    {
        json_t *fields = json_pack("{s:s}", "note", "value s3cr3t-token-value inside");
        log_msg(LOG_WARN, fields, "fields");
        json_decref(fields);
    }
    log_end_capture(fd, path, text, sizeof text);
    assert_null(strstr(text, "s3cr3t-token-value"));
    assert_non_null(strstr(text, "\"level\":\"info\""));
    assert_non_null(strstr(text, "******************"));
}

/* The secret segment of a hook path (/hooks/<connector>/<connection>/<secret>,
 * the form HappyFox's webhook URL takes) is masked in every log line and by
 * log_mask_secrets, up to the end of the path; the rest of the line and
 * paths without a secret segment stay as they were. */
static void hook_path_secret_masked(void **state)
{
    char path[] = "/tmp/idflow-log-XXXXXX";
    int fd = mkstemp(path);
    char text[4096] = "";
    char s1[] = "POST /hooks/happyfox/hd/pathsecret-AbC%2F/x?q=1 from 10.0.0.1";
    char s2[] = "GET /hooks/okta/acme and /hooks/happyfox/hd, then \"/hooks/a/b/zz9secret\"";
    (void)state;
    log_mask_secrets(s1);
    assert_string_equal(s1, "POST /hooks/happyfox/hd/*******************?q=1 from 10.0.0.1");
    log_mask_secrets(s2);
    assert_string_equal(s2, "GET /hooks/okta/acme and /hooks/happyfox/hd, then \"/hooks/a/b/*********\"");
    assert_true(fd >= 0);
    log_set_fd(fd);
    log_warn("hook: request for /hooks/happyfox/hd/unregistered-path-secret refused");
    {
        json_t *fields = json_pack("{s:s}", "url", "https://idflow.example/hooks/happyfox/hd/unregistered-path-secret");
        log_msg(LOG_WARN, fields, "fields");
        json_decref(fields);
    }
    log_end_capture(fd, path, text, sizeof text);
    assert_null(strstr(text, "unregistered-path-secret"));
    assert_non_null(strstr(text, "/hooks/happyfox/hd/*****"));
}

static void durations(void **state)
{
    int64_t ms = 0;
    (void)state;
    assert_int_equal(time_parse_duration("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(time_parse_duration("2s", &ms), 0);
    assert_int_equal(ms, 2000);
    assert_int_equal(time_parse_duration("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(time_parse_duration("45", &ms), 0);
    assert_int_equal(ms, 45000);
    assert_int_equal(time_parse_duration("", &ms), IDF_EINVAL);
    assert_int_equal(time_parse_duration("5 minutes", &ms), IDF_EINVAL);
    assert_int_equal(time_parse_duration("s", &ms), IDF_EINVAL);
    assert_int_equal(time_parse_duration("999999d", &ms), IDF_EINVAL);
}

static void iso_round_trip(void **state)
{
    int64_t ms = 0;
    char buf[40];
    (void)state;
    assert_int_equal(time_parse_iso("2026-11-24T12:00:00.123Z", &ms), 0);
    time_format_iso(ms, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-24T12:00:00.123Z");
    assert_int_equal(time_parse_iso("2026-11-24T13:00:00+01:00", &ms), 0);
    time_format_iso(ms, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-24T12:00:00.000Z");
    assert_int_equal(time_parse_iso("yesterday", &ms), IDF_EINVAL);
}

static void backoff_grows_within_bounds(void **state)
{
    (void)state;
    for (int i = 0; i < 200; i++) {
        int64_t d1 = time_backoff_ms(1, 1000, 60000);
        int64_t d5 = time_backoff_ms(5, 1000, 60000);
        int64_t d20 = time_backoff_ms(20, 1000, 60000);
        assert_true(d1 >= 500 && d1 <= 1000);
        assert_true(d5 >= 500 && d5 <= 16000);
        assert_true(d20 >= 500 && d20 <= 60000);
    }
}

/* Makes path (a mkstemp template) a new file holding text: a config file. */
static void cfg_file(char *path, const char *text)
{
    int fd = mkstemp(path);
    size_t n = strlen(text);

    assert_true(fd >= 0);
    assert_true(write(fd, text, n) == (ssize_t)n);
    close(fd);
}

static void config_file_env_and_errors(void **state)
{
    char path[] = "/tmp/idflow-cfg-XXXXXX";
    struct cfg c;
    struct idf_err err;
    int fd;
    (void)state;
    cfg_file(path, "db: sqlite:/tmp/x.db\nworkers: 7\n");
    unsetenv("IDFLOW_WORKERS");
    setenv("IDFLOW_LISTEN", "127.0.0.1:9999", 1);
    assert_int_equal(cfg_load(path, &c, &err), 0);
    assert_string_equal(c.db, "sqlite:/tmp/x.db");
    assert_int_equal(c.workers, 7);
    assert_string_equal(c.listen, "127.0.0.1:9999");
    unsetenv("IDFLOW_LISTEN");

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(write(fd, "db: x\nworkerz: 3\n", 17) == 17);
    close(fd);
    assert_int_equal(cfg_load(path, &c, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "unknown setting 'workerz'"));
    assert_non_null(strstr(err.msg, ":2:"));
    unlink(path);
    assert_int_equal(cfg_load("/nonexistent/idflow.yaml", &c, &err), IDF_ENOTFOUND);
}

/* expr_timeout_ms / expr_memory_mb: defaults, file, environment, range. */
static void config_expression_budgets(void **state)
{
    char path[] = "/tmp/idflow-cfg-XXXXXX";
    struct cfg c;
    struct idf_err err;
    (void)state;
    cfg_file(path, "expr_timeout_ms: 250\n");
    unsetenv("IDFLOW_EXPR_TIMEOUT_MS");
    setenv("IDFLOW_EXPR_MEMORY_MB", "512", 1);
    assert_int_equal(cfg_load(path, &c, &err), 0);
    assert_int_equal(c.expr_timeout_ms, 250);
    assert_int_equal(c.expr_memory_mb, 512);
    unsetenv("IDFLOW_EXPR_MEMORY_MB");
    unlink(path);
    assert_int_equal(cfg_load("/dev/null", &c, &err), 0);
    assert_int_equal(c.expr_timeout_ms, 1000);
    assert_int_equal(c.expr_memory_mb, 256);
    setenv("IDFLOW_EXPR_TIMEOUT_MS", "0", 1);
    assert_int_equal(cfg_load("/dev/null", &c, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "expr_timeout_ms must be a number of milliseconds from 10 to 600000"));
    unsetenv("IDFLOW_EXPR_TIMEOUT_MS");
    setenv("IDFLOW_EXPR_MEMORY_MB", "16", 1);
    assert_int_equal(cfg_load("/dev/null", &c, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "expr_memory_mb must be a number of MiB from 64 to 65536"));
    unsetenv("IDFLOW_EXPR_MEMORY_MB");
}

/* lease_ms: default 60000, the file, then IDFLOW_LEASE_MS, then cfg_set (a
 * flag); a value out of CFG_LEASE_MIN_MS..CFG_LEASE_MAX_MS is refused with
 * the bounds, and cfg_set leaves the setting as it was. */
static void config_lease_ms(void **state)
{
    char path[] = "/tmp/idflow-cfg-XXXXXX";
    struct cfg c;
    struct idf_err err;
    (void)state;
    cfg_file(path, "lease_ms: 5000\n");
    unsetenv("IDFLOW_LEASE_MS");
    assert_int_equal(cfg_load("/dev/null", &c, &err), 0);
    assert_int_equal(c.lease_ms, 60000);
    assert_int_equal(cfg_load(path, &c, &err), 0);
    assert_int_equal(c.lease_ms, 5000);
    setenv("IDFLOW_LEASE_MS", "7000", 1);
    assert_int_equal(cfg_load(path, &c, &err), 0);
    assert_int_equal(c.lease_ms, 7000);
    assert_int_equal(cfg_set(&c, "lease_ms", "3600000", "--lease-ms", &err), 0);
    assert_int_equal(c.lease_ms, 3600000);
    assert_int_equal(cfg_set(&c, "lease_ms", "1999", "--lease-ms", &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "--lease-ms: lease_ms must be a number of milliseconds from 2000 to 3600000"));
    assert_int_equal(c.lease_ms, 3600000);
    assert_int_equal(cfg_set(&c, "lease_ms", "3600001", "--lease-ms", &err), IDF_EINVAL);
    setenv("IDFLOW_LEASE_MS", "5s", 1);
    assert_int_equal(cfg_load(path, &c, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "IDFLOW_LEASE_MS: lease_ms must be a number of milliseconds from 2000 to 3600000, "
                                    "got '5s'"));
    unsetenv("IDFLOW_LEASE_MS");
    unlink(path);
}

/* max_interruptions: default 3, the file, then IDFLOW_MAX_INTERRUPTIONS; a
 * value that is not 1..CFG_MAX_INTERRUPTIONS is refused with its name. */
static void config_max_interruptions(void **state)
{
    char path[] = "/tmp/idflow-cfg-XXXXXX";
    struct cfg c;
    struct idf_err err;
    (void)state;
    cfg_file(path, "max_interruptions: 5\n");
    unsetenv("IDFLOW_MAX_INTERRUPTIONS");
    assert_int_equal(cfg_load("/dev/null", &c, &err), 0);
    assert_int_equal(c.max_interruptions, 3);
    assert_int_equal(cfg_load(path, &c, &err), 0);
    assert_int_equal(c.max_interruptions, 5);
    setenv("IDFLOW_MAX_INTERRUPTIONS", "2", 1);
    assert_int_equal(cfg_load(path, &c, &err), 0);
    assert_int_equal(c.max_interruptions, 2);
    setenv("IDFLOW_MAX_INTERRUPTIONS", "0", 1);
    assert_int_equal(cfg_load(path, &c, &err), IDF_EINVAL);
    assert_non_null(strstr(err.msg, "IDFLOW_MAX_INTERRUPTIONS: max_interruptions must be a number from 1 to 1000"));
    setenv("IDFLOW_MAX_INTERRUPTIONS", "3x", 1);
    assert_int_equal(cfg_load(path, &c, &err), IDF_EINVAL);
    unsetenv("IDFLOW_MAX_INTERRUPTIONS");
    unlink(path);
}

static void listen_split(void **state)
{
    char a[64];
    int port;
    (void)state;
    assert_int_equal(cfg_split_listen("127.0.0.1:8080", a, sizeof a, &port), 0);
    assert_string_equal(a, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(cfg_split_listen("[::1]:0", a, sizeof a, &port), 0);
    assert_string_equal(a, "::1");
    assert_int_equal(cfg_split_listen("localhost", a, sizeof a, &port), IDF_EINVAL);
    assert_int_equal(cfg_split_listen("1.2.3.4:99999", a, sizeof a, &port), IDF_EINVAL);
}

static void allowed_hosts_and_public_url(void **state)
{
    struct cfg c;
    char buf[CFG_MAX_VALUE], origin[CFG_MAX_VALUE];
    const char *hosts[CFG_MAX_HOSTS + 1];
    (void)state;
    memset(&c, 0, sizeof c);
    snprintf(c.allowed_hosts, sizeof c.allowed_hosts, " idflow.corp.example,ops.example:9443  [::1]:8080,");
    assert_int_equal(cfg_hosts(&c, buf, hosts), 0);
    assert_string_equal(hosts[0], "idflow.corp.example");
    assert_string_equal(hosts[1], "ops.example:9443");
    assert_string_equal(hosts[2], "[::1]:8080");
    assert_null(hosts[3]);
    c.allowed_hosts[0] = '\0';
    for (int i = 0; i <= CFG_MAX_HOSTS; i++)
        strcat(c.allowed_hosts, "h.example,");
    assert_int_equal(cfg_hosts(&c, buf, hosts), IDF_EINVAL);

    snprintf(c.public_url, sizeof c.public_url, "HTTPS://Idflow.Example.com:8443/console?x=1");
    assert_int_equal(cfg_public_origin(&c, origin, sizeof origin), 0);
    assert_string_equal(origin, "https://idflow.example.com:8443");
    snprintf(c.public_url, sizeof c.public_url, "http://idflow.example.com");
    assert_int_equal(cfg_public_origin(&c, origin, sizeof origin), 0);
    assert_string_equal(origin, "http://idflow.example.com");
    c.public_url[0] = '\0';
    assert_int_equal(cfg_public_origin(&c, origin, sizeof origin), 0);
    assert_string_equal(origin, "");
    snprintf(c.public_url, sizeof c.public_url, "ftp://idflow.example.com");
    assert_int_equal(cfg_public_origin(&c, origin, sizeof origin), IDF_EINVAL);
    snprintf(c.public_url, sizeof c.public_url, "https://user:pw@idflow.example.com");
    assert_int_equal(cfg_public_origin(&c, origin, sizeof origin), IDF_EINVAL);
    snprintf(c.public_url, sizeof c.public_url, "https:///path");
    assert_int_equal(cfg_public_origin(&c, origin, sizeof origin), IDF_EINVAL);
}

/* A key is searched as it is stored: "#HF00000006", " Jane@Acme.COM " and
 * "hf00000006" are the same key; nothing empty, controlling or too long is. */
static void subject_key_normalizes_and_refuses(void **state)
{
    char out[SUBJECT_KEY_MAX], small[4];
    char long_in[SUBJECT_KEY_MAX + 8];
    (void)state;
    assert_int_equal(subject_key(" Jane@Acme.COM\t", out, sizeof out), 0);
    assert_string_equal(out, "jane@acme.com");
    assert_int_equal(subject_key("#HF00000006", out, sizeof out), 0);
    assert_string_equal(out, "hf00000006");
    assert_int_equal(subject_key("00uAbC", out, sizeof out), 0);
    assert_string_equal(out, "00uabc");
    assert_int_equal(subject_key("Zoë", out, sizeof out), 0);
    assert_string_equal(out, "zoë");
    assert_int_equal(subject_key("  # ", out, sizeof out), IDF_EINVAL);
    assert_int_equal(subject_key("#", out, sizeof out), IDF_EINVAL);
    assert_int_equal(subject_key("", out, sizeof out), IDF_EINVAL);
    assert_int_equal(subject_key(NULL, out, sizeof out), IDF_EINVAL);
    assert_int_equal(subject_key("a\nb", out, sizeof out), IDF_EINVAL);
    assert_string_equal(out, "");
    assert_int_equal(subject_key("abcd", small, sizeof small), IDF_EINVAL);
    assert_int_equal(subject_key("abc", small, sizeof small), 0);
    memset(long_in, 'a', sizeof long_in - 1);
    long_in[sizeof long_in - 1] = '\0';
    assert_int_equal(subject_key(long_in, out, sizeof out), IDF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(subject_key_normalizes_and_refuses),
        cmocka_unit_test(buf_cap_refuses_and_keeps_contents),
        cmocka_unit_test(buf_printf_long_text),
        cmocka_unit_test(redact_secret_keys_at_any_depth),
        cmocka_unit_test(registered_secret_masked_in_log_lines),
        cmocka_unit_test(hook_path_secret_masked),
        cmocka_unit_test(durations),
        cmocka_unit_test(iso_round_trip),
        cmocka_unit_test(backoff_grows_within_bounds),
        cmocka_unit_test(config_file_env_and_errors),
        cmocka_unit_test(config_expression_budgets),
        cmocka_unit_test(config_max_interruptions),
        cmocka_unit_test(config_lease_ms),
        cmocka_unit_test(listen_split),
        cmocka_unit_test(allowed_hosts_and_public_url),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
