/* options.c - sipctl's global options. Precedence, highest first: command-line flags, the
 * environment (SIPCTL_URL, SIPCTL_TOKEN), the first config file found ($SIPCTL_CONFIG,
 * ~/.config/sipctl.conf, /etc/sipd/sipctl.conf), then the defaults (http://127.0.0.1:5080 and the
 * token in /etc/sipd/api-token when that file is readable). Each source only fills what a higher
 * one left unset, so the merge is "first non-NULL wins" applied in precedence order. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

void ctl_sources_from_env(struct ctl_sources *src, char *homebuf, size_t homebuf_len)
{
    memset(src, 0, sizeof(*src));
    src->env_url = getenv("SIPCTL_URL");
    src->env_token = getenv("SIPCTL_TOKEN");
    int n = 0;
    const char *cfg = getenv("SIPCTL_CONFIG");
    if (cfg && *cfg)
        src->config_paths[n++] = cfg;
    const char *home = getenv("HOME");
    if (home && *home) {
        snprintf(homebuf, homebuf_len, "%s/.config/sipctl.conf", home);
        src->config_paths[n++] = homebuf;
    }
    src->config_paths[n++] = "/etc/sipd/sipctl.conf";
    src->default_token_file = CTL_DEFAULT_TOKEN_FILE;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

char *ctl_read_first_line(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char buf[1024];
    char *line = fgets(buf, sizeof(buf), f);
    fclose(f);
    if (!line)
        return NULL;
    line = trim(line);
    return *line ? strdup(line) : NULL;
}

/* Keep a copy of VALUE in *SLOT unless a higher-precedence source set it already. */
static void fill(char **slot, const char *value)
{
    if (!*slot && value && *value)
        *slot = strdup(value);
}

int ctl_config_read(struct ctl_options *o, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char line[1024], *token_file = NULL;
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        if (strcmp(key, "url") == 0) {
            fill(&o->url, value);
        } else if (strcmp(key, "token") == 0) {
            fill(&o->token, value);
        } else if (strcmp(key, "cacert") == 0) {
            fill(&o->cacert, value);
        } else if (strcmp(key, "token_file") == 0) {
            free(token_file);
            token_file = strdup(value);
        } else {
            snprintf(err, errlen, "%s:%d: unknown key '%s' (url, token, token_file, cacert)", path,
                     lineno, key);
            rc = -EINVAL;
            break;
        }
    }
    fclose(f);
    if (rc == 0 && token_file && !o->token) {
        o->token = ctl_read_first_line(token_file);
        if (!o->token) {
            snprintf(err, errlen, "%s: token_file %s is unreadable or empty", path, token_file);
            rc = -EINVAL;
        }
    }
    free(token_file);
    return rc;
}

/* The value of option NAME at ARGV[*I] ("--name=value" or "--name value"), advancing *I;
 * NULL when ARGV[*I] is not that option. *MISSING is set when the value is absent. */
static const char *option_value(const char *name, int argc, char **argv, int *i, bool *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static void strip_trailing_slashes(char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
}

int ctl_options_parse(struct ctl_options *o, int argc, char **argv, const struct ctl_sources *src,
                      bool *wants_help, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    *wants_help = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        bool missing = false;
        const char *v;
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "--json") == 0) {
            o->is_json = true;
        } else if (strcmp(argv[i], "--insecure") == 0) {
            o->is_insecure = true;
        } else if ((v = option_value("--cacert", argc, argv, &i, &missing)) != NULL) {
            free(o->cacert);
            o->cacert = strdup(v);
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            *wants_help = true;
        } else if ((v = option_value("--url", argc, argv, &i, &missing)) != NULL) {
            free(o->url);
            o->url = strdup(v);
        } else if ((v = option_value("--token", argc, argv, &i, &missing)) != NULL) {
            free(o->token);
            o->token = strdup(v);
        } else {
            snprintf(err, errlen, missing ? "option %s needs a value" : "unknown option %s",
                     argv[i]);
            ctl_options_free(o);
            return CTL_EXIT_USAGE;
        }
    }
    /* --json may also follow the command ("sipctl nodes --json"); take it out of the words */
    int n = 0;
    for (int j = i; j < argc; j++) {
        if (strcmp(argv[j], "--json") == 0)
            o->is_json = true;
        else
            argv[i + n++] = argv[j];
    }
    o->cmd_argc = n;
    o->cmd_argv = argv + i;

    fill(&o->url, src->env_url);
    fill(&o->token, src->env_token);
    for (size_t k = 0; k < sizeof(src->config_paths) / sizeof(src->config_paths[0]); k++) {
        if (!src->config_paths[k])
            break;
        int rc = ctl_config_read(o, src->config_paths[k], err, errlen);
        if (rc == -ENOENT)
            continue;
        if (rc == -EINVAL) {
            ctl_options_free(o);
            return CTL_EXIT_USAGE;
        }
        break; /* the first file that exists (or exists unreadable) is the only one read */
    }
    fill(&o->url, CTL_DEFAULT_URL);
    if (!o->token && src->default_token_file)
        o->token = ctl_read_first_line(src->default_token_file);
    if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0) {
        snprintf(err, errlen, "URL %s: expected http://HOST:PORT", o->url);
        ctl_options_free(o);
        return CTL_EXIT_USAGE;
    }
    strip_trailing_slashes(o->url);
    return CTL_EXIT_OK;
}

void ctl_options_free(struct ctl_options *o)
{
    free(o->url);
    free(o->token);
    free(o->cacert);
    o->url = o->token = o->cacert = NULL;
}
