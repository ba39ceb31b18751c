/* store_internal.h — the backend contract behind store.h (private to src/store/).
 *
 * A backend is a table of functions, like SQLite's sqlite3_io_methods: one
 * `struct store_ops` per backend, shared read-only by all its connections, and
 * a connection struct whose FIRST member is a `struct store` (so a backend
 * casts `struct store *` to its own type). store.c owns URL parsing and input
 * validation and then dispatches; backends own all SQL.
 *
 * What store.c guarantees before calling an op:
 *  - s is an open connection of this backend; pointers the header marks as
 *    required are non-NULL; names are non-empty and at most STORE__NAME_MAX
 *    bytes; JSON texts are at most STORE__TEXT_MAX bytes; batch sizes are
 *    within their caps; run/step statuses are one of the STORE_* strings;
 *    an event with a NULL source_id has been given a generated one (the
 *    backend sees a non-NULL source_id in every item).
 *  - err, where the op takes one, is non-NULL and cleared.
 *
 * What every op must do (the rest of the contract is the comment in store.h):
 *  - Return 0 or a negative IDF_E* code; on a write op's failure nothing is
 *    written (the one exception: step_commit's IDF_ECANCELLED, which reports
 *    a commit that WAS written, see store.h) (roll the transaction back) and *_out parameters hold no
 *    allocation the caller must free.
 *  - Map lock contention that outlasts the backend's wait to IDF_EBUSY, a
 *    missing row to IDF_ENOTFOUND, any other database failure to IDF_EDB.
 *  - Never put a JSON value (event data, step input/output, context) into an
 *    error message: they may hold personal data.
 *  - close accepts a connection in any state, including a failed transaction.
 */
#ifndef IDF_STORE_STORE_INTERNAL_H
#define IDF_STORE_STORE_INTERNAL_H

#include "core/subject.h"
#include "store/store.h"

/* Caps on what enters the store (checked in store.c). */
#define STORE__NAME_MAX 256u            /* names, ids, owners, statuses, sources */
#define STORE__TEXT_MAX (16u << 20)     /* one JSON text or workflow source: 16 MiB */
#define STORE__PATH_MAX 4096u           /* a database path */
#define STORE__INGEST_MAX 4096u         /* items in one store_ingest call */
#define STORE__RUNS_PER_EVENT_MAX 1024u /* runs one event may start */
#define STORE__CLAIM_MAX 256u           /* runs one claim may return */
#define STORE__SOURCE_ID_LEN 32u        /* hex chars of a generated source_id */
#define STORE__DEFAULT_LIST 50          /* rows of a list call without a limit */
#define STORE__LABEL_MAX 200u           /* bytes of a subject's label kept (cut at a UTF-8 boundary) */
#define STORE__CHANGE_MAX 500u          /* bytes of a step's change text kept (cut the same way) */

/* A run filter as the backends take it (store__run_query_make, from a
 * store_run_filter): checked, the subject key normalized, "source/via"
 * split. Every pointer is NULL (any) or a non-empty string. */
struct store__run_query {
    const char *status;   /* one of STORE_RUN_*, or NULL */
    const char *workflow; /* a name, or NULL */
    const char *subject;  /* a normalized key (subject_buf), or NULL */
    const char *source;   /* the event's source (source_buf), or NULL */
    const char *via;      /* the event's via (in source_buf), or NULL */
    int64_t since;        /* 0: any; else created_at >= since */
    int64_t until;        /* 0: any; else created_at < until */
    int64_t before_id;    /* 0: from the newest; else id < before_id (lists only) */
    int limit;            /* 1..STORE_LIST_MAX (lists only) */
    char subject_buf[SUBJECT_KEY_MAX];
    char source_buf[STORE__NAME_MAX + 1];
};

struct store_ops {
    const char *name; /* "sqlite", "postgresql": for messages */

    void (*close)(struct store *s);
    int (*schema_version)(struct store *s, int *out);

    int (*workflow_save)(struct store *s, const char *name, const char *source, const char *hash, int64_t *version_out,
                         bool *created_out, struct idf_err *err);
    int (*workflow_source)(struct store *s, const char *name, int64_t version, char **source_out, int64_t *version_out);
    int (*workflow_set_enabled)(struct store *s, const char *name, bool enabled);
    /* list ops: *rows_out and *n_out are NULL and 0 on entry, and stay so on failure */
    int (*workflow_list)(struct store *s, struct store_workflow_info **rows_out, size_t *n_out);
    /* (helper "inputs") the list's contract, as workflow_list */
    int (*workflow_last_runs)(struct store *s, struct store_last_run **rows_out, size_t *n_out);

    /* items: every event.source_id is non-NULL (store.c generated the missing). */
    int (*ingest)(struct store *s, struct store_ingest_item *items, size_t n, struct idf_err *err);
    int (*event_get)(struct store *s, int64_t id, struct store_event **out);
    /* stage MATCH or EXPAND, 1 <= max <= STORE__INGEST_MAX */
    int (*events_pending)(struct store *s, enum store_event_stage stage, int64_t now_ms, size_t max,
                          struct store_event **out, size_t *n_out, struct idf_err *err);
    /* 1 <= n <= STORE__INGEST_MAX, items checked; settled is false on entry */
    int (*events_settle)(struct store *s, struct store_settle *items, size_t n, struct idf_err *err);
    /* items checked as for ingest (no runs, stage DONE or MATCH), source_ids set */
    int (*event_expand)(struct store *s, int64_t delivery_id, struct store_ingest_item *items, size_t n,
                        const char *note, struct idf_err *err);
    int (*event_retry)(struct store *s, int64_t id, int64_t next_at_ms, const char *note, bool give_up,
                       struct idf_err *err);

    /* 1 <= max <= STORE__CLAIM_MAX; caps checked by store.c (n_caps <= STORE_CAPS_MAX,
     * names valid and distinct, 1 <= max <= STORE_CAP_MAX) */
    int (*run_claim)(struct store *s, const char *owner, int64_t now_ms, int64_t lease_ms, size_t max,
                     const struct store_cap *caps, size_t n_caps, struct store_run **out, size_t *n_out,
                     struct idf_err *err);
    int (*run_renew)(struct store *s, int64_t run_id, const char *owner, int64_t lease_until);
    int (*run_begin)(struct store *s, int64_t run_id, const char *owner, int64_t lease_until);
    /* Claims run_id if runnable now (same rule as run_claim); *out NULL when not. */
    int (*run_claim_id)(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int64_t lease_ms,
                        struct store_run **out, struct idf_err *err);
    int (*release_leases)(struct store *s, const char *owner, int64_t *n_out);
    int (*next_wake)(struct store *s, int64_t *wake_at_out);
    int (*step_commit)(struct store *s, int64_t run_id, const char *owner, int64_t now_ms,
                       const struct store_step_rec *step, const struct store_run_next *next, struct idf_err *err);
    int (*run_get)(struct store *s, int64_t id, struct store_run **out);
    /* q->limit is already resolved to 1..STORE_LIST_MAX; rows carry the issue 17
     * fields (source, via, actor, trigger, connection, subject, rerun_as) */
    int (*run_list)(struct store *s, const struct store__run_query *q, struct store_run **rows_out, size_t *n_out);
    int (*step_list)(struct store *s, int64_t run_id, struct store_step **rows_out, size_t *n_out);
    /* out is zeroed on entry */
    int (*run_counts)(struct store *s, struct store_run_counts *out);
    int (*run_rerun)(struct store *s, int64_t run_id, int64_t now_ms, const char *actor, bool force,
                     int64_t *new_id_out, struct idf_err *err);
    int (*run_cancel)(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, struct idf_err *err);
    /* pending_out is non-NULL */
    int (*run_stop)(struct store *s, int64_t run_id, const char *reason, int64_t now_ms, const char *actor,
                    bool *pending_out, struct idf_err *err);

    int (*approval_decide)(struct store *s, int64_t run_id, bool approve, bool hold, const char *actor,
                           const char *comment, int64_t now_ms, struct idf_err *err);
    int (*approval_get)(struct store *s, int64_t run_id, const char *step_id, char **status_out, char **actor_out);
    int (*approval_list)(struct store *s, struct store_approval **rows_out, size_t *n_out);
    int (*guard_held)(struct store *s, const char *connection, int64_t *n_out); /* issue 19 */
    /* issue 17 ("approvals-reruns"): every approval of a run, decisions included */
    int (*run_approvals)(struct store *s, int64_t run_id, struct store_approval **rows_out, size_t *n_out);

    int (*cursor_get)(struct store *s, const char *name, char **value_out);
    int (*cursor_set)(struct store *s, const char *name, const char *value);
    /* limit is already resolved to 1..STORE_LIST_MAX */
    int (*audit_add)(struct store *s, const char *actor, const char *action, const char *target, const char *detail);
    int (*audit_list)(struct store *s, int limit, struct store_audit **rows_out, size_t *n_out);

    int (*connection_put)(struct store *s, const char *name, const char *kind, const char *config,
                          const unsigned char *sealed, size_t sealed_len, const char *actor, bool *created_out,
                          struct idf_err *err);
    /* every out pointer is non-NULL (store.c substitutes locals) */
    int (*connection_get)(struct store *s, const char *name, char **kind_out, char **config_out,
                          unsigned char **sealed_out, size_t *sealed_len_out, int64_t *updated_at_out);
    int (*connection_list)(struct store *s, struct store_connection_info **rows_out, size_t *n_out);
    int (*connection_delete)(struct store *s, const char *name, const char *actor, struct idf_err *err);

    /* API tokens: names and roles are checked by store.c */
    int (*token_create)(struct store *s, const char *name, const char *role, const char *hash, const char *prefix,
                        int64_t expires_at, const char *actor, int64_t *id_out, struct idf_err *err);
    int (*token_lookup)(struct store *s, const char *hash, int64_t now_ms, struct store_token **out);
    int (*token_list)(struct store *s, struct store_token **rows_out, size_t *n_out);
    int (*token_revoke)(struct store *s, const char *name, const char *actor, bool force, struct idf_err *err);
    int (*initialized)(struct store *s, bool *out);
    int (*initialize)(struct store *s, const char *actor, bool *changed_out, struct idf_err *err);

    int (*prune)(struct store *s, int64_t before_ms, int64_t *n_out);

    /* foreach state: 1 <= n <= STORE_FOREACH_MAX, n_results <= n, every
     * text non-NULL and within STORE__TEXT_MAX; index and item >= 0.
     * step_commit also saves step->result (item >= 0) and honours
     * next->foreach_clear; run_rerun copies the state (store.h). */
    int (*foreach_begin)(struct store *s, int64_t run_id, const char *owner, int64_t now_ms, int index,
                         const char *const *items, size_t n, const char *const *results, size_t n_results,
                         const struct store_run_next *next, struct idf_err *err);
    int (*foreach_item)(struct store *s, int64_t run_id, int index, int item, char **item_out);
    int (*foreach_outputs)(struct store *s, int64_t run_id, int index, char **json_out);

    /* named leases (helper "singleton"): name and owner checked, 1 <= ttl_ms
     * <= STORE_LEASE_TTL_MAX, now_ms >= 0; held_out non-NULL and false on
     * entry, holder_out NULL or pointing at NULL */
    int (*lease_take)(struct store *s, const char *name, const char *owner, int64_t now_ms, int64_t ttl_ms,
                      bool *held_out, char **holder_out);
    int (*lease_drop)(struct store *s, const char *name, const char *owner);
    /* owner_out and until_out may be NULL */
    int (*lease_get)(struct store *s, const char *name, char **owner_out, int64_t *until_out);
    /* wake-ups (helper "notify"; store.h, "wake-ups across connections"):
     * channel checked by store_notify.c; NULL ops: the backend has none (notify
     * then succeeds doing nothing, listen and wait answer IDF_ENOTSUP);
     * wait: timeout_ms >= 0, woken_out non-NULL and false on entry */
    int (*notify)(struct store *s, const char *channel);
    int (*listen)(struct store *s, const char *channel);
    int (*wait)(struct store *s, int64_t timeout_ms, int wake_fd, bool *woken_out);

    /* pacing windows (helper "pacing"; store_pace.c checked the input) */
    int (*window_take)(struct store *s, const char *key, int limit, int64_t window_ms, int64_t now_ms,
                       int64_t *wait_ms_out);
    int (*window_block)(struct store *s, const char *key, int64_t until_ms);
    int (*lease_count)(struct store *s, const char *prefix, int64_t now_ms, int *n_out);

    /* run subjects (issue 17, "subjects"; store_subjects.c checked the input):
     * run_count ignores q's before_id and limit; run_changes: 1 <= n <=
     * STORE_LIST_MAX. Writers of subjects (ingest, settle, expand, step
     * commit, rerun) pass each through store__subject_prep, keep at most
     * STORE_SUBJECTS_MAX per event or step record, and insert (run_id, key)
     * once (the first label stays). */
    int (*run_count)(struct store *s, const struct store__run_query *q, int64_t *n_out);
    int (*run_subjects)(struct store *s, int64_t run_id, struct store_run_subject **rows_out, size_t *n_out);
    int (*run_changes)(struct store *s, const int64_t *run_ids, size_t n, struct store_change **rows_out,
                       size_t *n_out);

    /* replay (issue 19; store.h, "replay"): list ops as above; event_list:
     * 1 <= limit <= STORE_LIST_MAX, since_ms and after_id >= 0; event_runs:
     * workflow a valid name */
    int (*event_list)(struct store *s, int64_t since_ms, int64_t after_id, int limit, struct store_event **rows_out,
                      size_t *n_out);
    int (*event_runs)(struct store *s, int64_t event_id, const char *workflow, struct store_run **rows_out,
                      size_t *n_out);
};

/* The head of every backend connection. */
struct store {
    const struct store_ops *ops;          /* the backend; never NULL while open */
    char fair_after[STORE__NAME_MAX + 1]; /* the claim's round-robin turn: the workflow this connection
                                             served last ("" at first; store__fair_pick) */
};

/* The claim's fair order (store_fair.c). A candidate is a queued or due run
 * a backend found, with its workflow's name (borrowed: valid for the call). */
struct store__fair_cand {
    int64_t id;
    const char *workflow;
};

/* Appends to ids (*n_ids entries already, at most max in all) the runs of
 * cands[0..n) in the claim's fair order (store.h's contract): by priority
 * (caps), then round-robin across workflows starting after s->fair_after,
 * each workflow's runs by id, at most room[k] runs of a capped caps[k]
 * (max > 0; room[k] is its free slots, room may be NULL when no entry is
 * capped) and at most max of any. Sorts cands; a run listed twice is taken
 * once. Updates s->fair_after. 0 or IDF_ENOMEM (nothing appended). */
int store__fair_pick(struct store *s, struct store__fair_cand *cands, size_t n, const struct store_cap *caps,
                     size_t n_caps, const int *room, size_t max, int64_t *ids, size_t *n_ids) IDF_MUST_USE;

/* The index of workflow in caps (sorted by name), or -1. */
int store__cap_find(const struct store_cap *caps, size_t n_caps, const char *workflow);

/* Opens the SQLite backend on path (a file path or ":memory:"). */
int store__sqlite_open(const char *path, struct store **out, struct idf_err *err) IDF_MUST_USE;

/* Opens the PostgreSQL backend on a libpq URL ("postgresql://..." or
 * "postgres://..."; postgres.c). Its errors never quote the URL's password. */
int store__pg_open(const char *url, struct store **out, struct idf_err *err) IDF_MUST_USE;
/* The PostgreSQL URL with every password replaced by "***" (postgres_url.c). */
void store__pg_url_masked(const char *url, char *out, size_t n);

/* Fills out (STORE__SOURCE_ID_LEN + 1 bytes) with 32 hex chars: 48 bits of
 * the current time in ms, then 80 random bits (unique, and time-ordered). */
int store__gen_source_id(char *out, size_t n) IDF_MUST_USE;

/* A run status the store accepts (one of the six STORE_RUN_* strings). */
bool store__run_status_valid(const char *status);

/* A terminal run status (succeeded, failed, cancelled). */
bool store__run_status_final(const char *status);

/* Row clearers for the backends' list ops: each frees what one row owns
 * (row points to the struct named; NULL members are fine) and zeroes it,
 * leaving the row itself to its array. store_*_list_free is the array loop
 * over these. The void * signature lets one list loop per backend take any
 * of them. */
void store__workflow_info_clear(void *row);
void store__last_run_clear(void *row); /* (helper "inputs") */
void store__run_clear(void *row);
void store__step_clear(void *row);
void store__approval_clear(void *row);
void store__audit_clear(void *row);
void store__connection_info_clear(void *row);
void store__token_clear(void *row);
void store__run_subject_clear(void *row);
void store__change_clear(void *row);
/* The columns of an event row, in the order the backends' row readers
 * (store__sq_event_row, store__pg_event_row) read them. */
/* Event data packed for storage (store_pack.c, issue 20): text of
 * STORE__PACK_MIN bytes or more is stored as a length and a zlib stream. */
#define STORE__PACK_MIN 1024u               /* smaller data stays text */
#define STORE__PACK_MAX (64u * 1024 * 1024) /* larger data stays text; a packed length above it is refused */

/* Packs text when it is worth it: *out (caller frees with free) and *n_out
 * the bytes to store, or *out NULL when text is to be stored as it is
 * (shorter than STORE__PACK_MIN, longer than STORE__PACK_MAX, or not
 * shrinking by an eighth). 0, or IDF_ENOMEM (nothing out). */
int store__pack(const char *text, unsigned char **out, size_t *n_out) IDF_MUST_USE;

/* The text packed in p (n bytes) into *out (caller frees). 0, IDF_ENOMEM,
 * or IDF_EDB when p is not packed data store__pack made: too short, a length
 * over STORE__PACK_MAX, a zlib stream that does not inflate to exactly that
 * length (or fails its checksum), or a NUL inside. */
int store__unpack(const unsigned char *p, size_t n, char **out) IDF_MUST_USE;

#define STORE__EVENT_COLUMNS "id, source, source_id, type, connection, received_at, data, stage, tries, note"
void store__event_clear(void *row); /* an event row's strings (store.c): store_event_free, the replay's list */
/* Frees an array of n rows of size bytes, each cleared by clear (rows may
 * be NULL): the loop behind every store_*_list_free. */
void store__rows_free(void *rows, size_t n, size_t size, void (*clear)(void *row));

/* The two refusals of a re-run (issue 17), worded once for both backends:
 * run_id was re-run already as rerun_id (IDF_EEXIST), or ended by a
 * rejection decided by who (NULL: "an approver") with the comment why
 * (NULL or "": none) (IDF_ESTATE). Each writes err and returns its code. */
int store__rerun_refused_done(struct idf_err *err, int64_t run_id, int64_t rerun_id);
int store__rerun_refused_rejected(struct idf_err *err, int64_t run_id, const char *who, const char *why);

/* ---- run subjects (store_subjects.c, issue 17) ---- */

/* A subject made fit for writing: key normalized (subject_key), label cut. */
struct store__subject_row {
    const char *kind;    /* borrowed from the input */
    const char *key;     /* key_buf */
    const char *label;   /* label_buf (the key when the input had none) */
    const char *step_id; /* borrowed: NULL for the event's */
    char key_buf[SUBJECT_KEY_MAX];
    char label_buf[STORE__LABEL_MAX + 1];
};

/* Prepares in for writing into *out with step_id (NULL: the event's):
 * false when it is skipped (no kind, or a kind not 1..STORE__NAME_MAX bytes
 * of printable ASCII; a key that does not normalize, is SUBJECT_KEY_MAX bytes
 * or more, or is not UTF-8). The label is cut as store__text_cut does, to
 * STORE__LABEL_MAX bytes. out borrows in's kind and step_id. */
bool store__subject_prep(const struct store_subject *in, const char *step_id, struct store__subject_row *out);

/* in cut to at most cap bytes into buf (cap + 1 bytes), at a UTF-8 character
 * boundary, control characters as spaces, bytes that are not UTF-8 as '?';
 * returns buf, or NULL for a NULL in. */
const char *store__text_cut(const char *in, char *buf, size_t cap);

/* IDF_EINVAL when n > 0 and subjects is NULL. */
int store__subjects_check(const struct store_subject *subjects, size_t n, struct idf_err *err) IDF_MUST_USE;

/* Makes the backends' query from f (NULL: no filter, default limit):
 * IDF_EINVAL for an unknown status, a bad workflow, subject or source, or
 * negative ids or times. */
int store__run_query_make(const struct store_run_filter *f, struct store__run_query *q) IDF_MUST_USE;

/* Appends v to b as a JSON string (quotes, escapes of '"', '\\' and control
 * characters; other bytes as they are), for the small JSON texts a backend
 * writes itself (an audit record's detail): the store parses no JSON and
 * links no JSON library. v is UTF-8 text checked by store.c. */
struct buf;
int store__json_quote(struct buf *b, const char *v) IDF_MUST_USE;
/* The JSON text {"key":"value"} (caller frees), or NULL on ENOMEM. */
char *store__detail(const char *key, const char *value);
/* An approval decision's audit detail {"step": step, "comment": comment}
 * ("comment" left out when NULL): caller frees; NULL when out of memory. */
char *store__approval_detail(const char *step, const char *comment, const char *hold);
/* The audit action of a decision: "approval.approve" / "approval.reject", or
 * for a guardrail hold (issue 19) "guardrail.release" / "guardrail.reject". */
const char *store__approval_action(bool approve, bool hold);
/* IDF_ESTATE (err naming both) unless a run in status may be cancelled at
 * once: queued, waiting or held. */
int store__cancel_state_ok(int64_t run_id, const char *status, struct idf_err *err);
/* IDF_ESTATE (err naming both) unless a run in status may have its pending
 * approval decided: waiting for an approval step, held for a guardrail hold
 * (hold non-empty), and the pending one is the kind the caller decides
 * (hold_expected: store_guard_decide). */
int store__decide_state_ok(int64_t run_id, const char *status, const char *hold, bool hold_expected,
                           struct idf_err *err);

#endif
