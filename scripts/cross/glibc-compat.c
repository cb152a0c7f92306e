/* Symbols the static Swift runtime of Debian's swiftlang 6.2.3 (built
 * against glibc 2.41+) takes from glibc, which Debian 12's glibc 2.36 lacks.
 * Linked into aarch64 binaries for a Debian 12 device image only. The C23
 * strtol family differs from the classic one only in accepting "0b" binary
 * prefixes, which nothing in posd relies on. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long __isoc23_strtol(const char *s, char **end, int base) { return strtol(s, end, base); }
long long __isoc23_strtoll(const char *s, char **end, int base) { return strtoll(s, end, base); }
unsigned long __isoc23_strtoul(const char *s, char **end, int base) { return strtoul(s, end, base); }

int __isoc23_sscanf(const char *s, const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    int converted = vsscanf(s, format, arguments);
    va_end(arguments);
    return converted;
}

/* BSD strlcpy/strlcat (glibc 2.38+): copy at most size-1 bytes, always
 * terminate, return the length of the string they tried to make. */
size_t strlcpy(char *destination, const char *source, size_t size) {
    size_t length = strlen(source);
    if (size > 0) {
        size_t copied = length < size - 1 ? length : size - 1;
        memcpy(destination, source, copied);
        destination[copied] = '\0';
    }
    return length;
}

size_t strlcat(char *destination, const char *source, size_t size) {
    size_t existing = strnlen(destination, size);
    if (existing == size) return size + strlen(source);
    return existing + strlcpy(destination + existing, source, size - existing);
}
