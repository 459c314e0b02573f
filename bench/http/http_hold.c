/* http_hold.c: holds N keep-alive HTTP connections open against a server for the 10,000
 * connection benchmark, while wrk measures latency on a separate set of connections.
 *
 * usage: http_hold HOST PORT N SECONDS [PERIOD_S]
 * Opens N connections, sends GET /health/live on each and reads the response, then re-sends it on
 * every connection once per PERIOD_S (default 10) so the server keeps them as live keep-alive
 * connections, for SECONDS. Prints how many connections were opened, how many requests were
 * answered with 200 and every failure (connect, write, read, non-200, closed by the server).
 * Single thread, epoll: the client side must not need a core of its own. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct conn {
    int fd;
    int waiting;    /* a request is outstanding */
    double next_s;  /* when to send the next request */
    size_t got;     /* bytes of the current response */
};

static const char req[] = "GET /health/live HTTP/1.1\r\nHost: bench\r\n\r\n";

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s HOST PORT N SECONDS [PERIOD_S]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    long n = atol(argv[3]);
    double secs = atof(argv[4]), period = argc > 5 ? atof(argv[5]) : 10.0;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return 2;
    struct conn *c = calloc((size_t)n, sizeof *c);
    int ep = epoll_create1(0);
    long opened = 0, connect_err = 0, ok = 0, bad = 0, closed = 0, write_err = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
            connect_err++;
            if (fd >= 0) close(fd);
            c[i].fd = -1;
            continue;
        }
        fcntl(fd, F_SETFL, O_NONBLOCK);
        c[i].fd = fd;
        c[i].next_s = t0 + period * (double)i / (double)n; /* spread the requests over a period */
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        opened++;
    }
    fprintf(stderr, "http_hold: %ld connections open (%ld failed) in %.1f s\n", opened, connect_err, now_s() - t0);
    struct epoll_event evs[256];
    char buf[4096];
    while (now_s() - t0 < secs) {
        double t = now_s();
        for (long i = 0; i < n; i++) {
            if (c[i].fd < 0 || c[i].waiting || c[i].next_s > t) continue;
            if (write(c[i].fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
                write_err++;
                close(c[i].fd);
                c[i].fd = -1;
                continue;
            }
            c[i].waiting = 1;
            c[i].got = 0;
            c[i].next_s = t + period;
        }
        int k = epoll_wait(ep, evs, 256, 20);
        for (int e = 0; e < k; e++) {
            long i = (long)evs[e].data.u64;
            ssize_t r = read(c[i].fd, buf, sizeof buf);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN) continue;
                closed++;
                close(c[i].fd);
                c[i].fd = -1;
                continue;
            }
            if (c[i].got == 0) {
                if (r >= 12 && !memcmp(buf, "HTTP/1.1 200", 12)) ok++;
                else bad++;
            }
            c[i].got += (size_t)r;
            /* the response is small and complete once its JSON body closed */
            if (memchr(buf, '}', (size_t)r)) c[i].waiting = 0;
        }
    }
    long still = 0;
    for (long i = 0; i < n; i++) still += c[i].fd >= 0;
    printf("HOLD opened=%ld still_open=%ld answered_200=%ld non200=%ld closed_by_server=%ld connect_errors=%ld write_errors=%ld\n",
           opened, still, ok, bad, closed, connect_err, write_err);
    for (long i = 0; i < n; i++)
        if (c[i].fd >= 0) close(c[i].fd);
    free(c);
    return (connect_err || bad || closed || write_err) ? 1 : 0;
}
