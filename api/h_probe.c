/* h_probe.c - /healthz and /readyz: what an external load balancer or orchestrator probes. No
 * token, ever. Both make a trip to the loop: a process whose loop is stuck is not healthy. */
#include "api_impl.h"

static void healthz_run(struct api_job *j)
{
    api_job_done(j, 200, json_pack("{s:s}", "status", "ok"));
}

void api_h_healthz(struct api_req *r)
{
    api_job_call(r, api_job_new(r->api, healthz_run));
}

static void readyz_run(struct api_job *j)
{
    const struct api_ctx *c = &j->api->ctx;
    const char *reason = c->not_ready ? c->not_ready(c->arg) : NULL;
    if (reason)
        api_job_done(j, 503, json_pack("{s:b, s:s}", "ready", 0, "reason", reason));
    else
        api_job_done(j, 200, json_pack("{s:b}", "ready", 1));
}

void api_h_readyz(struct api_req *r)
{
    api_job_call(r, api_job_new(r->api, readyz_run));
}
