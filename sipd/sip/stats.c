/* stats.c - requests and responses counted by method; see stats.h. */
#include "stats.h"

#include <string.h>

#include "../base/metrics.h"

static const char *const methods[] = {"other",   "ACK",     "BYE",      "CANCEL",   "INFO",
                                      "INVITE",  "MESSAGE", "NOTIFY",   "OPTIONS",  "PRACK",
                                      "PUBLISH", "REFER",   "REGISTER", "SUBSCRIBE", "UPDATE"};
#define NMETHODS (sizeof methods / sizeof methods[0])
static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"};

static struct metric_family *received_family, *sent_family;
static struct metric *received[NMETHODS];
static struct metric *sent[NMETHODS][6];

unsigned sip_stats_method_slot(const char *m)
{
    if (!m)
        return 0;
    for (unsigned i = 1; i < NMETHODS; i++)
        if (methods[i][0] == m[0] && strcmp(methods[i], m) == 0)
            return i;
    return 0;
}

static void register_families(void)
{
    static const char *const by_method[] = {"method", NULL};
    static const char *const by_class[] = {"method", "class", NULL};
    received_family = metrics_family(metrics_default(), "sipd_requests_received_total",
                                     "SIP requests received and parsed, retransmissions included, "
                                     "by method (\"other\": a method sipd does not know).",
                                     METRIC_COUNTER, by_method, NULL, 0);
    sent_family = metrics_family(metrics_default(), "sipd_responses_sent_total",
                                 "SIP responses this node sent (not retransmissions), by the "
                                 "request's method and the status class.",
                                 METRIC_COUNTER, by_class, NULL, 0);
}

void sip_stats_request_received(unsigned slot)
{
    if (slot >= NMETHODS)
        slot = 0;
    if (!received[slot]) {
        if (!received_family)
            register_families();
        received[slot] = metric_series(received_family, (const char *const[]){methods[slot]});
    }
    metric_inc(received[slot]);
}

void sip_stats_response_sent(unsigned slot, int code)
{
    if (code < 100 || code > 699)
        return;
    if (slot >= NMETHODS)
        slot = 0;
    unsigned c = (unsigned)(code / 100 - 1);
    if (!sent[slot][c]) {
        if (!sent_family)
            register_families();
        sent[slot][c] = metric_series(sent_family, (const char *const[]){methods[slot], classes[c]});
    }
    metric_inc(sent[slot][c]);
}
