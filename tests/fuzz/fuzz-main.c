/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "natter-fuzz"

#include "config.h"

#include <stdint.h>

#include "natter-fuzz.h"

/* The libFuzzer entry point of one target; meson names the body with
 * -DNATTER_FUZZ_ONE=natter_fuzz_<name>_one. */
int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  NATTER_FUZZ_ONE (data, size);
  return 0;
}
