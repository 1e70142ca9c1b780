/* main.c - sipd: command line, configuration, daemon life cycle, signals. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "config.h"
#include "base/log.h"
#include "base/loop.h"
#include "cluster/self.h"
#include "notify.h"
#include "reload.h"
#include "server.h"
#include "store/store.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "dev"
#endif
#ifndef SIPD_SCHEMA_DIR
#define SIPD_SCHEMA_DIR "/usr/share/sipd/schema"
#endif

static const char usage_text[] =
    "Usage: sipd [OPTION]...\n"
    "A SIP server: registrar, proxy, IM broker and load balancer roles in one daemon.\n"
    "\n"
    "  -c, --config FILE       read configuration from FILE (key = value, [sections])\n"
    "  -r, --roles LIST        roles to run: registrar,proxy,broker,redirect or all\n"
    "                          (registrar,proxy,broker); or balancer alone, with --db: the\n"
    "                          cluster's front end (docs/cluster.md)\n"
    "  -l, --listen LIST       e.g. udp:127.0.0.1:5060,tcp:127.0.0.1:5060,udp:[::1]:5060\n"
    "  -d, --domain LIST       SIP domains served (comma-separated; empty = this node's own\n"
    "                          addresses and names, with no port or one of its ports)\n"
    "      --db CONNINFO       PostgreSQL connection string (default: in-memory store)\n"
    "      --name NAME         this node's name in the node table (with --db: its row in\n"
    "                          `nodes`, status 1 while it runs; see node.address,\n"
    "                          node.max_num, node.standby in sipd(8))\n"
    "      --exit-when-drained once the node's row is draining and no transaction is in\n"
    "                          progress, stop cleanly and exit 0\n"
    "      --api ADDR:PORT     the REST API, /metrics and the status page (default\n"
    "                          127.0.0.1:5080; `off` disables it; see docs/api.md)\n"
    "      --auth on|off       digest authentication of the served domains' users\n"
    "                          (auth.enabled, default off; see docs/auth.md)\n"
    "      --init-db           apply the database schema migrations and exit\n"
    "      --schema-dir DIR    where the migrations are (default " SIPD_SCHEMA_DIR ")\n"
    "      --log-level LEVEL   error, warn, info or debug\n"
    "  -f, --foreground        stay in the foreground and log to stderr\n"
    "  -p, --pidfile FILE      write the process id to FILE\n"
    "  -s, --set SEC.KEY=VAL   set any configuration key (see sipd(8))\n"
    "  -V, --version           print the version and exit\n"
    "  -h, --help              print this help and exit\n";

static void die_usage(const char *msg)
{
    fprintf(stderr, "sipd: error: %s\n", msg);
    exit(2);
}

/* Where the migrations are when database.schema_dir is not set: $SIPD_SCHEMA_DIR if set (taken as
 * given), else the first existing of: the installed directory ($(pkgdatadir)/schema), the source
 * tree's schema/ (a build, in or out of tree, that is not installed), schema/ next to the binary's
 * directory, ./schema. Returns 0, or -1 with err naming the directories tried. */
static int find_schema_dir(struct sipd_config *c, char *err, size_t errlen)
{
    const char *env = getenv("SIPD_SCHEMA_DIR");
    if (!c->schema_dir[0] && env && strlen(env) < sizeof c->schema_dir)
        strcpy(c->schema_dir, env);
    char beside_exe[PATH_MAX + 16] = "";
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        snprintf(beside_exe, sizeof beside_exe, "%s/../schema", dirname(exe));
    }
    const char *const cands[] = {
        SIPD_SCHEMA_DIR,
#ifdef SIPD_SRC_SCHEMA_DIR
        SIPD_SRC_SCHEMA_DIR,
#endif
        beside_exe[0] ? beside_exe : NULL,
        "schema",
    };
    return config_pick_schema_dir(c, cands, sizeof cands / sizeof cands[0], err, errlen);
}

static int write_pidfile(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        LOG_ERROR("cannot write pidfile %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
    return 0;
}

static int daemonize(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (chdir("/") != 0)
        return -1;
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    log_use_syslog(1);
    return 0;
}

struct sig_ctx {
    struct server *srv;
    int fd;
    struct notify *notify;
    struct reload *reload;
    const char *status; /* systemd's STATUS= once ready */
};

static void on_signal(struct loop *loop, int fd, uint32_t events, void *arg)
{
    struct sig_ctx *sc = arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            LOG_INFO("signal %s received", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            notify_stopping(sc->notify);
            server_shutdown(sc->srv);
        } else if (si.ssi_signo == SIGHUP) {
            LOG_INFO("signal SIGHUP received: re-reading the configuration");
            notify_reloading(sc->notify);
            reload_run(sc->reload);
            notify_ready(sc->notify, sc->status);
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"roles", required_argument, NULL, 'r'},
        {"listen", required_argument, NULL, 'l'},  {"domain", required_argument, NULL, 'd'},
        {"db", required_argument, NULL, 'D'},      {"init-db", no_argument, NULL, 'I'},
        {"schema-dir", required_argument, NULL, 'S'}, {"log-level", required_argument, NULL, 'L'},
        {"foreground", no_argument, NULL, 'f'},    {"pidfile", required_argument, NULL, 'p'},
        {"set", required_argument, NULL, 's'},     {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},          {"name", required_argument, NULL, 'N'},
        {"exit-when-drained", no_argument, NULL, 'E'}, {"api", required_argument, NULL, 'A'},
        {"auth", required_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    const char *shortopts = "c:r:l:d:fp:s:Vh";
    struct sipd_config cfg;
    config_defaults(&cfg);
    char err[512];

    /* pass 1: the config file, so flags override it whatever their order */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        if (c == 'c' && config_load_file(&cfg, optarg, err, sizeof err) < 0)
            die_usage(err);
    }
    /* pass 2: everything else */
    optind = 1;
    opterr = 0;
    int init_db = 0;
    const char *config_path = NULL;
    while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'r': rc = config_set(&cfg, "sipd", "roles", optarg, err, sizeof err); break;
        case 'l': rc = config_set(&cfg, "sipd", "listen", optarg, err, sizeof err); break;
        case 'd': rc = config_set(&cfg, "sipd", "domain", optarg, err, sizeof err); break;
        case 'D': rc = config_set(&cfg, "database", "conninfo", optarg, err, sizeof err); break;
        case 'I': init_db = 1; break;
        case 'S': rc = config_set(&cfg, "database", "schema_dir", optarg, err, sizeof err); break;
        case 'L': rc = config_set(&cfg, "sipd", "log_level", optarg, err, sizeof err); break;
        case 'f': cfg.foreground = 1; break;
        case 'p': rc = config_set(&cfg, "sipd", "pidfile", optarg, err, sizeof err); break;
        case 's': rc = config_set_dotted(&cfg, optarg, err, sizeof err); break;
        case 'N': rc = config_set(&cfg, "sipd", "node_name", optarg, err, sizeof err); break;
        case 'E': cfg.exit_when_drained = 1; break;
        case 'A': rc = config_set(&cfg, "api", "listen", optarg, err, sizeof err); break;
        case 'U': rc = config_set(&cfg, "auth", "enabled", optarg, err, sizeof err); break;
        case 'V': printf("sipd %s\n", PACKAGE_VERSION); return 0;
        case 'h': fputs(usage_text, stdout); return 0;
        case '?':
        default:
            if (optopt)
                snprintf(err, sizeof err, "option -%c: unknown or missing its argument (see --help)", optopt);
            else
                snprintf(err, sizeof err, "option %s: unknown or missing its argument (see --help)", argv[optind - 1]);
            die_usage(err);
        }
        if (rc < 0)
            die_usage(err);
    }
    if (optind < argc) {
        snprintf(err, sizeof err, "unexpected argument '%s' (see --help)", argv[optind]);
        die_usage(err);
    }
    if (config_finish(&cfg, err, sizeof err) < 0)
        die_usage(err);
    log_level_parse(cfg.log_level, &log_current_level);
    if (!init_db && cfg.db[0] && cfg.node_name[0]) {
        char addr[128];
        if (node_self_address(&cfg, addr, sizeof addr, err, sizeof err) < 0) {
            snprintf(err + strlen(err), sizeof err - strlen(err), " (node %s)", cfg.node_name);
            die_usage(err);
        }
    }

    if (init_db) {
        if (!cfg.db[0])
            die_usage("--init-db needs --db CONNINFO (or database.conninfo)");
        if (find_schema_dir(&cfg, err, sizeof err) < 0) {
            fprintf(stderr, "sipd: %s\n", err);
            return 1;
        }
        if (store_init_db(cfg.db, cfg.schema_dir) < 0)
            return 1;
        printf("sipd: database schema is up to date\n");
        return 0;
    }

    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);

    struct loop *loop = loop_create();
    if (!loop) {
        LOG_ERROR("cannot create the event loop: %s", strerror(errno));
        return 1;
    }
    struct server *srv = server_create(loop, &cfg);
    if (!srv) {
        loop_destroy(loop);
        return 1;
    }
    if (!cfg.foreground && daemonize() < 0) {
        LOG_ERROR("cannot daemonize: %s", strerror(errno));
        return 1;
    }
    char status[256];
    snprintf(status, sizeof status, "ready roles=%s store=%s", cfg.roles, cfg.db[0] ? "postgres" : "memory");
    struct sig_ctx sc = {.srv = srv, .fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC),
                         .notify = notify_create(loop), .reload = reload_create(srv, &cfg, config_path),
                         .status = status};
    if (!sc.notify || !sc.reload || sc.fd < 0 || loop_fd_add(loop, sc.fd, EPOLLIN, on_signal, &sc) < 0) {
        LOG_ERROR("cannot set up signal handling: %s", strerror(errno));
        return 1;
    }
    if (server_start_api(srv) < 0)
        return 1;
    if (cfg.pidfile[0] && write_pidfile(cfg.pidfile) < 0)
        return 1;
    LOG_INFO("sipd %s ready roles=%s store=%s", PACKAGE_VERSION, cfg.roles, cfg.db[0] ? "postgres" : "memory");
    notify_ready(sc.notify, status);
    int rc = loop_run(loop);
    notify_destroy(sc.notify);
    reload_destroy(sc.reload);
    server_destroy(srv);
    loop_fd_del(loop, sc.fd);
    close(sc.fd);
    loop_destroy(loop);
    if (cfg.pidfile[0])
        unlink(cfg.pidfile);
    LOG_INFO("sipd stopped");
    return rc == 0 ? 0 : 1;
}
