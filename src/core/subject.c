/* subject.c — normalizing subject keys (subject.h). */
#include "core/subject.h"

#include <string.h>

int subject_key(const char *in, char *out, size_t n)
{
    const char *b, *e;
    size_t len, i;

    if (!out || n == 0)
        return IDF_EINVAL;
    out[0] = '\0';
    if (!in)
        return IDF_EINVAL;
    b = in;
    while (*b == ' ' || *b == '\t' || *b == '\n' || *b == '\r')
        b++;
    e = b + strlen(b);
    while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    if (b < e && *b == '#')
        b++;
    len = (size_t)(e - b);
    if (len == 0 || len >= n)
        return IDF_EINVAL;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c < 0x20 || c == 0x7f) {
            out[0] = '\0';
            return IDF_EINVAL;
        }
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[len] = '\0';
    return 0;
}
