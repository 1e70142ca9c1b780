/* shell.h - sipctl with no command: an interactive shell (GNU readline) with history in
 * ~/.sipctl_history, tab completion of command words and node names, and `help`. */
#ifndef SIPCTL_SHELL_H
#define SIPCTL_SHELL_H

#include "commands.h"

/* Read and run commands until `quit`, `exit` or end of input. Returns CTL_EXIT_OK. */
int ctl_shell_run(struct ctl_ctx *ctx);

#endif
