/*
 * imload.c - a load client for the IM benchmarks (bench/im_*.sh, bench/mem_subscriptions.sh).
 *
 * One thread, epoll, non-blocking TCP sockets to one SIP server on loopback. It plays N devices
 * spread over C connections, and one publisher on a connection of its own:
 *
 *   -m sub   every device SUBSCRIBEs (Event: im) to the topic of user -u (all devices of one
 *            user, distinct +sip.instance), answers the body-less NOTIFYs, then the publisher
 *            sends M MESSAGEs to that user and every device answers each message NOTIFY 200.
 *   -m reg   every device REGISTERs as user -u (one connection per device: Contact = the
 *            connection's own address) and answers page-mode MESSAGEs 200; then M MESSAGEs.
 *   -m mem   device i SUBSCRIBEs to its own topic (user -u followed by i; with -1 all devices
 *            to the topic of user -u, distinct instances); no publishing. Reports
 *            the server's VmRSS before connecting, after connecting, after subscribing.
 *
 * Parsing is minimal: Content-Length framing, and the Via/From/To/Call-ID/CSeq lines echoed in a
 * 200. Every published body is "imload-idx=K"; a device that receives a NOTIFY or MESSAGE whose
 * body contains it records now - (send time of K) as one delivery latency.
 * With -P PID it reads the server's utime+stime (PID and its direct children) just before the
 * first MESSAGE and just after the last delivery, and VmRSS in mem mode.
 *
 * Bounded: everything stops after -T seconds whatever happened; the figures then say how many
 * deliveries are missing, and how many messages NOTIFYs reported as discarded by retention
 * (im.Gap; a device that falls more than broker.im_retention_count messages behind loses them by
 * design, so keep M below it or raise it). Prints key=value lines; exit status 0 if nothing was missing.
 *
 * Debugging: IMLOAD_TRACE=N prints every request device N receives; IMLOAD_DEBUG=1 lists the
 * devices that fell short.
 *
 * Build: cc -O2 -o imload bench/imload.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct buf {
    char *p;
    size_t len, cap, off; /* data is p[off .. len) */
};

struct conn {
    int fd;
    int lport;
    int is_publisher;
    struct buf in, out;
};

enum { MODE_SUB, MODE_REG, MODE_MEM };

static struct {
    const char *host, *user, *domain;
    int one_topic; /* mem mode: every device subscribes to the same topic (-1) */
    int port, mode, ndev, nconn, msgs, window, timeout_s, expires, setup_window;
    double rate;
    long pid;
    unsigned run;
} opt = {"127.0.0.1", "bob", "example.com", 0, 0, MODE_SUB, 1, 0, 1000, 8, 120, 3600, 500, 500, 0, 0};

static int ep;
static struct conn *conns; /* nconn device connections, then the publisher */
static int nconns_total;

/* per device */
/* dev_state bits: SENT request sent, OK 2xx seen, NOTIFIED body-less NOTIFY seen, DONE ready or failed */
enum { DEV_SENT = 1, DEV_OK = 2, DEV_NOTIFIED = 4, DEV_DONE = 8 };
static int *dev_state;
static long n_outstanding;    /* devices whose setup is under way */
static int *dev_last_idx;     /* ordering check */
static int *dev_count;        /* deliveries per device */
static long n_ready, n_setup_fail, n_out_of_order, n_terminated, n_other_req;
/* per message */
static double *sent_at;
static int *delivered;
static long n_sent, n_pub_200, n_pub_202, n_pub_other, n_pub_resp, n_done_msgs;
static uint32_t *lat_us; /* one per delivery */
static long n_lat, lat_cap, n_deliveries, n_dup_deliveries;
static long n_gapped; /* messages that NOTIFYs reported discarded by retention (im.Gap: a-b) */
static double first_send, last_delivery;
static long trace_dev = -1; /* IMLOAD_TRACE=N: print every request device N receives */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

/* ---- /proc ---------------------------------------------------------------------------------- */

/* utime+stime ticks of one process and its parent pid; -1 if gone */
static long proc_ticks(long pid, long *ppid)
{
    char path[64], line[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = 0;
    char *p = strrchr(line, ')');
    if (!p)
        return -1;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    char state;
    long pp, utime, stime;
    if (sscanf(p + 2, "%c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &state, &pp, &utime,
               &stime) != 4)
        return -1;
    if (ppid)
        *ppid = pp;
    return utime + stime;
}

/* CPU-seconds of pid and its direct children (Kamailio's workers) */
static double cpu_seconds(long pid)
{
    if (pid <= 0)
        return 0;
    long tot = proc_ticks(pid, NULL);
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        long child = atol(e->d_name), pp = 0;
        long t = proc_ticks(child, &pp);
        if (t >= 0 && pp == pid)
            tot += t;
    }
    if (d)
        closedir(d);
    return (double)tot / sysconf(_SC_CLK_TCK);
}

static long rss_bytes(long pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    fclose(f);
    return kb * 1024;
}

/* ---- buffers and sockets -------------------------------------------------------------------- */

static void buf_reserve(struct buf *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    if (b->off) { /* compact first */
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + more <= b->cap)
            return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more)
        cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p)
        die("realloc");
    b->cap = cap;
}

static void conn_flush(struct conn *c)
{
    while (c->out.len > c->out.off) {
        ssize_t n = write(c->fd, c->out.p + c->out.off, c->out.len - c->out.off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            fprintf(stderr, "imload: write on port %d: %s\n", c->lport, strerror(errno));
            exit(2);
        }
        c->out.off += (size_t)n;
    }
    if (c->out.off == c->out.len)
        c->out.off = c->out.len = 0;
    struct epoll_event ev = {.events = EPOLLIN | (c->out.len ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_send(struct conn *c, const char *p, size_t n)
{
    buf_reserve(&c->out, n);
    memcpy(c->out.p + c->out.len, p, n);
    c->out.len += n;
    if (c->out.len - c->out.off == n) /* nothing was queued: try at once */
        conn_flush(c);
}

static void conn_open(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    inet_pton(AF_INET, opt.host, &sa.sin_addr);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        die("socket");
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
    struct sockaddr_in me;
    socklen_t ml = sizeof me;
    getsockname(c->fd, (struct sockaddr *)&me, &ml);
    c->lport = ntohs(me.sin_port);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl");
}

/* ---- building requests ---------------------------------------------------------------------- */

static char scratch[8192];

static struct conn *dev_conn(int d)
{
    return &conns[d % opt.nconn];
}

static void dev_user(int d, char *out, size_t n)
{
    if (opt.mode == MODE_MEM && !opt.one_topic)
        snprintf(out, n, "%s%d", opt.user, d);
    else
        snprintf(out, n, "%s", opt.user);
}

static void send_device_request(int d)
{
    struct conn *c = dev_conn(d);
    char user[128];
    dev_user(d, user, sizeof user);
    int reg = opt.mode == MODE_REG;
    int n = snprintf(scratch, sizeof scratch,
                     "%s sip:%s%s%s SIP/2.0\r\n"
                     "Via: SIP/2.0/TCP 127.0.0.1:%d;rport;branch=z9hG4bK-imld-%x-d%d\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:%s@%s>;tag=imld%x-%d\r\n"
                     "To: <sip:%s@%s>\r\n"
                     "Call-ID: imld-%c-%x-%d\r\n"
                     "CSeq: 1 %s\r\n"
                     "Contact: <sip:imld%d@127.0.0.1:%d;transport=tcp>;+sip.instance=\"<urn:uuid:%08x-0000-4000-8000-%012x>\"\r\n"
                     "%s"
                     "Expires: %d\r\n"
                     "Content-Length: 0\r\n\r\n",
                     reg ? "REGISTER" : "SUBSCRIBE", reg ? "" : user, reg ? "" : "@", opt.domain,
                     c->lport, opt.run, d, user, opt.domain, opt.run, d, user, opt.domain,
                     reg ? 'r' : 's', opt.run, d, reg ? "REGISTER" : "SUBSCRIBE", d, c->lport,
                     opt.run, d, reg ? "" : "Event: im\r\n", opt.expires);
    conn_send(c, scratch, (size_t)n);
    dev_state[d] = DEV_SENT;
    n_outstanding++;
}

static void send_publish(struct conn *c, long k)
{
    char body[64];
    int bl = snprintf(body, sizeof body, "imload-idx=%ld", k);
    int n = snprintf(scratch, sizeof scratch,
                     "MESSAGE sip:%s@%s SIP/2.0\r\n"
                     "Via: SIP/2.0/TCP 127.0.0.1:%d;rport;branch=z9hG4bK-imld-%x-p%ld\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:imload-sender@%s>;tag=imldp%x\r\n"
                     "To: <sip:%s@%s>\r\n"
                     "Call-ID: imld-p-%x-%ld\r\n"
                     "CSeq: 1 MESSAGE\r\n"
                     "Content-Type: text/plain\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     opt.user, opt.domain, c->lport, opt.run, k, opt.domain, opt.run, opt.user,
                     opt.domain, opt.run, k, bl, body);
    sent_at[k] = now_s();
    if (k == 0)
        first_send = sent_at[k];
    conn_send(c, scratch, (size_t)n);
}

/* ---- parsing -------------------------------------------------------------------------------- */

/* header name at line start, case-insensitive, full or compact form; returns value or NULL */
static const char *hdr_is(const char *line, const char *eol, const char *full, const char *compact)
{
    const char *colon = memchr(line, ':', (size_t)(eol - line));
    if (!colon)
        return NULL;
    const char *ne = colon;
    while (ne > line && (ne[-1] == ' ' || ne[-1] == '\t'))
        ne--;
    size_t nl = (size_t)(ne - line);
    if ((nl == strlen(full) && !strncasecmp(line, full, nl)) ||
        (compact && nl == strlen(compact) && !strncasecmp(line, compact, nl))) {
        const char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t'))
            v++;
        return v;
    }
    return NULL;
}

/* find header value in [p, hend); sets *vlen */
static const char *find_hdr(const char *p, const char *hend, const char *full, const char *compact,
                            size_t *vlen)
{
    const char *line = memchr(p, '\n', (size_t)(hend - p)); /* skip the start line */
    while (line && ++line < hend) {
        const char *eol = memchr(line, '\r', (size_t)(hend - line));
        if (!eol)
            eol = hend;
        const char *v = hdr_is(line, eol, full, compact);
        if (v) {
            *vlen = (size_t)(eol - v);
            return v;
        }
        line = memchr(eol, '\n', (size_t)(hend - eol));
    }
    return NULL;
}

/* 200 OK echoing Via (all), From, To (+tag if none), Call-ID, CSeq */
static void reply_200(struct conn *c, const char *p, const char *hend)
{
    size_t n = 0;
    n += (size_t)snprintf(scratch, sizeof scratch, "SIP/2.0 200 OK\r\n");
    const char *line = memchr(p, '\n', (size_t)(hend - p));
    while (line && ++line < hend) {
        const char *eol = memchr(line, '\r', (size_t)(hend - line));
        if (!eol)
            eol = hend;
        size_t ll = (size_t)(eol - line);
        int is_to = hdr_is(line, eol, "To", "t") != NULL;
        if (is_to || hdr_is(line, eol, "Via", "v") || hdr_is(line, eol, "From", "f") ||
            hdr_is(line, eol, "Call-ID", "i") || hdr_is(line, eol, "CSeq", NULL)) {
            if (n + ll + 64 > sizeof scratch)
                break;
            memcpy(scratch + n, line, ll);
            n += ll;
            if (is_to && !memmem(line, ll, ";tag=", 5))
                n += (size_t)snprintf(scratch + n, sizeof scratch - n, ";tag=imld");
            scratch[n++] = '\r';
            scratch[n++] = '\n';
        }
        line = memchr(eol, '\n', (size_t)(hend - eol));
    }
    n += (size_t)snprintf(scratch + n, sizeof scratch - n, "Content-Length: 0\r\n\r\n");
    conn_send(c, scratch, n);
}

/* Call-ID "imld-X-RUN-N": returns N if kind and run match, else -1 */
static long callid_index(const char *v, size_t vl, char kind)
{
    char tmp[96];
    if (vl >= sizeof tmp)
        return -1;
    memcpy(tmp, v, vl);
    tmp[vl] = 0;
    char k;
    unsigned run;
    long n;
    if (sscanf(tmp, "imld-%c-%x-%ld", &k, &run, &n) != 3 || k != kind || run != opt.run)
        return -1;
    return n;
}

static void delivery(int dev, const char *body, size_t blen)
{
    const char *m = memmem(body, blen, "imload-idx=", 11);
    if (!m)
        return;
    long k = 0; /* the body is not NUL-terminated: stop at its end */
    for (const char *q = m + 11; q < body + blen && *q >= '0' && *q <= '9'; q++)
        k = k * 10 + (*q - '0');
    if (k < 0 || k >= opt.msgs || k >= n_sent)
        return;
    double t = now_s();
    last_delivery = t;
    n_deliveries++;
    if (dev >= 0) {
        if (k <= dev_last_idx[dev])
            n_out_of_order++;
        dev_last_idx[dev] = (int)k;
        dev_count[dev]++;
    }
    if (delivered[k] >= opt.ndev)
        n_dup_deliveries++;
    if (++delivered[k] == opt.ndev)
        n_done_msgs++;
    if (n_lat < lat_cap)
        lat_us[n_lat++] = (uint32_t)((t - sent_at[k]) * 1e6);
}

/* A REGISTER is set up by its 2xx; a SUBSCRIBE by its 2xx and the body-less NOTIFY (either order). */
static void device_maybe_ready(long k)
{
    int need = opt.mode == MODE_REG ? DEV_OK : DEV_OK | DEV_NOTIFIED;
    if (dev_state[k] & DEV_DONE || (dev_state[k] & need) != need)
        return;
    dev_state[k] |= DEV_DONE;
    n_outstanding--;
    n_ready++;
}

static void handle_message(struct conn *c, const char *p, size_t hlen, const char *body, size_t blen)
{
    const char *hend = p + hlen;
    size_t vl;
    const char *cid = find_hdr(p, hend, "Call-ID", "i", &vl);
    if (!strncmp(p, "SIP/2.0 ", 8)) {
        int status = atoi(p + 8);
        if (status < 200 || !cid)
            return;
        long k;
        if (c->is_publisher) {
            n_pub_resp++;
            if (status == 200)
                n_pub_200++;
            else if (status == 202)
                n_pub_202++;
            else if (n_pub_other++ < 5)
                fprintf(stderr, "imload: publish answered %d\n", status);
        } else if ((k = callid_index(cid, vl, opt.mode == MODE_REG ? 'r' : 's')) >= 0 &&
                   k < opt.ndev && (dev_state[k] & (DEV_OK | DEV_DONE)) == 0) {
            dev_state[k] |= DEV_OK;
            if (status >= 300) {
                dev_state[k] |= DEV_DONE;
                n_outstanding--;
                if (n_setup_fail++ < 5)
                    fprintf(stderr, "imload: device %ld setup answered %d\n", k, status);
            }
            device_maybe_ready(k);
        }
        return;
    }
    reply_200(c, p, hend);
    if (trace_dev >= 0 && cid && callid_index(cid, vl, 's') == trace_dev)
        fprintf(stderr, "TRACE %.*s\n----\n", (int)(hlen + blen + 2), p);
    if (!strncmp(p, "NOTIFY ", 7)) {
        long k = cid ? callid_index(cid, vl, 's') : -1;
        const char *ss = find_hdr(p, hend, "Subscription-State", NULL, &vl);
        if (ss && vl >= 10 && !strncasecmp(ss, "terminated", 10))
            n_terminated++;
        if (blen == 0) {
            if (k >= 0 && k < opt.ndev && !(dev_state[k] & DEV_NOTIFIED)) {
                dev_state[k] |= DEV_NOTIFIED;
                device_maybe_ready(k);
            }
            return;
        }
        const char *g = memmem(body, blen, "\r\nim.Gap: ", 10);
        if (g) {
            long a = 0, z = 0;
            const char *q = g + 10, *e = body + blen;
            while (q < e && *q >= '0' && *q <= '9')
                a = a * 10 + (*q++ - '0');
            if (q < e && *q == '-')
                for (q++; q < e && *q >= '0' && *q <= '9'; q++)
                    z = z * 10 + (*q - '0');
            if (z >= a)
                n_gapped += z - a + 1;
        }
        delivery(k >= 0 && k < opt.ndev ? (int)k : -1, body, blen);
    } else if (!strncmp(p, "MESSAGE ", 8)) {
        delivery((int)(c - conns), body, blen);
    } else {
        n_other_req++;
    }
}

static void conn_read(struct conn *c)
{
    for (;;) {
        buf_reserve(&c->in, 65536);
        ssize_t n = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            fprintf(stderr, "imload: read on port %d: %s\n", c->lport, strerror(errno));
            exit(2);
        }
        if (n == 0) {
            fprintf(stderr, "imload: server closed the connection from port %d\n", c->lport);
            exit(2);
        }
        c->in.len += (size_t)n;
        for (;;) { /* frame */
            char *p = c->in.p + c->in.off;
            size_t avail = c->in.len - c->in.off;
            while (avail && (*p == '\r' || *p == '\n')) { /* keep-alive CRLFs */
                p++;
                avail--;
                c->in.off++;
            }
            char *he = memmem(p, avail, "\r\n\r\n", 4);
            if (!he)
                break;
            size_t hlen = (size_t)(he - p) + 2, vl;
            const char *cl = find_hdr(p, p + hlen, "Content-Length", "l", &vl);
            size_t blen = cl ? (size_t)strtoul(cl, NULL, 10) : 0;
            size_t total = (size_t)(he - p) + 4 + blen;
            if (avail < total)
                break;
            handle_message(c, p, hlen, he + 4, blen);
            c->in.off += total;
        }
        if (c->in.off == c->in.len)
            c->in.off = c->in.len = 0;
    }
}

static void poll_once(int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, timeout_ms);
    for (int i = 0; i < n; i++) {
        struct conn *c = evs[i].data.ptr;
        if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            conn_read(c);
        if (evs[i].events & EPOLLOUT)
            conn_flush(c);
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double q)
{
    if (!n_lat)
        return 0;
    long i = (long)(q * (double)(n_lat - 1) + 0.5);
    return lat_us[i] / 1000.0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: imload -p PORT [-h HOST] [-m sub|reg|mem] [-n DEVICES] [-c CONNECTIONS]\n"
            "              [-M MESSAGES] [-r RATE|0] [-w WINDOW] [-T SECONDS] [-P SERVER_PID]\n"
            "              [-u USER] [-d DOMAIN] [-e EXPIRES] [-R RUN] [-1 (mem: one topic)]\n");
    exit(2);
}

/* Sets up every device with at most setup_window requests outstanding. */
static int setup_devices(double deadline)
{
    int next = 0;
    while (n_ready + n_setup_fail < opt.ndev) {
        while (next < opt.ndev && n_outstanding < opt.setup_window)
            send_device_request(next++);
        if (now_s() > deadline) {
            fprintf(stderr, "imload: setup timed out: %ld of %d devices ready\n", n_ready, opt.ndev);
            return -1;
        }
        poll_once(5);
    }
    return 0;
}

static void settle(double secs)
{
    double end = now_s() + secs;
    while (now_s() < end)
        poll_once(10);
}

int main(int argc, char **argv)
{
    int ch;
    while ((ch = getopt(argc, argv, "h:p:m:n:c:M:r:w:T:P:u:d:e:R:1")) != -1) {
        switch (ch) {
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'm':
            opt.mode = !strcmp(optarg, "sub") ? MODE_SUB : !strcmp(optarg, "reg") ? MODE_REG
                       : !strcmp(optarg, "mem") ? MODE_MEM : -1;
            if (opt.mode < 0)
                usage();
            break;
        case 'n': opt.ndev = atoi(optarg); break;
        case 'c': opt.nconn = atoi(optarg); break;
        case 'M': opt.msgs = atoi(optarg); break;
        case 'r': opt.rate = atof(optarg); break;
        case 'w': opt.window = atoi(optarg); break;
        case 'T': opt.timeout_s = atoi(optarg); break;
        case 'P': opt.pid = atol(optarg); break;
        case 'u': opt.user = optarg; break;
        case 'd': opt.domain = optarg; break;
        case 'e': opt.expires = atoi(optarg); break;
        case '1': opt.one_topic = 1; break;
        case 'R': opt.run = (unsigned)strtoul(optarg, NULL, 16); break;
        default: usage();
        }
    }
    if (!opt.port || opt.ndev < 1 || opt.msgs < 0 || opt.window < 1)
        usage();
    if (!opt.run)
        opt.run = (unsigned)getpid() ^ (unsigned)time(NULL);
    if (opt.nconn <= 0 || opt.nconn > opt.ndev)
        opt.nconn = opt.ndev;
    if (opt.mode == MODE_REG)
        opt.nconn = opt.ndev; /* the Contact is the connection's address */
    double deadline = now_s() + opt.timeout_s;
    if (getenv("IMLOAD_TRACE"))
        trace_dev = atol(getenv("IMLOAD_TRACE"));
    signal(SIGPIPE, SIG_IGN);
    ep = epoll_create1(0);
    if (ep < 0)
        die("epoll_create1");

    dev_state = calloc((size_t)opt.ndev, sizeof *dev_state);
    dev_last_idx = malloc((size_t)opt.ndev * sizeof *dev_last_idx);
    dev_count = calloc((size_t)opt.ndev, sizeof *dev_count);
    for (int d = 0; d < opt.ndev; d++)
        dev_last_idx[d] = -1;
    sent_at = calloc((size_t)opt.msgs + 1, sizeof *sent_at);
    delivered = calloc((size_t)opt.msgs + 1, sizeof *delivered);
    lat_cap = (long)opt.msgs * opt.ndev;
    if (lat_cap > 50000000)
        lat_cap = 50000000;
    lat_us = malloc((size_t)(lat_cap ? lat_cap : 1) * sizeof *lat_us);
    nconns_total = opt.nconn + 1;
    conns = calloc((size_t)nconns_total, sizeof *conns);
    if (!dev_state || !dev_last_idx || !sent_at || !delivered || !lat_us || !conns)
        die("calloc");

    long rss0 = opt.pid ? rss_bytes(opt.pid) : -1;
    for (int i = 0; i < opt.nconn; i++) {
        conn_open(&conns[i]);
        conn_send(&conns[i], "\r\n\r\n", 4); /* keep-alive ping: the server sets up its reader */
    }
    settle(opt.mode == MODE_MEM ? 2.0 : 0.2);
    long rss1 = opt.pid ? rss_bytes(opt.pid) : -1;
    double t_setup = now_s();
    if (setup_devices(deadline) < 0)
        return 2;
    t_setup = now_s() - t_setup;
    printf("devices=%d connections=%d ready=%ld setup_failed=%ld setup_s=%.2f\n", opt.ndev,
           opt.nconn, n_ready, n_setup_fail, t_setup);

    if (opt.mode == MODE_MEM) {
        settle(7.0); /* completed server transactions (Timer J/K = T4 on TCP) are gone */
        long rss2 = rss_bytes(opt.pid);
        printf("rss_before=%ld rss_connected=%ld rss_subscribed=%ld\n", rss0, rss1, rss2);
        printf("bytes_per_connection=%.0f bytes_per_subscription=%.0f\n",
               (double)(rss1 - rss0) / opt.nconn, (double)(rss2 - rss1) / opt.ndev);
        return n_setup_fail ? 1 : 0;
    }

    struct conn *pub = &conns[opt.nconn];
    pub->is_publisher = 1;
    conn_open(pub);
    settle(0.5);
    double cpu0 = cpu_seconds(opt.pid);
    double t0 = now_s();
    long want = (long)opt.msgs * opt.ndev;
    while (n_deliveries + n_gapped < want && now_s() < deadline) {
        double t = now_s();
        if (opt.rate > 0) {
            while (n_sent < opt.msgs && t0 + n_sent / opt.rate <= t)
                send_publish(pub, n_sent++);
        } else {
            while (n_sent < opt.msgs && n_sent - n_done_msgs < opt.window)
                send_publish(pub, n_sent++);
        }
        int to = 10;
        if (opt.rate > 0 && n_sent < opt.msgs) {
            double wait = t0 + n_sent / opt.rate - now_s();
            to = wait <= 0 ? 0 : (int)(wait * 1000) + 1;
            if (to > 10)
                to = 10;
        }
        poll_once(to);
    }
    double cpu1 = cpu_seconds(opt.pid);
    double end = now_s() + 2; /* the last publish answers */
    while (n_pub_resp < n_sent && now_s() < end)
        poll_once(10);

    double span = (n_deliveries ? last_delivery : now_s()) - first_send;
    qsort(lat_us, (size_t)n_lat, sizeof *lat_us, cmp_u32);
    printf("mode=%s devices=%d connections=%d messages=%ld rate=%s%.0f publish_200=%ld publish_202=%ld "
           "publish_other=%ld\n",
           opt.mode == MODE_REG ? "reg" : "sub", opt.ndev, opt.nconn, n_sent,
           opt.rate > 0 ? "" : "closed-loop-window-", opt.rate > 0 ? opt.rate : opt.window,
           n_pub_200, n_pub_202, n_pub_other);
    printf("deliveries=%ld expected=%ld missing=%ld duplicates=%ld out_of_order=%ld terminated=%ld "
           "gap_reported=%ld\n",
           n_deliveries, want, want - n_deliveries + n_dup_deliveries, n_dup_deliveries, n_out_of_order,
           n_terminated, n_gapped);
    printf("latency_ms p50=%.3f p99=%.3f max=%.3f\n", pct(0.50), pct(0.99), n_lat ? lat_us[n_lat - 1] / 1000.0 : 0);
    printf("publish_per_s=%.1f deliveries_per_s=%.0f span_s=%.3f\n", span > 0 ? n_sent / span : 0,
           span > 0 ? n_deliveries / span : 0, span);
    if (n_deliveries < want) { /* which devices fell behind */
        int lo = dev_count[0], hi = dev_count[0], starved = 0;
        for (int d = 0; d < opt.ndev; d++) {
            lo = dev_count[d] < lo ? dev_count[d] : lo;
            hi = dev_count[d] > hi ? dev_count[d] : hi;
            starved += dev_count[d] < n_sent;
        }
        printf("per_device_deliveries min=%d max=%d devices_short=%d\n", lo, hi, starved);
        if (getenv("IMLOAD_DEBUG"))
            for (int d = 0; d < opt.ndev; d++)
                if (dev_count[d] < n_sent)
                    fprintf(stderr, "device %d conn-port %d got %d last-idx %d\n", d, dev_conn(d)->lport,
                            dev_count[d], dev_last_idx[d]);
    }
    if (opt.pid)
        printf("server_cpu_s=%.3f cpu_s_per_1000_deliveries=%.4f server_cores_busy=%.2f\n", cpu1 - cpu0,
               n_deliveries ? (cpu1 - cpu0) * 1000.0 / n_deliveries : 0,
               span > 0 ? (cpu1 - cpu0) / span : 0);
    return want == n_deliveries ? 0 : 1;
}
