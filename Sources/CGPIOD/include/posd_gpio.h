#ifndef POSD_GPIO_H
#define POSD_GPIO_H
/*
 * One thin request API over libgpiod v1 (Debian 12: 1.6, the chip/line
 * API) and v2 (Debian 13: 2.x, line requests with settings), chosen when
 * this file is compiled from the <gpiod.h> it finds: v1 defines
 * GPIOD_LINE_BULK_MAX_LINES, v2 does not. Errors: NULL or -1 with errno set.
 * Values are physical levels (0 low, 1 high); active-low is the caller's.
 */
#include <stdbool.h>

struct posd_gpio_request;

/* Requests `count` lines of the chip at `path`: line offsets[i] as an output
 * driven to initial[i] when outputs[i], else as an input. */
struct posd_gpio_request *posd_gpio_request_lines(const char *path, const unsigned int *offsets, const bool *outputs,
                                                  const int *initial, unsigned int count, const char *consumer);
/* Reads every requested line's level into values[0..count). */
int posd_gpio_get_all(struct posd_gpio_request *request, int *values);
/* Sets line index[i] (an index into the request) to values[i]. */
int posd_gpio_set(struct posd_gpio_request *request, const unsigned int *indexes, const int *values, unsigned int count);
void posd_gpio_release(struct posd_gpio_request *request);

/* The library's version string, and which API this file was built against (1 or 2). */
const char *posd_gpio_library_version(void);
int posd_gpio_api(void);
#endif
