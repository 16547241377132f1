/* SPDX-License-Identifier: GPL-2.0 */
/* tools/include's WARN_ON_ONCE() is in asm/bug.h, as it once was. */
#ifndef BOW_HOST_LINUX_BUG_H
#define BOW_HOST_LINUX_BUG_H
#include <asm/bug.h>
#endif
