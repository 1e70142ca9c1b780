/* words.h - splitting a shell line into words. Pure; the unit tests use it. */
#ifndef SIPCTL_WORDS_H
#define SIPCTL_WORDS_H

/* Split LINE into words (whitespace separates; '...' and "..." quote, a backslash escapes one
 * character), written into LINE itself; up to MAX pointers in WORDS. Returns the number of
 * words, or -1 for an unterminated quote or more than MAX words. */
int ctl_shell_split(char *line, char **words, int max);

#endif
