/* shell.c - the interactive shell (see shell.h). Each line is split into words and run through
 * the same dispatcher as a one-shot command, so the shell can do exactly what the command line
 * can. Completion knows the command table: the first word, then a subcommand word, then a node
 * name for the commands whose argument is a node (asked from GET /api/v1/nodes at the moment of
 * the <Tab>, so a node added a second ago completes). Ctrl-C at the prompt clears the line;
 * during `watch heartbeats` it ends the watch and comes back to the prompt. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "options.h"
#include "shell.h"
#include "words.h"

#define SHELL_MAX_WORDS 64
#define SHELL_HISTORY_LINES 1000

static struct ctl_ctx *shell_ctx; /* readline's completion hooks take no user argument */

/* ---- completion ------------------------------------------------------------------------------ */

static char **candidates; /* what the generator walks; NULL-terminated, owned here */

static void candidates_free(void)
{
    for (size_t i = 0; candidates && candidates[i]; i++)
        free(candidates[i]);
    free(candidates);
    candidates = NULL;
}

/* Append S to the candidates unless it is there already. */
static void candidates_add(const char *s)
{
    size_t n = 0;
    for (; candidates && candidates[n]; n++)
        if (strcmp(candidates[n], s) == 0)
            return;
    char **c = realloc(candidates, (n + 2) * sizeof(*c));
    if (!c)
        return;
    c[n] = strdup(s);
    c[n + 1] = NULL;
    candidates = c;
}

static char *generate(const char *text, int state)
{
    static size_t next;
    if (state == 0)
        next = 0;
    size_t len = strlen(text);
    while (candidates && candidates[next]) {
        const char *c = candidates[next++];
        if (strncmp(c, text, len) == 0)
            return strdup(c);
    }
    return NULL;
}

static void add_node_names(void)
{
    char **names = ctl_node_names(shell_ctx);
    for (size_t i = 0; names && names[i]; i++) {
        candidates_add(names[i]);
        free(names[i]);
    }
    free(names);
}

/* The candidates for word number INDEX after the complete words WORDS[0..INDEX-1]. */
static void collect(char **words, int index)
{
    const struct ctl_command *c;
    if (index == 0) {
        for (c = ctl_command_table; c->word; c++)
            candidates_add(c->word);
        candidates_add("quit");
        return;
    }
    if (index == 1 && strcmp(words[0], "help") == 0) {
        for (c = ctl_command_table; c->word; c++)
            candidates_add(c->word);
        return;
    }
    for (c = ctl_command_table; c->word; c++) {
        if (strcmp(words[0], c->word) != 0)
            continue;
        if (index == 1 && c->sub)
            candidates_add(c->sub);
        else if (index == 1 && c->wants_node)
            add_node_names();
        else if (index == 2 && c->sub && strcmp(words[1], c->sub) == 0 && c->wants_node)
            add_node_names();
    }
}

static char **complete(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    char *before = strndup(rl_line_buffer, (size_t)start);
    char *words[SHELL_MAX_WORDS];
    int n = before ? ctl_shell_split(before, words, SHELL_MAX_WORDS) : -1;
    candidates_free();
    if (n >= 0)
        collect(words, n);
    free(before);
    return candidates ? rl_completion_matches(text, generate) : NULL;
}

/* ---- the loop -------------------------------------------------------------------------------- */

static void on_sigint_at_prompt(int sig)
{
    (void)sig;
    /* readline is not async-signal-safe; this is what its own documentation suggests for a
     * prompt that should survive Ctrl-C, and the loop does nothing else meanwhile */
    if (write(STDOUT_FILENO, "^C\n", 3) < 0) {
        /* nothing to do about it */
    }
    rl_on_new_line();
    rl_replace_line("", 0);
    rl_redisplay();
}

/* Run one line's words; "--json" anywhere in it applies to that line only, as on the command
 * line. */
static void run_line(struct ctl_ctx *ctx, int n, char **words)
{
    bool was_json = ctx->is_json;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(words[i], "--json") == 0)
            ctx->is_json = true;
        else
            words[k++] = words[i];
    }
    if (k > 0)
        ctl_dispatch(ctx, k, words);
    ctx->is_json = was_json;
}

static char *history_path(void)
{
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    size_t n = strlen(home) + sizeof("/.sipctl_history");
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/.sipctl_history", home);
    return p;
}

int ctl_shell_run(struct ctl_ctx *ctx)
{
    shell_ctx = ctx;
    ctx->is_interactive = true;
    rl_readline_name = "sipctl";
    rl_attempted_completion_function = complete;
    rl_catch_signals = 0;
    char *hist = history_path();
    if (hist) {
        int fd = open(hist, O_WRONLY | O_CREAT | O_APPEND, 0600); /* append_history needs it */
        if (fd >= 0)
            close(fd);
        read_history(hist);
    }
    struct sigaction sa = {.sa_handler = on_sigint_at_prompt, .sa_flags = SA_RESTART}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    if (isatty(STDIN_FILENO))
        printf("sipctl %s - 'help' lists the commands, Tab completes, 'quit' leaves\n",
               ctx->http.base_url);

    char *line;
    while ((line = readline("sipctl> ")) != NULL) {
        char *copy = strdup(line), *words[SHELL_MAX_WORDS];
        int n = copy ? ctl_shell_split(copy, words, SHELL_MAX_WORDS) : -1;
        if (n > 0) {
            add_history(line);
            if (hist) {
                append_history(1, hist);
                history_truncate_file(hist, SHELL_HISTORY_LINES);
            }
        }
        if (n < 0)
            fprintf(ctx->err, "sipctl: unterminated quote\n");
        else if (n > 0 && (strcmp(words[0], "quit") == 0 || strcmp(words[0], "exit") == 0))
            n = -2;
        else if (n > 0)
            run_line(ctx, n, words);
        fflush(ctx->out);
        free(copy);
        free(line);
        if (n == -2)
            break;
    }
    if (!line)
        putchar('\n');
    candidates_free();
    sigaction(SIGINT, &old, NULL);
    free(hist);
    return CTL_EXIT_OK;
}
