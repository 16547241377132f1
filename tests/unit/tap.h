/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The unit tests' verdict: one "ok - " or "not ok - " line a check, and
 * the count of those that failed, for main() to return.
 */
#ifndef TESTS_UNIT_TAP_H
#define TESTS_UNIT_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int failures;

static void verdict(bool good, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void verdict(bool good, const char *fmt, ...)
{
	va_list ap;

	printf("%sok - ", good ? "" : "not ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	failures += !good;
}

#endif /* TESTS_UNIT_TAP_H */
