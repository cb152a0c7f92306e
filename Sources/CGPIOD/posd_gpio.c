#include "posd_gpio.h"

#include <errno.h>
#include <gpiod.h>
#include <stdlib.h>

#ifdef GPIOD_LINE_BULK_MAX_LINES /* libgpiod v1 */

struct posd_gpio_request {
    struct gpiod_chip *chip;
    struct gpiod_line_bulk lines;
};

struct posd_gpio_request *posd_gpio_request_lines(const char *path, const unsigned int *offsets, const bool *outputs,
                                                  const int *initial, unsigned int count, const char *consumer) {
    if (count == 0 || count > GPIOD_LINE_BULK_MAX_LINES) {
        errno = EINVAL;
        return NULL;
    }
    struct posd_gpio_request *request = calloc(1, sizeof *request);
    if (!request) return NULL;
    request->chip = gpiod_chip_open(path);
    if (!request->chip) {
        int saved = errno;
        free(request);
        errno = saved;
        return NULL;
    }
    gpiod_line_bulk_init(&request->lines);
    for (unsigned int i = 0; i < count; i++) {
        struct gpiod_line *line = gpiod_chip_get_line(request->chip, offsets[i]);
        int result = !line ? -1
            : outputs[i] ? gpiod_line_request_output(line, consumer, initial[i])
                         : gpiod_line_request_input(line, consumer);
        if (result != 0) {
            posd_gpio_release(request);
            return NULL;
        }
        gpiod_line_bulk_add(&request->lines, line);
    }
    return request;
}

int posd_gpio_get_all(struct posd_gpio_request *request, int *values) {
    return gpiod_line_get_value_bulk(&request->lines, values);
}

int posd_gpio_set(struct posd_gpio_request *request, const unsigned int *indexes, const int *values, unsigned int count) {
    for (unsigned int i = 0; i < count; i++) {
        if (indexes[i] >= gpiod_line_bulk_num_lines(&request->lines)) {
            errno = EINVAL;
            return -1;
        }
        if (gpiod_line_set_value(gpiod_line_bulk_get_line(&request->lines, indexes[i]), values[i]) != 0) return -1;
    }
    return 0;
}

void posd_gpio_release(struct posd_gpio_request *request) {
    int saved = errno;
    gpiod_line_release_bulk(&request->lines);
    gpiod_chip_close(request->chip);
    free(request);
    errno = saved;
}

int posd_gpio_api(void) { return 1; }
const char *posd_gpio_library_version(void) { return gpiod_version_string(); }

#else /* libgpiod v2 */

struct posd_gpio_request {
    struct gpiod_line_request *lines;
    unsigned int count;
    unsigned int offsets[];
};

struct posd_gpio_request *posd_gpio_request_lines(const char *path, const unsigned int *offsets, const bool *outputs,
                                                  const int *initial, unsigned int count, const char *consumer) {
    if (count == 0) {
        errno = EINVAL;
        return NULL;
    }
    struct posd_gpio_request *request = calloc(1, sizeof *request + count * sizeof(unsigned int));
    struct gpiod_chip *chip = gpiod_chip_open(path);
    struct gpiod_line_settings *settings = gpiod_line_settings_new();
    struct gpiod_line_config *config = gpiod_line_config_new();
    struct gpiod_request_config *request_config = gpiod_request_config_new();
    bool ready = request && chip && settings && config && request_config;
    for (unsigned int i = 0; ready && i < count; i++) {
        request->offsets[i] = offsets[i];
        ready = gpiod_line_settings_set_direction(settings, outputs[i] ? GPIOD_LINE_DIRECTION_OUTPUT : GPIOD_LINE_DIRECTION_INPUT) == 0
            && (!outputs[i] || gpiod_line_settings_set_output_value(settings, initial[i] ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE) == 0)
            && gpiod_line_config_add_line_settings(config, &offsets[i], 1, settings) == 0;
    }
    if (ready) {
        gpiod_request_config_set_consumer(request_config, consumer);
        request->lines = gpiod_chip_request_lines(chip, request_config, config);
        request->count = count;
    }
    int saved = errno;
    if (request_config) gpiod_request_config_free(request_config);
    if (config) gpiod_line_config_free(config);
    if (settings) gpiod_line_settings_free(settings);
    if (chip) gpiod_chip_close(chip);  /* a line request outlives its chip */
    if (request && !request->lines) {
        free(request);
        request = NULL;
    }
    errno = saved;
    return request;
}

int posd_gpio_get_all(struct posd_gpio_request *request, int *values) {
    enum gpiod_line_value levels[request->count];
    if (gpiod_line_request_get_values(request->lines, levels) != 0) return -1;
    for (unsigned int i = 0; i < request->count; i++) values[i] = levels[i] == GPIOD_LINE_VALUE_ACTIVE;
    return 0;
}

int posd_gpio_set(struct posd_gpio_request *request, const unsigned int *indexes, const int *values, unsigned int count) {
    if (count == 0) return 0;
    unsigned int offsets[count];
    enum gpiod_line_value levels[count];
    for (unsigned int i = 0; i < count; i++) {
        if (indexes[i] >= request->count) {
            errno = EINVAL;
            return -1;
        }
        offsets[i] = request->offsets[indexes[i]];
        levels[i] = values[i] ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE;
    }
    return gpiod_line_request_set_values_subset(request->lines, count, offsets, levels);
}

void posd_gpio_release(struct posd_gpio_request *request) {
    int saved = errno;
    gpiod_line_request_release(request->lines);
    free(request);
    errno = saved;
}

int posd_gpio_api(void) { return 2; }
const char *posd_gpio_library_version(void) { return gpiod_api_version(); }

#endif
