/* log.h - leveled one-line logging to stderr (or syslog when daemonized). */
#ifndef SIPD_LOG_H
#define SIPD_LOG_H

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern enum log_level log_current_level;

/* Parse "error", "warn", "info", "debug". Returns 0 and sets *out, or -1. */
int log_level_parse(const char *name, enum log_level *out);
void log_use_syslog(int enable);
void log_write(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_ERROR(...) log_write(LOG_LVL_ERROR, __VA_ARGS__)
#define LOG_WARN(...)  do { if (log_current_level >= LOG_LVL_WARN) log_write(LOG_LVL_WARN, __VA_ARGS__); } while (0)
#define LOG_INFO(...)  do { if (log_current_level >= LOG_LVL_INFO) log_write(LOG_LVL_INFO, __VA_ARGS__); } while (0)
#define LOG_DEBUG(...) do { if (log_current_level >= LOG_LVL_DEBUG) log_write(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
