/* options.h - where sipctl finds its server and token: flags, environment, config file,
 * defaults. Pure (no network), so the unit tests drive it directly. */
#ifndef SIPCTL_OPTIONS_H
#define SIPCTL_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

/* Exit statuses of sipctl (and of every command handler). */
enum ctl_exit {
    CTL_EXIT_OK = 0,          /* the operation succeeded */
    CTL_EXIT_FAILED = 1,      /* the API refused it or it failed */
    CTL_EXIT_USAGE = 2,       /* bad command line or config file */
    CTL_EXIT_UNREACHABLE = 3, /* connection refused, timeout, name not resolved */
};

#define CTL_DEFAULT_URL "http://127.0.0.1:5080"
#define CTL_DEFAULT_TOKEN_FILE "/etc/sipd/api-token"

/* What sipctl runs with once every source is merged. Strings are owned (ctl_options_free). */
struct ctl_options {
    char *url;         /* base URL without a trailing '/' */
    char *token;       /* bearer token or NULL */
    char *cacert;      /* --cacert / cacert =: CA file for an https URL; NULL = system store */
    bool is_insecure;  /* --insecure: https without verifying the server's certificate */
    bool is_json;      /* --json: print the API's JSON */
    int cmd_argc;      /* the command and its arguments (pointers into argv) */
    char **cmd_argv;
};

/* Where the values can come from, highest precedence first; NULL when absent. The caller fills
 * it from the real environment with ctl_sources_from_env(); the tests fill it by hand. */
struct ctl_sources {
    const char *env_url;          /* SIPCTL_URL */
    const char *env_token;        /* SIPCTL_TOKEN */
    const char *config_paths[4];  /* candidates in order; the first that exists is read */
    const char *default_token_file; /* read when no token is given anywhere (may be unreadable) */
};

/* Fill SRC from getenv(): $SIPCTL_CONFIG, ~/.config/sipctl.conf, /etc/sipd/sipctl.conf.
 * HOMEBUF (at least 4096 bytes) holds the expanded home path the result points into. */
void ctl_sources_from_env(struct ctl_sources *src, char *homebuf, size_t homebuf_len);

/* Parse the global options of ARGV (--url, --token, --cacert, --insecure, --json, --help; --json is also accepted
 * after the command), then merge SRC (flags > env > config file > defaults).
 * Returns CTL_EXIT_OK, or CTL_EXIT_USAGE with a one-line reason in ERR. *WANTS_HELP is set by
 * -h/--help. O's strings are owned by O; cmd_argv points into ARGV (which is reordered). */
int ctl_options_parse(struct ctl_options *o, int argc, char **argv, const struct ctl_sources *src,
                      bool *wants_help, char *err, size_t errlen);

/* Read a config file (`url = ...`, `token = ...`, `token_file = ...`, `cacert = ...`, '#' comments) into the
 * unset fields of O. Returns 0, -ENOENT when PATH does not exist, or CTL_EXIT_USAGE-style -EINVAL
 * with "PATH:LINE: reason" in ERR. */
int ctl_config_read(struct ctl_options *o, const char *path, char *err, size_t errlen);

/* First line of PATH without its newline, or NULL (unreadable/empty). Caller frees. */
char *ctl_read_first_line(const char *path);

void ctl_options_free(struct ctl_options *o);

#endif
