/* test_happyfox_poll.c — the HappyFox ticket-list poller's cursor, against a
 * scripted HappyFox on loopback (support/testsrv) so that two changes of one
 * ticket can share a last_modified second, which a live account (or the
 * sandbox) makes only by chance: HappyFox stamps modifications to the
 * second, so the cursor keeps the tickets taken at its second with their
 * newest update, and a ticket changed again within that second is taken
 * again (its new update raises its event), whatever the list's order within
 * the second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "connectors/connector.h"
#include "support/testsrv.h"

extern const struct connector connector_happyfox;

#define LIST_PATH "/api/1.1/json/tickets/"
#define T0 "2026-12-07 10:00:00"

struct env {
    struct testsrv *srv;
    struct http_client *http;
    json_t *conn;
    void *slot;
};

static struct env E;

static int setup(void **state)
{
    (void)state;
    E.srv = testsrv_start();
    assert_int_equal(http_client_new(&E.http), 0);
    E.conn = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "name", "hp", "url", testsrv_url(E.srv), "api_key", "k",
                       "auth_code", "c", "sandbox", 1, "mode", "poll");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (E.slot && connector_happyfox.thread_slot_free)
        connector_happyfox.thread_slot_free(E.slot);
    json_decref(E.conn);
    http_client_free(E.http);
    testsrv_stop(E.srv);
    return 0;
}

/* A ticket as the list returns it, modified at lm, with updates 1..n (update
 * 1 creates it in status New; update k > 1 moves it to Resolved when k ==
 * resolved_at, else adds a note), each stamped at lm. */
static json_t *ticket(int number, const char *lm, int n, int resolved_at)
{
    json_t *ups = json_array();
    const char *status = "New";

    for (int k = 1; k <= n; k++) {
        json_t *u = json_pack("{s:i, s:s, s:{s:i, s:s}}", "update_id", number * 100 + k, "timestamp", lm, "by", "id",
                              1, "name", "Agent");
        if (k == resolved_at) {
            json_object_set_new(u, "status_change",
                                json_pack("{s:{s:i, s:s, s:s}, s:{s:i, s:s, s:s}}", "old", "id", 1, "name", "New",
                                          "behavior", "pending", "new", "id", 3, "name", "Resolved", "behavior",
                                          "completed"));
            status = "Resolved";
        }
        json_array_append_new(ups, u);
    }
    return json_pack("{s:i, s:s, s:s, s:s, s:{s:i, s:s, s:s}, s:{s:i, s:s}, s:o}", "id", number, "display_id",
                     "#HF1", "subject", "s", "last_modified", lm, "status", "id", strcmp(status, "New") ? 3 : 1,
                     "name", status, "behavior", strcmp(status, "New") ? "completed" : "pending", "category", "id",
                     1, "name", "IT Support", "updates", ups);
}

/* The next list request answers these tickets (stolen), newest first. */
static void list_answers(json_t *tickets)
{
    json_t *page = json_pack("{s:o, s:{s:i, s:i}}", "data", tickets, "page_info", "count", 1, "page_count", 1);
    char *body = json_dumps(page, JSON_COMPACT);
    struct testsrv_answer a = {.body = body};

    testsrv_on(E.srv, LIST_PATH, &a, 1);
    free(body);
    json_decref(page);
}

/* One poll from cursor; its events (NULL when none) and the new cursor
 * (into *cursor_out, NULL when unchanged; caller frees). */
static json_t *poll_once(const char *cursor, char **cursor_out)
{
    struct conn_poll p;

    memset(&p, 0, sizeof p);
    p.http = E.http;
    p.connection = E.conn;
    p.connection_name = "hp";
    p.cursor = cursor;
    p.thread_slot = &E.slot;
    assert_int_equal(connector_happyfox.ingress->poll(&p), 0);
    *cursor_out = p.cursor_out;
    return p.events;
}

static bool has_event(const json_t *events, const char *id)
{
    size_t i;
    const json_t *e;

    json_array_foreach (events, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "id")), id) == 0)
            return true;
    }
    return false;
}

/* Ticket 6 is created and taken at T0; within the same second it is
 * resolved (same last_modified, a newer update): the next poll takes it
 * again and raises ticket_resolved; the one after that takes nothing. */
static void test_change_within_the_cursor_second(void **state)
{
    char *c1 = NULL, *c2 = NULL, *c3 = NULL, *c4 = NULL;
    json_t *ev;
    (void)state;

    list_answers(json_pack("[o]", ticket(6, T0, 1, 0)));
    ev = poll_once(NULL, &c1); /* the first poll only sets the cursor */
    assert_null(ev);
    assert_non_null(c1);

    list_answers(json_pack("[o, o]", ticket(7, T0, 1, 0), ticket(6, T0, 1, 0)));
    ev = poll_once(c1, &c2); /* ticket 7, new at T0, listed before the ticket taken */
    assert_true(has_event(ev, "hp:7:created"));
    assert_false(has_event(ev, "hp:6:created"));
    json_decref(ev);
    assert_non_null(c2);

    list_answers(json_pack("[o, o]", ticket(7, T0, 1, 0), ticket(6, T0, 2, 2)));
    ev = poll_once(c2, &c3);
    assert_non_null(ev);
    assert_true(has_event(ev, "hp:6:r602"));
    assert_true(has_event(ev, "hp:6:s602"));
    assert_false(has_event(ev, "hp:7:created"));
    json_decref(ev);
    assert_non_null(c3);

    list_answers(json_pack("[o, o]", ticket(7, T0, 1, 0), ticket(6, T0, 2, 2)));
    ev = poll_once(c3, &c4); /* nothing new */
    assert_true(ev == NULL || json_array_size(ev) == 0);
    json_decref(ev);
    free(c1);
    free(c2);
    free(c3);
    free(c4);
}

/* A cursor written before the update ids were kept ({"n": [numbers]})
 * still counts its tickets as taken: no event is raised again. */
static void test_older_cursor_is_taken_whole(void **state)
{
    char *out = NULL;
    json_t *ev;
    (void)state;

    list_answers(json_pack("[o]", ticket(6, T0, 2, 2)));
    ev = poll_once("{\"t\":\"" T0 "\",\"n\":[6]}", &out);
    assert_true(ev == NULL || json_array_size(ev) == 0);
    json_decref(ev);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_within_the_cursor_second),
        cmocka_unit_test(test_older_cursor_is_taken_whole),
    };
    return cmocka_run_group_tests_name("happyfox_poll", tests, setup, teardown);
}
