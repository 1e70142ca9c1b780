/* main.c - sipctl, the operator's command line for a running sipd over its REST API
 * (docs/api.md): global options and where they come from (options.c), then one command
 * (commands.c) or, with no command, the interactive shell (shell.c).
 * Exit status: 0 success, 1 the API refused or failed the operation, 2 usage error, 3 the
 * server cannot be reached. */
#include <curl/curl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "options.h"
#include "shell.h"

static void print_usage(FILE *out)
{
    fputs("usage: sipctl [--url URL] [--token T] [--cacert FILE] [--insecure] [--json] [COMMAND [ARG...]]\n"
          "With no COMMAND, an interactive shell. Environment: SIPCTL_URL, SIPCTL_TOKEN,\n"
          "SIPCTL_CONFIG. Exit: 0 ok, 1 refused or failed, 2 usage, 3 unreachable.\n"
          "Commands:\n",
          out);
    ctl_print_help(out, NULL);
}

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    char homebuf[4096], err[512] = "";
    struct ctl_sources src;
    struct ctl_options opt;
    bool wants_help;
    ctl_sources_from_env(&src, homebuf, sizeof(homebuf));
    if (ctl_options_parse(&opt, argc, argv, &src, &wants_help, err, sizeof(err)) != 0) {
        fprintf(stderr, "sipctl: %s\n", err);
        fputs("usage: sipctl [--url URL] [--token T] [--cacert FILE] [--insecure] [--json] [COMMAND [ARG...]]"
              " ('sipctl help' lists the commands)\n", stderr);
        return CTL_EXIT_USAGE;
    }
    if (wants_help) {
        print_usage(stdout);
        ctl_options_free(&opt);
        return CTL_EXIT_OK;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "sipctl: libcurl failed to initialise\n");
        ctl_options_free(&opt);
        return CTL_EXIT_FAILED;
    }
    struct ctl_ctx ctx = {
        .http = {.base_url = opt.url, .token = opt.token, .cacert = opt.cacert,
                 .is_insecure = opt.is_insecure},
        .is_json = opt.is_json,
        .out = stdout,
        .err = stderr,
    };
    int rc = opt.cmd_argc == 0 ? ctl_shell_run(&ctx)
                               : ctl_dispatch(&ctx, opt.cmd_argc, opt.cmd_argv);
    curl_global_cleanup();
    ctl_options_free(&opt);
    return rc;
}
