#ifndef CGPIOD_SHIM_H
#define CGPIOD_SHIM_H
/* libgpiod v1 (Debian 12 ships 1.6): the chip/line API. */
#include <gpiod.h>
#endif
