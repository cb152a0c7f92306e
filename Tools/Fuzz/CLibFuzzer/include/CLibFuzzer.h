#ifndef POSD_CLIBFUZZER_H
#define POSD_CLIBFUZZER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry for programs with their own main (compiler-rt
/// FuzzerInterface.h). Only referenced, and so only linked, in a build with
/// `-sanitize=fuzzer` and `-DPOSD_LIBFUZZER` (scripts/fuzz.sh).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
