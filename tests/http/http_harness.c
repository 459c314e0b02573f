/* http_harness.c: the shared harness of the black-box HTTP test programs — subprocesses of the
 * stargap binary, the server's start and stop, and libcurl requests into a struct resp. See
 * http_harness.h. Failures are cmocka assertions, so these run only inside cmocka tests or
 * group setups. */
#include "http_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#define LISTEN_PREFIX "listening on http://127.0.0.1:"

static const char *h_db_url;
static const char *h_server_log;
static const char *h_base_url;
static CURL *h_curl;
static struct sg_buf *h_transcript; /* NULL: no transcript */

void http_harness_bind(const char *db_url, const char *server_log, const char *base_url, CURL *curl)
{
    h_db_url = db_url;
    h_server_log = server_log;
    h_base_url = base_url;
    h_curl = curl;
}

void http_harness_set_transcript(struct sg_buf *transcript) { h_transcript = transcript; }

int run_cmd(const char *const argv[], char *out, size_t outlen)
{
    int pfd[2];
    if (pipe(pfd)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t used = 0;
    ssize_t n;
    while ((n = read(pfd[0], out + used, outlen - 1 - used)) > 0)
        used += (size_t)n;
    out[used] = '\0';
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void stargap(const char *a1, const char *a2, const char *a3, const char *a4, const char *a5,
             const char *a6, char *out, size_t outlen, int want_rc)
{
    const char *argv[] = {STARGAP_BINARY, "--db", h_db_url, a1, a2, a3, a4, a5, a6, NULL};
    int rc = run_cmd(argv, out, outlen);
    if (rc != want_rc)
        fprintf(stderr, "stargap %s %s: exit %d, output: %s\n", a1, a2 ? a2 : "", rc, out);
    assert_int_equal(rc, want_rc);
}

void create_key(const char *name, const char *role, char *key)
{
    char out[512];
    stargap("keys", "create", "--name", name, "--role", role, out, sizeof out, 0);
    out[strcspn(out, "\n")] = '\0';
    assert_int_equal(strncmp(out, "sgk_", 4), 0);
    assert_int_equal(strlen(out), 68);
    strcpy(key, out);
}

pid_t start_server_opts(const char *log_level, const char *const *env, int *port_out)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        int lfd = open(h_server_log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(lfd, 2);
        close(pfd[0]);
        close(pfd[1]);
        for (size_t i = 0; env && env[i]; i++) {
            if (strchr(env[i], '='))
                putenv((char *)env[i]);
            else
                unsetenv(env[i]);
        }
        const char *argv[10];
        size_t k = 0;
        argv[k++] = STARGAP_BINARY;
        argv[k++] = "--db";
        argv[k++] = h_db_url;
        if (log_level) {
            argv[k++] = "--log-level";
            argv[k++] = log_level;
        }
        argv[k++] = "serve";
        argv[k++] = "--listen";
        argv[k++] = "127.0.0.1:0";
        argv[k] = NULL;
        execv(STARGAP_BINARY, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    char line[256];
    size_t used = 0;
    struct pollfd p = {.fd = pfd[0], .events = POLLIN};
    while (used < sizeof line - 1 && !memchr(line, '\n', used)) {
        if (poll(&p, 1, 20000) <= 0) break;
        ssize_t n = read(pfd[0], line + used, sizeof line - 1 - used);
        if (n <= 0) break;
        used += (size_t)n;
    }
    line[used] = '\0';
    close(pfd[0]);
    const char *at = strstr(line, LISTEN_PREFIX);
    if (!at)
        fprintf(stderr, "server did not start; first output: '%s' (log: %s)\n", line, h_server_log);
    assert_non_null(at);
    *port_out = atoi(at + strlen(LISTEN_PREFIX));
    return pid;
}

pid_t start_server(const char *const *env_extra, int *port_out)
{
    pid_t pid = start_server_opts("info", env_extra, port_out);
    assert_true(*port_out > 0);
    return pid;
}

int stop_server(pid_t pid)
{
    if (pid <= 0) return 0;
    kill(pid, SIGTERM);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

size_t resp_on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    if (sg_buf_append(&r->body, p, sz * n) != SG_OK) return 0;
    return sz * n;
}

/* Copies the value of header line `name: value` (CRLF trimmed, truncated to outlen - 1) into out
 * when line is that header; leaves out alone otherwise. */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':') return;
    const char *v = line + nl + 1;
    while (*v == ' ')
        v++;
    size_t vl = len - (size_t)(v - line);
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    if (vl >= outlen) vl = outlen - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
}

size_t resp_on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t len = sz * n;
    header_value(p, len, "X-Request-ID", r->reqid, sizeof r->reqid);
    header_value(p, len, "X-Process-Time-Ms", r->ptime, sizeof r->ptime);
    header_value(p, len, "Retry-After", r->retry_after, sizeof r->retry_after);
    header_value(p, len, "Allow", r->allow, sizeof r->allow);
    header_value(p, len, "Content-Type", r->ctype, sizeof r->ctype);
    if (h_transcript && sg_buf_append(h_transcript, p, len) != SG_OK)
        fprintf(stderr, "transcript full\n");
    return len;
}

void resp_free(struct resp *r)
{
    sg_buf_fini(&r->body);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

void http(const char *method, const char *path, const char *key, const char *body, const char *hdr,
          struct resp *r)
{
    memset(r, 0, sizeof *r);
    sg_buf_init(&r->body, 64u << 20);
    CURL *c = h_curl;
    curl_easy_reset(c);
    char url[4096];
    snprintf(url, sizeof url, "%s%s", h_base_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, resp_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, resp_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    struct curl_slist *h = NULL;
    char kh[200];
    if (key) {
        snprintf(kh, sizeof kh, "X-API-Key: %s", key);
        h = curl_slist_append(h, kh);
    }
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        if (!hdr || strncasecmp(hdr, "Content-Type", 12))
            h = curl_slist_append(h, "Content-Type: application/json");
    }
    if (hdr) h = curl_slist_append(h, hdr);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) fprintf(stderr, "curl %s %s: %s\n", method, path, curl_easy_strerror(rc));
    assert_int_equal(rc, CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
    if (h_transcript &&
        sg_buf_append(h_transcript, r->body.data ? r->body.data : "", r->body.len) != SG_OK)
        fprintf(stderr, "transcript full\n");
    if (r->body.len && strncmp(r->ctype, "application/json", 16) == 0) {
        json_error_t je;
        r->json = json_loadb(r->body.data, r->body.len, 0, &je);
        if (!r->json) fprintf(stderr, "bad JSON from %s %s: %s\n", method, path, je.text);
        assert_non_null(r->json);
    }
    /* every response carries the two headers */
    assert_true(r->reqid[0] != '\0');
    assert_true(r->ptime[0] != '\0');
}

void expect_status(struct resp *r, long want, const char *what)
{
    if (r->status != want)
        fprintf(stderr, "%s: status %ld, want %ld, body %s\n", what, r->status, want,
                sg_buf_str(&r->body));
    assert_int_equal(r->status, want);
}

void expect_error(struct resp *r, long want, const char *code, const char *needle, const char *what)
{
    expect_status(r, want, what);
    json_t *e = json_object_get(r->json, "error");
    assert_non_null(e);
    assert_int_equal(json_object_size(r->json), 1);
    const char *got = json_string_value(json_object_get(e, "code"));
    assert_non_null(got);
    if (code && strcmp(got, code)) fprintf(stderr, "%s: code %s, want %s\n", what, got, code);
    if (code) assert_string_equal(got, code);
    const char *msg = json_string_value(json_object_get(e, "message"));
    assert_non_null(msg);
    if (needle && !strstr(msg, needle))
        fprintf(stderr, "%s: message '%s' lacks '%s'\n", what, msg, needle);
    if (needle) assert_non_null(strstr(msg, needle));
    assert_string_equal(json_string_value(json_object_get(e, "request_id")), r->reqid);
}

const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

long long jint(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }
