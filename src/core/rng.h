/* rng.h: a small, fast, seedable pseudo-random number generator for reproducible computation.
 *
 * The model trainer (fold assignment, row subsampling) and the synthetic portfolio generator must
 * give bit-identical results for a given seed on every machine, so they cannot use rand() (its
 * algorithm and range differ between C libraries) or OpenSSL's generator (not seedable). We use
 * xoshiro256** (Blackman and Vigna, 2018): 256 bits of state, period 2^256 - 1, passes BigCrush,
 * about 1 ns per 64-bit output, and the state is expanded from a 64-bit seed with splitmix64, as
 * its authors recommend (splitmix64 alone has only 64 bits of state, too little to split into
 * many independent streams). Streams for independent units of work (one member, one fold) are
 * derived with sg_rng_seed2(seed, stream), so results do not depend on the order of work or on
 * the number of threads. Not for cryptography: use sg_random_bytes (core/hash.h) for secrets.
 * The algorithm is written out here (20 lines): Debian ships no C library for it, and GSL's
 * generators would add a large dependency for one small function. */
#ifndef SG_CORE_RNG_H
#define SG_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

struct sg_rng {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
};

/* Advances a splitmix64 state and returns the next output (also a good 64-bit mixing function). */
uint64_t sg_splitmix64(uint64_t *state);

/* Seeds r from a 64-bit seed (state expanded with splitmix64). Never fails. */
void sg_rng_seed(struct sg_rng *r, uint64_t seed);

/* Seeds r for an independent stream `stream` of `seed` (e.g. one member of a generated
 * portfolio): mixes both through splitmix64 so neighbouring streams are uncorrelated. */
void sg_rng_seed2(struct sg_rng *r, uint64_t seed, uint64_t stream);

/* Returns the next 64 random bits. */
uint64_t sg_rng_next(struct sg_rng *r);

/* Returns a uniform double in [0, 1) with 53 random bits. */
double sg_rng_uniform(struct sg_rng *r);

/* Returns a uniform integer in [0, n) without modulo bias (Lemire's method); n must be > 0. */
uint64_t sg_rng_below(struct sg_rng *r, uint64_t n);

/* Returns 1 with probability p (p <= 0 never, p >= 1 always), else 0. */
int sg_rng_bernoulli(struct sg_rng *r, double p);

/* Returns a standard normal variate (Marsaglia's polar method; consumes a variable number of
 * uniforms but is deterministic for a given state). */
double sg_rng_normal(struct sg_rng *r);

/* Returns a Poisson variate with mean lambda >= 0 (inversion for lambda < 30, otherwise a
 * rounded normal approximation, which is adequate for simulated counts). */
unsigned sg_rng_poisson(struct sg_rng *r, double lambda);

/* Shuffles idx[0..n) in place (Fisher-Yates). */
void sg_rng_shuffle(struct sg_rng *r, uint32_t *idx, size_t n);

#endif
