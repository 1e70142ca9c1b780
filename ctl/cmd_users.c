/* cmd_users.c - the users who may authenticate with digest (docs/auth.md): `user list`,
 * `user add AOR`, `user passwd AOR`, `user remove AOR`.
 *
 * A password comes from --password, else from the terminal (asked twice, not echoed), else (stdin
 * is no terminal: a script) from the first line of stdin. It travels to the API in the request
 * body and nowhere else: sipd keeps only its HA1s; this process wipes its copy when done. */
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cmd_impl.h"

#define PASSWORD_MAX 256

static void print_users(struct ctl_ctx *ctx, json_t *items, void *arg)
{
    (void)arg;
    static const char *const head[] = {"AOR", "REALM"};
    struct table *t = table_new(2, head);
    size_t i;
    json_t *u;
    json_array_foreach(items, i, u) {
        const char *cells[] = {ctl_field(u, "aor", NULL, 0), ctl_field(u, "realm", NULL, 0)};
        table_add_row(t, cells);
    }
    ctl_print_table(ctx, t);
}

int ctl_cmd_users(struct ctl_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        return ctl_usage(ctx, "user list takes no arguments");
    return ctl_api_show_list(ctx, "/api/v1/users", print_users, NULL);
}

/* One line from fd 0 into buf (n bytes), without its line break. 0, or -1 at EOF / too long. */
static int read_line(char *buf, size_t n)
{
    if (!fgets(buf, (int)n, stdin))
        return -1;
    size_t len = strcspn(buf, "\r\n");
    if (buf[len] == '\0' && len == n - 1)
        return -1; /* no line break within n - 1 bytes: too long */
    buf[len] = '\0';
    return 0;
}

/* Ask on the terminal without echo. */
static int ask_hidden(struct ctl_ctx *ctx, const char *prompt, char *buf, size_t n)
{
    struct termios old, quiet;
    if (tcgetattr(STDIN_FILENO, &old) < 0)
        return -1;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    fputs(prompt, ctx->err);
    fflush(ctx->err);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    int rc = read_line(buf, n);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', ctx->err);
    return rc;
}

/* The password of `user add|passwd AOR [--password PW]` into pw. 0, or an exit status. */
static int password_arg(struct ctl_ctx *ctx, int argc, char **argv, char *pw, size_t n)
{
    if (argc == 3 && strcmp(argv[1], "--password") == 0) {
        if (!argv[2][0] || strlen(argv[2]) >= n)
            return ctl_usage(ctx, "--password needs 1 to 256 bytes");
        strcpy(pw, argv[2]);
        return 0;
    }
    if (argc != 1 || argv[0][0] == '-')
        return ctl_usage(ctx, NULL);
    if (isatty(STDIN_FILENO)) {
        char again[PASSWORD_MAX + 2];
        int rc = ask_hidden(ctx, "Password: ", pw, n) < 0 ||
                         ask_hidden(ctx, "Password again: ", again, sizeof again) < 0
                     ? -1
                     : 0;
        int is_same = rc == 0 && strcmp(pw, again) == 0;
        explicit_bzero(again, sizeof again);
        if (rc < 0 || !is_same || !pw[0]) {
            ctl_errorf(ctx, "error: %s", !is_same && rc == 0 ? "the passwords differ"
                                                            : "no password given");
            return CTL_EXIT_FAILED;
        }
        return 0;
    }
    if (read_line(pw, n) < 0 || !pw[0]) {
        ctl_errorf(ctx, "error: no password on stdin (or over 256 bytes); use --password PW");
        return CTL_EXIT_FAILED;
    }
    return 0;
}

/* POST (add) or PATCH (passwd) a password; says so, or prints the answer with --json. */
static int write_password(struct ctl_ctx *ctx, int argc, char **argv, int is_add)
{
    char pw[PASSWORD_MAX + 2];
    int rc = password_arg(ctx, argc, argv, pw, sizeof pw);
    if (rc != 0)
        return rc;
    json_t *body = is_add ? json_pack("{s:s,s:s}", "user", argv[0], "password", pw)
                          : json_pack("{s:s}", "password", pw);
    explicit_bzero(pw, sizeof pw);
    char *path = is_add ? strdup("/api/v1/users") : ctl_api_path("/api/v1/users/%e", argv[0]);
    json_t *user = NULL;
    rc = path && body ? ctl_api_call(ctx, is_add ? "POST" : "PATCH", path, body, &user, NULL)
                      : CTL_EXIT_FAILED;
    free(path);
    json_decref(body);
    if (rc == 0 && ctx->is_json && user)
        ctl_print_json(ctx, user);
    else if (rc == 0)
        fprintf(ctx->out, "%s %s\n", user ? ctl_field(user, "aor", NULL, 0) : argv[0],
                is_add ? "added" : "password changed");
    json_decref(user);
    return rc;
}

int ctl_cmd_user_add(struct ctl_ctx *ctx, int argc, char **argv)
{
    return write_password(ctx, argc, argv, 1);
}

int ctl_cmd_user_passwd(struct ctl_ctx *ctx, int argc, char **argv)
{
    return write_password(ctx, argc, argv, 0);
}

int ctl_cmd_user_remove(struct ctl_ctx *ctx, int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-')
        return ctl_usage(ctx, NULL);
    char said[512];
    snprintf(said, sizeof said, "user %s removed", argv[0]);
    return ctl_api_delete(ctx, ctl_api_path("/api/v1/users/%e", argv[0]), said);
}
