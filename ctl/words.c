/* words.c - splitting a shell line into words (see words.h). The words are written back into
 * the line (quotes and escapes removed), so no allocation. */
#include "words.h"

int ctl_shell_split(char *line, char **words, int max)
{
    int n = 0;
    char *r = line, *w = line;
    for (;;) {
        while (*r == ' ' || *r == '\t' || *r == '\n')
            r++;
        if (!*r)
            return n;
        if (n == max)
            return -1;
        words[n++] = w;
        char quote = 0;
        for (; *r; r++) {
            if (quote) {
                if (*r == quote)
                    quote = 0;
                else
                    *w++ = *r;
            } else if (*r == '\'' || *r == '"') {
                quote = *r;
            } else if (*r == '\\' && r[1]) {
                *w++ = *++r;
            } else if (*r == ' ' || *r == '\t' || *r == '\n') {
                break;
            } else {
                *w++ = *r;
            }
        }
        if (quote)
            return -1;
        if (*r)
            r++;
        *w++ = '\0';
    }
}
