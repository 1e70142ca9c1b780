/* loop_fixture.c - a loop plus a transaction layer on loopback (see loop_fixture.h). */
#include "loop_fixture.h"

#include <netinet/in.h>
#include <string.h>

#include "transport/addr.h"

static void drop_recv(void *arg, const struct sip_source *src, char *buf, size_t len)
{
    (void)arg, (void)src, (void)buf, (void)len;
}

static int listen_loopback_udp(struct loop_fixture *f)
{
    struct sip_endpoint ep = {.proto = SIP_PROTO_UDP};
    if (sockaddr_from_host_port("127.0.0.1", 9, 0, &ep.addr, &ep.addrlen) != 0 ||
        transport_listen(f->tp, &ep) != 0)
        return -1;
    const struct sip_endpoint *l = transport_listener(f->tp, SIP_PROTO_UDP, NULL);
    if (!l)
        return -1;
    f->listener = l->addr;
    f->listenerlen = sizeof(struct sockaddr_in);
    return 0;
}

int loop_fixture_open(struct loop_fixture *f, const struct loop_fixture_config *cfg)
{
    memset(f, 0, sizeof *f);
    f->loop = loop_create();
    if (!f->loop)
        return -1;
    struct transport_config tc = {.max_message_bytes = 65536, .max_connections = 8,
                                  .tcp_idle_timeout_s = 60, .max_tx_buffer_bytes = 65536};
    f->tp = transport_create(f->loop, &tc, cfg->on_recv ? cfg->on_recv : drop_recv, cfg->arg);
    if (!f->tp || (cfg->listen_udp && listen_loopback_udp(f) != 0)) {
        loop_fixture_close(f);
        return -1;
    }
    struct txn_config xc = {.t1_ms = cfg->t1_ms, .t2_ms = cfg->t2_ms, .t4_ms = cfg->t4_ms};
    f->tl = txn_layer_create(f->loop, f->tp, &xc);
    if (!f->tl) {
        loop_fixture_close(f);
        return -1;
    }
    return 0;
}

void loop_fixture_close(struct loop_fixture *f)
{
    if (f->tl)
        txn_layer_destroy(f->tl);
    if (f->tp)
        transport_destroy(f->tp);
    if (f->loop)
        loop_destroy(f->loop);
    memset(f, 0, sizeof *f);
}

static void stop_loop(struct timer *t, void *arg)
{
    (void)t;
    loop_stop(arg);
}

void loop_fixture_run_ms(struct loop_fixture *f, uint64_t ms)
{
    struct timer stop = {0};
    loop_timer_start(f->loop, &stop, ms, stop_loop, f->loop);
    loop_run(f->loop);
    loop_timer_stop(f->loop, &stop);
}
