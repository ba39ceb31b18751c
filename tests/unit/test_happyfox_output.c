/* test_happyfox_output.c — the HappyFox ticket output (hfc__output, the
 * shape every ticket action, webhook re-read and poll returns) holds no
 * value it does not own: jansson's allocator is replaced by a counting one
 * before anything else runs, and after each case frees what it made the
 * count of live jansson blocks is back where it started. A minimal ticket
 * ({"id":3}, no tags, no custom_fields) once leaked the empty arrays put in
 * their place (~104 bytes on every read: json_object_set kept its own
 * reference to a fresh json_array(); issue 20), which an ordinary build never
 * shows and a soak shows as growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "connectors/happyfox/happyfox_internal.h"

static atomic_long live; /* jansson blocks allocated and not yet freed */

static void *count_malloc(size_t n)
{
    void *p = malloc(n);
    if (p)
        atomic_fetch_add(&live, 1);
    return p;
}

static void count_free(void *p)
{
    if (p)
        atomic_fetch_sub(&live, 1);
    free(p);
}

/* Builds ticket from text, takes its output, frees both: the live count
 * must not move. Also checks the defaults a minimal ticket gets. */
static void output_frees_everything(const char *text, bool minimal)
{
    long before = atomic_load(&live);
    json_t *ticket = json_loads(text, 0, NULL), *out, *upd = json_integer(7);

    assert_non_null(ticket);
    assert_non_null(upd);
    out = hfc__output(ticket, upd, true);
    assert_non_null(out);
    assert_true(json_is_array(json_object_get(out, "tags")));
    assert_true(json_is_array(json_object_get(out, "custom_fields")));
    assert_true(json_is_object(json_object_get(out, "fields")));
    assert_int_equal(json_integer_value(json_object_get(out, "update_id")), 7);
    if (minimal) {
        assert_int_equal(json_array_size(json_object_get(out, "tags")), 0);
        assert_int_equal(json_integer_value(json_object_get(out, "number")), 3);
    }
    json_decref(out);
    json_decref(upd);
    json_decref(ticket);
    assert_int_equal(atomic_load(&live), before);
}

static void minimal_ticket_leaks_nothing(void **state)
{
    (void)state;
    output_frees_everything("{\"id\":3}", true);
}

static void full_ticket_leaks_nothing(void **state)
{
    (void)state;
    output_frees_everything("{\"id\":4,\"display_id\":\"#4\",\"subject\":\"s\",\"tags\":[\"a\"],"
                            "\"custom_fields\":[{\"name\":\"Login\",\"value\":\"x@y\"}],"
                            "\"status\":{\"id\":1,\"name\":\"New\",\"behavior\":\"pending\"},"
                            "\"user\":{\"id\":9,\"name\":\"N\",\"email\":\"n@x\"}}",
                            false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(minimal_ticket_leaks_nothing),
        cmocka_unit_test(full_ticket_leaks_nothing),
    };
    json_set_alloc_funcs(count_malloc, count_free); /* before any jansson value exists */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
