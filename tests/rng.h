/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xorshift64*, for the host tests: fast, and reproducible from the seed a
 * test prints.  Each test program has one stream.
 */
#ifndef BOW_TEST_RNG_H
#define BOW_TEST_RNG_H

#include <stdint.h>

static uint64_t rng_state = 1;

/* Start the stream from @seed (any value; 0 is mixed up too). */
static inline void rng_seed(uint64_t seed)
{
	rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
}

static inline uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

#endif /* BOW_TEST_RNG_H */
