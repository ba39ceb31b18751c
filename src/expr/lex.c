/* lex.c — a mirror of jq 1.6's lexer (src/lexer.l), just precise enough to
 * tell code from string literals and comments, calls from field names and
 * object keys, and which bracket closes what.
 *
 * It serves two masters: the fence (expr__fence_check refuses calls of the
 * builtins that reach outside the process's data: input, files, modules,
 * debug output) and the template scanner (expr__find_close finds the "}}"
 * that ends a "${{" expression). It must see the text exactly as jq does:
 * if it took code for a string, a refused word could hide there. So it
 * follows lexer.l's rules, including flex's longest match ("." "..",
 * numbers like ".5" and fields like ".e1x"), string escapes ("\\(" opens an
 * interpolation, which is code again until its matching ")"), and "#"
 * comments up to the end of the line. Where the text is malformed (a closer
 * that does not match) jq refuses to compile it, so what the mirror decides
 * there does not matter.
 *
 * Stateless; any thread. A lexer lives on its caller's stack. */
#include <stdio.h>
#include <string.h>

#include "expr/expr_internal.h"

enum tok {
    T_END,      /* end of text (inside a string: unterminated) */
    T_IDENT,    /* a name, possibly module-qualified (a::b) */
    T_FIELD,    /* .name */
    T_VAR,      /* $name (blanks and comments may sit after the $) */
    T_OPEN,     /* ( [ { */
    T_CLOSE,    /* ) ] } matching the innermost open bracket */
    T_STR,      /* any part of a string literal, its quotes, "\(" and its ")" */
    T_OTHER,    /* operators, numbers, formats, stray characters */
    T_TEMPLATE, /* "}}" at nesting 0 (template mode only) */
    T_TOO_DEEP, /* brackets nested deeper than the stack */
};

struct lexer {
    const char *s;             /* the text, borrowed */
    size_t len;                /* its length */
    size_t pos;                /* next byte to read */
    bool in_string;            /* inside the text of a string literal */
    bool template_mode;        /* report "}}" at depth 0 as T_TEMPLATE */
    int depth;                 /* entries used in stack */
    char stack[EXPR_MAX_TEXT]; /* '(' '[' '{', or 'I' for "\(" */
};

struct token {
    enum tok kind;
    char ch;      /* the character, for T_OPEN, T_CLOSE, T_OTHER */
    size_t start; /* first byte of the name (T_IDENT, T_FIELD, T_VAR) */
    size_t len;   /* its length */
};

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_ident_char(c) && c != '_';
}

static char at(const struct lexer *lx, size_t i)
{
    return i < lx->len ? lx->s[i] : '\0';
}

static void lex_init(struct lexer *lx, const char *s, size_t len, size_t from, bool template_mode)
{
    lx->s = s;
    lx->len = len;
    lx->pos = from;
    lx->in_string = false;
    lx->template_mode = template_mode;
    lx->depth = 0;
}

/* Skips blanks ([ \n\t] only, as jq: "\r" is an invalid character there)
 * and comments ("#" up to "\r" or "\n"). */
static void skip_blanks(struct lexer *lx)
{
    for (;;) {
        char c = at(lx, lx->pos);
        if (c == ' ' || c == '\n' || c == '\t') {
            lx->pos++;
        } else if (c == '#') {
            while (lx->pos < lx->len && lx->s[lx->pos] != '\n' && lx->s[lx->pos] != '\r')
                lx->pos++;
        } else {
            return;
        }
    }
}

/* Length of ([a-zA-Z_][a-zA-Z_0-9]*::)*[a-zA-Z_][a-zA-Z_0-9]* at i. */
static size_t ident_len(const struct lexer *lx, size_t i, bool qualified)
{
    size_t n = 0;
    for (;;) {
        size_t w = 0;
        if (!is_ident_start(at(lx, i + n)))
            return n;
        while (is_ident_char(at(lx, i + n + w)))
            w++;
        n += w;
        if (!qualified || at(lx, i + n) != ':' || at(lx, i + n + 1) != ':' || !is_ident_start(at(lx, i + n + 2)))
            return n;
        n += 2;
    }
}

/* Length of [0-9.]+([eE][+-]?[0-9]+)? at i (0 if none). */
static size_t number_len(const struct lexer *lx, size_t i)
{
    size_t n = 0, e;
    while (is_digit(at(lx, i + n)) || at(lx, i + n) == '.')
        n++;
    if (n == 0)
        return 0;
    if (at(lx, i + n) == 'e' || at(lx, i + n) == 'E') {
        e = 1;
        if (at(lx, i + n + e) == '+' || at(lx, i + n + e) == '-')
            e++;
        if (is_digit(at(lx, i + n + e))) {
            while (is_digit(at(lx, i + n + e)))
                e++;
            n += e;
        }
    }
    return n;
}

static enum tok push(struct lexer *lx, char c)
{
    if (lx->depth >= (int)sizeof lx->stack)
        return T_TOO_DEEP;
    lx->stack[lx->depth++] = c;
    return T_OPEN;
}

/* One token inside a string literal's text. */
static enum tok lex_string(struct lexer *lx)
{
    char c = at(lx, lx->pos);

    if (lx->pos >= lx->len)
        return T_END;
    if (c == '"') {
        lx->pos++;
        lx->in_string = false;
        return T_STR;
    }
    if (c == '\\') {
        char n = at(lx, lx->pos + 1);
        if (n == '(') {
            lx->pos += 2;
            if (push(lx, 'I') == T_TOO_DEEP)
                return T_TOO_DEEP;
            lx->in_string = false;
            return T_STR;
        }
        if (n == 'u') { /* \u[a-zA-Z0-9]{0,4} */
            size_t k = 0;
            lx->pos += 2;
            while (k < 4 && is_alnum(at(lx, lx->pos))) {
                lx->pos++;
                k++;
            }
            return T_STR;
        }
        lx->pos += lx->pos + 1 < lx->len ? 2 : 1; /* \\[^u(], or a lone \ at the end */
        return T_STR;
    }
    while (lx->pos < lx->len && lx->s[lx->pos] != '\\' && lx->s[lx->pos] != '"')
        lx->pos++;
    return T_STR;
}

/* One token of code. */
static enum tok lex_code(struct lexer *lx, struct token *t)
{
    char c;

    skip_blanks(lx);
    if (lx->pos >= lx->len)
        return T_END;
    c = lx->s[lx->pos];
    t->ch = c;
    if (lx->template_mode && lx->depth == 0 && c == '}' && at(lx, lx->pos + 1) == '}')
        return T_TEMPLATE;
    if (c == '"') {
        lx->pos++;
        lx->in_string = true;
        return T_STR;
    }
    if (c == '$') {
        lx->pos++;
        skip_blanks(lx);
        t->start = lx->pos;
        t->len = ident_len(lx, lx->pos, true);
        lx->pos += t->len;
        return t->len ? T_VAR : T_OTHER;
    }
    if (c == '@' && is_ident_char(at(lx, lx->pos + 1))) { /* a format: @[a-zA-Z0-9_]+ */
        lx->pos++;
        while (is_ident_char(at(lx, lx->pos)))
            lx->pos++;
        return T_OTHER;
    }
    if (c == '.' || is_digit(c)) {
        /* flex takes the longest match; on a tie the earlier rule (".",
         * "..", then numbers) wins over FIELD */
        size_t num = number_len(lx, lx->pos);
        size_t field = c == '.' && is_ident_start(at(lx, lx->pos + 1)) ? 1 + ident_len(lx, lx->pos + 1, false) : 0;
        size_t dots = c == '.' && at(lx, lx->pos + 1) == '.' ? 2 : 1;
        if (field > num && field > dots) {
            t->start = lx->pos + 1;
            t->len = field - 1;
            lx->pos += field;
            return T_FIELD;
        }
        lx->pos += num > dots ? num : dots;
        return T_OTHER;
    }
    if (is_ident_start(c)) {
        t->start = lx->pos;
        t->len = ident_len(lx, lx->pos, true);
        lx->pos += t->len;
        return T_IDENT;
    }
    lx->pos++;
    if (c == '(' || c == '[' || c == '{')
        return push(lx, c);
    if (c == ')' || c == ']' || c == '}') {
        char open = lx->depth ? lx->stack[lx->depth - 1] : 0;
        if ((c == ')' && (open == '(' || open == 'I')) || (c == ']' && open == '[') || (c == '}' && open == '{')) {
            lx->depth--;
            if (open == 'I') {
                lx->in_string = true;
                return T_STR;
            }
            return T_CLOSE;
        }
        return T_OTHER; /* a closer that does not match: jq refuses the text */
    }
    return T_OTHER;
}

static enum tok lex_next(struct lexer *lx, struct token *t)
{
    t->ch = 0;
    t->start = t->len = 0;
    t->kind = lx->in_string ? lex_string(lx) : lex_code(lx, t);
    return t->kind;
}

/* ------------------------------------------------------------------ fence */

/* Builtins that read input, files, modules or the program's location, write
 * to stderr, or stop the process. `env` and `$ENV` are not here: expr.c
 * shadows them with empty objects. */
static const char *const denied_words[] = {
    "import",         "include",           "input",           "inputs",        "_input",
    "input_filename", "input_line_number", "debug",           "stderr",        "halt",
    "halt_error",     "get_search_list",   "get_prog_origin", "get_jq_origin", "modulemeta",
};

static bool word_denied(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof denied_words / sizeof denied_words[0]; i++)
        if (strlen(denied_words[i]) == n && memcmp(denied_words[i], w, n) == 0)
            return true;
    return false;
}

/* True when any ::-separated part of the name is a denied word. */
static bool ident_denied(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != ':')
            j++;
        if (word_denied(s + i, j - i))
            return true;
        i = j + 2;
    }
    return false;
}

static int denied(struct idf_err *err, const char *what, const char *s, size_t n)
{
    return idf_err_set(err, IDF_EDENIED,
                       "%s%.*s is not allowed in expressions (they may not read input, files, modules or the "
                       "environment, nor write to stderr or stop the process)",
                       what, (int)(n > 64 ? 64 : n), s);
}

int expr__fence_check(const char *text, size_t len, struct idf_err *err)
{
    struct lexer lx;
    struct token t;
    char prev = 0; /* the previous token when it was "{" or ",", else 0 */
    bool any = false;

    if (len > EXPR_MAX_TEXT)
        return idf_err_set(err, IDF_ETOOBIG, "expression is %zu bytes long; the limit is %d", len, EXPR_MAX_TEXT);
    lex_init(&lx, text, len, 0, false);
    for (;;) {
        enum tok k = lex_next(&lx, &t);
        bool key_position;

        if (k == T_END)
            break;
        if (k == T_TOO_DEEP)
            return idf_err_set(err, IDF_EPARSE, "expression nests brackets too deeply");
        any = true;
        /* inside an object construction, a name right after "{" or "," is a
         * key ({input: 1}, or {input} meaning {input: .input}), not a call */
        key_position = lx.depth > 0 && lx.stack[lx.depth - 1] == '{' && (prev == '{' || prev == ',');
        if (k == T_IDENT && !key_position && ident_denied(text + t.start, t.len))
            return denied(err, "", text + t.start, t.len);
        if (k == T_VAR && t.len >= 2 && text[t.start] == '_' && text[t.start + 1] == '_')
            return denied(err, "$", text + t.start, t.len);
        prev = (k == T_OPEN || k == T_OTHER) && (t.ch == '{' || t.ch == ',') ? t.ch : 0;
    }
    if (!any)
        return idf_err_set(err, IDF_EPARSE, "empty expression");
    return 0;
}

bool expr__find_close(const char *s, size_t len, size_t from, size_t *end)
{
    struct lexer lx;
    struct token t;

    lex_init(&lx, s, len, from, true);
    for (;;) {
        switch (lex_next(&lx, &t)) {
        case T_TEMPLATE: *end = lx.pos; return true;
        case T_END:
        case T_TOO_DEEP: return false;
        default: break;
        }
    }
}
