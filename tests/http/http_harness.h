/* http_harness.h: the shared harness of the black-box HTTP test programs (test_http_api,
 * test_http_decide, test_http_fhir). It runs the stargap binary as a subprocess, creates API
 * keys, starts `stargap serve` on a free port (read from its first output line) and stops it
 * with SIGTERM, and sends requests with one keep-alive libcurl handle, collecting the body and
 * the headers the tests check into a `struct resp`. Failures are cmocka assertions.
 *
 * The harness keeps no copies of the test's state: http_harness_bind() gives it pointers to the
 * caller's database URL, server log path and base URL buffers (read at every call, so a test may
 * rewrite them, e.g. to point base_url at a second server) and the shared CURL handle. */
#ifndef STARGAP_TESTS_HTTP_HARNESS_H
#define STARGAP_TESTS_HTTP_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/buf.h"

/* One HTTP response. body is owned by the struct (resp_free); json is the parsed body when the
 * response is application/json (http()) or always (callers that parse themselves), else NULL. */
struct resp {
    long status;
    struct sg_buf body;
    char reqid[80];
    char ptime[32];
    char retry_after[16];
    char allow[64];
    char ctype[128];
    long connects;
    json_t *json;
};

/* Binds the harness to the caller's state: db_url (passed as --db), server_log (the server's
 * stderr is appended there), base_url ("http://127.0.0.1:PORT", prefixed to http() paths) and
 * curl (the handle http() reuses). The strings are borrowed, not copied, and must outlive the
 * harness use; base_url and curl may be NULL when http() is not used. Cannot fail. */
void http_harness_bind(const char *db_url, const char *server_log, const char *base_url, CURL *curl);

/* Makes every response header block and body received by http() be appended to transcript
 * (borrowed; NULL turns it off). A full transcript is reported on stderr, not asserted. */
void http_harness_set_transcript(struct sg_buf *transcript);

/* Runs argv (argv[0] a path, NULL-terminated) with stdout captured NUL-terminated into out
 * (at most outlen - 1 bytes). Returns the exit status, -1 when it could not run or was killed. */
int run_cmd(const char *const argv[], char *out, size_t outlen);

/* Runs `stargap --db DB_URL a1 .. a6` (trailing arguments NULL) with stdout in out, and asserts
 * its exit status is want_rc (printing the output when not). */
void stargap(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5,
             const char *a6, char *out, size_t outlen, int want_rc);

/* Creates an API key with `stargap keys create --name NAME --role ROLE` and copies it into key
 * (at least 69 bytes); asserts the key has the sgk_ prefix and 68 characters. */
void create_key(const char *name, const char *role, char *key);

/* Starts `stargap --db DB_URL [--log-level LOG_LEVEL] serve --listen 127.0.0.1:0` (log_level
 * NULL: no --log-level) with stderr appended to the server log. env lists changes to the child's
 * environment (NULL-terminated, may be NULL): "NAME=VALUE" sets, a bare "NAME" unsets. Waits up
 * to 20 s for the "listening on" line, asserts it came, and returns the pid with the port in
 * *port_out. The caller stops it with stop_server(). */
pid_t start_server_opts(const char *log_level, const char *const *env, int *port_out);

/* start_server_opts("info", env_extra, port_out), asserting the port is positive. */
pid_t start_server(const char *const *env_extra, int *port_out);

/* Sends SIGTERM to pid and reaps it. Returns its exit status (0 after a graceful stop), 128 plus
 * the signal when a signal killed it, and 0 without doing anything when pid <= 0. */
int stop_server(pid_t pid);

/* libcurl CURLOPT_WRITEFUNCTION for a struct resp (ud): appends to r->body; 0 (abort) when the
 * body outgrows its bound. */
size_t resp_on_body(char *p, size_t sz, size_t n, void *ud);

/* libcurl CURLOPT_HEADERFUNCTION for a struct resp (ud): records X-Request-ID,
 * X-Process-Time-Ms, Retry-After, Allow and Content-Type, and appends the line to the transcript
 * when one is set. */
size_t resp_on_header(char *p, size_t sz, size_t n, void *ud);

/* One request to BASE_URL + path with the bound handle (keep-alive). key (X-API-Key), body (sent
 * as application/json unless hdr is a Content-Type line) and hdr (one extra header line) may be
 * NULL. Asserts the transfer succeeded, the JSON body parses, and the response carries
 * X-Request-ID and X-Process-Time-Ms. *r is initialised here; free it with resp_free(). */
void http(const char *method, const char *path, const char *key, const char *body, const char *hdr,
          struct resp *r);

/* Frees what *r owns and zeroes it. */
void resp_free(struct resp *r);

/* Asserts r->status == want, printing `what` and the body when not. */
void expect_status(struct resp *r, long want, const char *what);

/* Asserts the service's error shape {"error":{"code","message","request_id"}} with status want,
 * code (NULL: any), a message containing needle (NULL: any) and the response's request ID. */
void expect_error(struct resp *r, long want, const char *code, const char *needle, const char *what);

/* The string member k of object o, or NULL. Borrowed from o. */
const char *jstr(json_t *o, const char *k);

/* The integer member k of object o, or 0. */
long long jint(json_t *o, const char *k);

#endif
