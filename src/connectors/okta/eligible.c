/* eligible.c — Okta's hook-eligible event types (eligible.h), read from
 * event-hook-eligible.txt, which is assembled into .rodata with `.incbin`
 * exactly as the web UI's files are (src/ui/assets.c): the committed text
 * file is the only copy, nothing is generated, and the build never reads
 * anything outside the repository. The Makefile makes this object depend on
 * the .txt (-MMD cannot see an .incbin).
 *
 * Format: one type a line, optionally followed by " beta"; lines starting
 * with '#' and empty lines are skipped. A look-up scans the ~12 KB of text
 * (a few microseconds; it runs at validation, registration and on the
 * sandbox's eventHooks calls, never per event). tests/unit/test_okta_eligible.c
 * checks every line's shape and the count. Read-only; any thread. */
#include <string.h>
#include <strings.h>

#include "connectors/okta/eligible.h"

#define ELIGIBLE_BETA " beta"

__asm__(".pushsection .rodata\n"
        ".global idf_okta_eligible_txt\n"
        ".hidden idf_okta_eligible_txt\n"
        ".type idf_okta_eligible_txt, @object\n"
        "idf_okta_eligible_txt:\n"
        ".incbin \"src/connectors/okta/event-hook-eligible.txt\"\n"
        "idf_okta_eligible_txt_end:\n"
        ".byte 0\n"
        ".size idf_okta_eligible_txt, idf_okta_eligible_txt_end - idf_okta_eligible_txt\n"
        ".balign 8\n"
        ".global idf_okta_eligible_txt_size\n"
        ".hidden idf_okta_eligible_txt_size\n"
        ".type idf_okta_eligible_txt_size, @object\n"
        "idf_okta_eligible_txt_size:\n"
        ".quad idf_okta_eligible_txt_end - idf_okta_eligible_txt\n"
        ".size idf_okta_eligible_txt_size, 8\n"
        ".popsection\n");
extern const char idf_okta_eligible_txt[];
extern const unsigned long long idf_okta_eligible_txt_size;

/* One entry found by next_entry: a type of len bytes at type (not
 * NUL-terminated) and its beta flag. */
struct entry {
    const char *type;
    size_t len;
    bool beta;
};

/* The entry at or after *pos (an offset into the text), advancing *pos past
 * its line; false at the end of the text. */
static bool next_entry(size_t *pos, struct entry *e)
{
    const char *txt = idf_okta_eligible_txt;
    size_t n = (size_t)idf_okta_eligible_txt_size;

    while (*pos < n) {
        const char *line = txt + *pos;
        const char *nl = memchr(line, '\n', n - *pos);
        size_t len = nl ? (size_t)(nl - line) : n - *pos;

        *pos += len + (nl ? 1 : 0);
        if (len && line[len - 1] == '\r')
            len--;
        if (len == 0 || line[0] == '#')
            continue;
        e->type = line;
        e->beta = len > strlen(ELIGIBLE_BETA) &&
                  memcmp(line + len - strlen(ELIGIBLE_BETA), ELIGIBLE_BETA, strlen(ELIGIBLE_BETA)) == 0;
        e->len = e->beta ? len - strlen(ELIGIBLE_BETA) : len;
        return true;
    }
    return false;
}

static void fill(const struct entry *e, struct oktac_eligible *out)
{
    size_t len = e->len < OKTAC_ELIGIBLE_MAX_TYPE ? e->len : OKTAC_ELIGIBLE_MAX_TYPE;
    memcpy(out->type, e->type, len);
    out->type[len] = '\0';
    out->beta = e->beta;
}

bool oktac_event_hook_eligible(const char *event_type, struct oktac_eligible *info_out)
{
    struct entry e;
    size_t pos = 0, len;

    if (!event_type || !*event_type || (len = strlen(event_type)) > OKTAC_ELIGIBLE_MAX_TYPE)
        return false;
    while (next_entry(&pos, &e)) {
        if (e.len == len && strncasecmp(e.type, event_type, len) == 0) {
            if (info_out)
                fill(&e, info_out);
            return true;
        }
    }
    return false;
}

bool oktac_event_hook_eligible_at(size_t i, struct oktac_eligible *out)
{
    struct entry e;
    size_t pos = 0, k = 0;

    while (next_entry(&pos, &e)) {
        if (k++ == i) {
            fill(&e, out);
            return true;
        }
    }
    return false;
}

size_t oktac_event_hook_eligible_count(void)
{
    struct entry e;
    size_t pos = 0, k = 0;

    while (next_entry(&pos, &e))
        k++;
    return k;
}
