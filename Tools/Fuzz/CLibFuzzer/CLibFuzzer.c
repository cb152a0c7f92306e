// Declarations only: libFuzzer itself comes from the toolchain's runtime.
#include "CLibFuzzer.h"
